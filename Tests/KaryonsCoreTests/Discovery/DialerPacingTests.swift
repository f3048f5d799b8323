import Testing
@testable import KaryonsCore

/// `Dialer` traces for the dial-storm fixes: remote refusals cool down instead of being retried,
/// new dials are paced after failures, spares are dialled when the table has nothing.
@Suite struct DialerPacingTests {
    var table = RoutingTable(localID: Fixture.localID)
    var rng = SplitMix64(seed: 7)
    var dialer = Dialer(settings: Dialer.Settings(NodeConfiguration()))

    static func endpoint(_ n: Int) -> Endpoint { .tcp(Fixture.publicAddress(n), 3000) }
    static let remoteFull = DialFailure.handshakeFailed(.noFreeSlot, byRemote: true)

    mutating func add(_ range: ClosedRange<Int>, _ status: EntryStatus = .verified) {
        for n in range { _ = table.add(Fixture.record(n), status: status, now: ms(0)) }
    }

    mutating func fill(at now: Instant) -> (DialerFill, [DialerAction]) {
        var actions: [DialerAction] = []
        let result = dialer.fill(table: table, now: now, rng: &rng, actions: &actions)
        return (result, actions)
    }

    mutating func timeout(at now: Instant) -> [DialerAction] {
        var actions: [DialerAction] = []
        dialer.timeout(now: now, table: &table, actions: &actions)
        return actions
    }

    mutating func fail(_ n: Int, _ failure: DialFailure, at now: Instant) {
        dialer.dialFailed(Self.endpoint(n), expected: Fixture.peerID(n), failure, now: now, table: &table, rng: &rng)
    }

    func dialled(_ actions: [DialerAction]) -> [Int] {
        actions.compactMap { action in
            guard case .dial(_, let expected?) = action else { return nil }
            return Int(expected.word(3))
        }
    }

    mutating func useSlots(_ count: Int) {
        var configuration = NodeConfiguration()
        configuration.slots.outbound = count
        dialer = Dialer(settings: Dialer.Settings(configuration))
    }

    /// Refused for lack of a slot, in a bucket with room: the slot is freed at once, the entry is
    /// neither retried nor marked failed, it cools down (`dialRefusedCoolDown` ± 50%), and new
    /// dials wait a gap.
    @Test mutating func aRemoteRefusalIsNotRetriedAndCoolsDown() throws {
        useSlots(1)
        add(1...3)
        let first = dialled(fill(at: ms(0)).1)
        #expect(first.count == 1)
        let refused = first[0]
        fail(refused, Self.remoteFull, at: ms(100))
        #expect(dialer.usedSlots == 0 && dialer.tableDials.isEmpty)
        #expect(table.entry(for: Fixture.peerID(refused))?.status == .verified)
        let until = try #require(dialer.coolDowns[Fixture.peerID(refused)])
        let coolDown = NodeConfiguration().discovery.dialRefusedCoolDown
        #expect(until >= ms(100) + Duration(nanoseconds: coolDown.nanoseconds / 2)
            && until < ms(100) + Duration(nanoseconds: coolDown.nanoseconds * 3 / 2))  // ± 50%.
        let gapEnd = try #require(dialer.nextDialAt)
        #expect(gapEnd >= ms(225) && gapEnd < ms(475))  // 250 ms ± 50%.
        #expect(dialer.deadline == gapEnd)
        // Waiting out the gap: the slot stays free, and it is not starvation.
        #expect(fill(at: ms(101)) == (.paced, []))
        #expect(timeout(at: gapEnd) == [])
        let next = dialled(fill(at: gapEnd).1)
        #expect(next.count == 1 && next[0] != refused)
        // The cool-down ends: the entry is a candidate again.
        #expect(dialer.isExcluded(Fixture.record(refused)))
        _ = timeout(at: until)
        #expect(!dialer.isExcluded(Fixture.record(refused)) && dialer.coolDowns.isEmpty)
    }

    /// Several entries cooling down: once the pacing gap is over, the dialer wakes at the end of the
    /// earliest cool-down, then of the next, and has no deadline once they have all ended.
    @Test mutating func theDeadlineFollowsTheEarliestCoolDown() throws {
        useSlots(1)
        add(1...6)
        var now = ms(0)
        var refused: [Int] = []
        for _ in 0..<4 {
            let dials = dialled(fill(at: now).1)
            try #require(dials.count == 1)
            refused.append(dials[0])
            now = now + .milliseconds(10)
            fail(dials[0], Self.remoteFull, at: now)
            now = try #require(dialer.nextDialAt)
            _ = timeout(at: now)
        }
        #expect(dialer.nextDialAt == nil)
        var ends = refused.compactMap { dialer.coolDowns[Fixture.peerID($0)] }.sorted()
        #expect(ends.count == 4)
        while let first = ends.first {
            #expect(dialer.deadline == first)
            _ = timeout(at: first)
            ends.removeFirst()
        }
        #expect(dialer.coolDowns.isEmpty)
        #expect(dialer.deadline == nil)
    }

    /// In a full bucket a refusal marks the entry failed (a newcomer may take its place) for
    /// `dialRefusalMarkDuration`: the dialer wakes when the mark ends and verifies the entry again
    /// (it answered), keeping when it was last seen, while the entry goes on cooling down, not
    /// dialled until its cool-down ends.
    @Test mutating func aRefusalInAFullBucketMarksFailedUntilTheMarkEnds() throws {
        useSlots(1)
        add(1...20)
        #expect(table.occupancy(ofBucket: 31) == 20)
        let refused = dialled(fill(at: ms(0)).1)[0]
        fail(refused, Self.remoteFull, at: ms(50))
        #expect(table.entry(for: Fixture.peerID(refused))?.status == .failed)
        let markEnd = ms(50) + NodeConfiguration().discovery.dialRefusalMarkDuration
        #expect(dialer.failedByRefusal.deadline(of: Fixture.peerID(refused)) == markEnd)
        let coolDownEnd = try #require(dialer.coolDowns[Fixture.peerID(refused)])
        #expect(coolDownEnd > markEnd, "the mark ends first (the cool-down is at least 90 s)")
        _ = timeout(at: try #require(dialer.nextDialAt))  // the pacing gap
        #expect(dialer.deadline == markEnd)
        _ = timeout(at: markEnd - .milliseconds(1))
        #expect(table.entry(for: Fixture.peerID(refused))?.status == .failed, "not before the mark ends")
        _ = timeout(at: markEnd)
        let entry = try #require(table.entry(for: Fixture.peerID(refused)))
        #expect(entry.status == .verified && entry.failureCount == 0 && entry.lastSeen == ms(0))
        #expect(dialer.failedByRefusal.isEmpty && dialer.deadline == coolDownEnd)
        #expect(dialer.isExcluded(Fixture.record(refused)), "still cooling down")
        _ = timeout(at: coolDownEnd)
        #expect(!dialer.isExcluded(Fixture.record(refused)))
    }

    /// A mark configured longer than the cool-down lasts as long as the cool-down: from then on the
    /// node may be dialled again, so it is not kept failed beyond it.
    @Test func theMarkNeverOutlastsTheCoolDown() {
        var configuration = NodeConfiguration()
        configuration.discovery.dialRefusalMarkDuration = .seconds(600)
        #expect(Dialer.Settings(configuration).refusalMarkDuration == configuration.discovery.dialRefusedCoolDown)
        configuration.discovery.dialRefusalMarkDuration = .seconds(5)
        #expect(Dialer.Settings(configuration).refusalMarkDuration == .seconds(5))
    }

    /// At most `coolDownsMax` refusal marks at once: 15 full buckets (300 entries, 270 of them
    /// markable) all refuse; the refusals beyond the bound cool their entries down but leave them
    /// verified.
    @Test mutating func refusalMarksAreBounded() throws {
        var configuration = NodeConfiguration()
        configuration.slots.outbound = 1
        configuration.discovery.dialPacingMax = .zero
        dialer = Dialer(settings: Dialer.Settings(configuration))
        let local = Fixture.localID
        var index = 0
        for bucket in 17...31 {
            for n in 0..<RoutingTable.bucketEntriesMax {
                // The top bit of the distance sets the bucket; the low bits tell entries apart.
                let bit = 255 - 8 * (31 - bucket)
                let word0 = bit >= 192 ? UInt64(1) << UInt64(bit - 192) : 0
                let word1 = bit < 192 ? UInt64(1) << UInt64(bit - 128) : 0
                let id = PeerID(local.word(0) ^ word0, local.word(1) ^ word1, local.word(2), local.word(3) ^ UInt64(n + 2) << 8)
                index += 1
                let record = PeerRecord(id: id, address: Fixture.publicAddress(index), port: 3000, discoveryPort: 3010)
                _ = table.add(record, status: .verified, now: ms(0))
            }
        }
        for bucket in 17...31 { try #require(table.occupancy(ofBucket: bucket) == 20, "bucket \(bucket)") }
        var now = ms(0)
        var refusals = 0
        while refusals < 400, case .dial(let endpoint, let expected?)? = fill(at: now).1.first {
            now = now + .milliseconds(1)
            dialer.dialFailed(endpoint, expected: expected, Self.remoteFull, now: now, table: &table, rng: &rng)
            refusals += 1
        }
        #expect(refusals > 270, "every entry was dialled and refused")
        #expect(dialer.failedByRefusal.count == Dialer.coolDownsMax)
        #expect(table.count(matching: .failed) == Dialer.coolDownsMax, "no mark beyond the bound")
    }

    /// A full bucket keeps `unfailedKeptPerBucket` entries that are not failed: the refusal that
    /// would go below that cools the entry down but leaves it verified (a late joiner in a
    /// saturated network must not end with a table of failed entries only: 1 of 100,000 did).
    @Test mutating func aFullBucketKeepsItsLastUnfailedEntries() throws {
        useSlots(1)
        add(1...20)
        for n in 1...17 { table.markFailed(Fixture.peerID(n), now: ms(0)) }
        #expect(table.failedCount(ofBucket: 31) == 17)
        var now = ms(0)
        var refused: [Int] = []
        for _ in 0..<2 {
            let dials = dialled(fill(at: now).1)
            #expect(dials.count == 1 && dials[0] > 17, "only the unfailed entries are dialled")
            refused.append(dials[0])
            now = now + .milliseconds(10)
            fail(dials[0], Self.remoteFull, at: now)
            now = try #require(dialer.nextDialAt)
            _ = timeout(at: now)
        }
        #expect(table.entry(for: Fixture.peerID(refused[0]))?.status == .failed, "three unfailed: one may go")
        #expect(table.entry(for: Fixture.peerID(refused[1]))?.status == .verified, "two unfailed: both stay")
        #expect(table.failedCount(ofBucket: 31) == 18 && table.count(matching: .shareable) == 2)
        #expect(dialer.isExcluded(Fixture.record(refused[1])), "it cools down all the same")
    }

    /// A refusal's mark ends without verifying an entry that failed otherwise meanwhile (a refresh
    /// probe): it stays failed.
    @Test mutating func anEntryThatFailedOtherwiseMeanwhileStaysFailed() throws {
        useSlots(1)
        add(1...20)
        let refused = dialled(fill(at: ms(0)).1)[0]
        fail(refused, Self.remoteFull, at: ms(50))
        table.markFailed(Fixture.peerID(refused), now: ms(60))
        let until = try #require(dialer.coolDowns[Fixture.peerID(refused)])
        _ = timeout(at: until)
        #expect(dialer.coolDowns.isEmpty && dialer.failedByRefusal.isEmpty)
        #expect(table.entry(for: Fixture.peerID(refused))?.status == .failed)
    }

    /// Each failure in a row doubles the gap (250 ms, 500 ms, 1 s, ... capped at 4 s, ±50%); while
    /// failures keep coming one new entry is dialled per gap even with several slots free; a dial
    /// that connects ends the pacing and the free slots fill at once.
    @Test mutating func theGapDoublesWithFailuresAndEndsWithAConnection() throws {
        useSlots(4)
        add(1...12)
        var now = ms(0)
        var pending = dialled(fill(at: now).1)
        #expect(pending.count == 4)
        var gaps: [Duration] = []
        for _ in 0..<7 {
            now = now + .milliseconds(10)
            if pending.isEmpty { pending = dialled(fill(at: now).1) }
            #expect(pending.count >= 1)
            fail(pending.removeFirst(), Self.remoteFull, at: now)
            let gapEnd = try #require(dialer.nextDialAt)
            gaps.append(gapEnd.duration(since: now))
            now = gapEnd
            _ = timeout(at: now)
        }
        let nominal: [Duration] = [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4),
                                   .seconds(4), .seconds(4)]
        for (gap, nominal) in zip(gaps, nominal) {
            #expect(gap.nanoseconds * 2 >= nominal.nanoseconds && gap.nanoseconds * 2 < nominal.nanoseconds * 3,
                    "\(gap) for \(nominal)")
        }
        #expect(dialer.consecutiveFailures == 7)
        // A dial that connects ends the pacing, and the free slots fill at once.
        let dials = dialled(fill(at: now).1)
        #expect(dials.count == 1)
        let info = PeerInfo(id: Fixture.peerID(dials[0]), direction: .outbound, endpoint: Self.endpoint(dials[0]),
                            protocols: [.ping])
        dialer.peerAdded(info, dialled: Self.endpoint(dials[0]), now: now, table: &table)
        #expect(dialer.consecutiveFailures == 0 && dialer.nextDialAt == nil)
        #expect(fill(at: now).1.count == 3)  // The three other slots were free: three dials at once.
    }

    /// While paced, one new entry per gap, however many slots are free.
    @Test mutating func oneNewDialPerGapWhilePaced() throws {
        useSlots(3)
        add(1...12)
        let first = dialled(fill(at: ms(0)).1)
        for n in first { fail(n, Self.remoteFull, at: ms(10)) }
        #expect(dialer.usedSlots == 0 && dialer.consecutiveFailures == 3)
        let gapEnd = try #require(dialer.nextDialAt)
        _ = timeout(at: gapEnd)
        #expect(dialled(fill(at: gapEnd).1).count == 1)
        #expect(fill(at: gapEnd) == (.paced, []))
        #expect(dialer.nextDialAt! > gapEnd)
    }

    /// `willRedial` (the `willRetry` of the `.connectFailed` event): true while a table dial backs
    /// off before its next attempt or a manual peer waits for its redial, false after the last attempt.
    @Test mutating func willRedialTellsWhetherTheDialerDialsAgain() throws {
        var configuration = NodeConfiguration()
        configuration.slots.outbound = 1
        configuration.peers.connectRetries = 2
        dialer = Dialer(settings: Dialer.Settings(configuration))
        add(1...1)
        _ = fill(at: ms(0))
        fail(1, .connectFailed(.refused), at: ms(10))
        #expect(dialer.willRedial(Self.endpoint(1), expected: Fixture.peerID(1)))
        #expect(timeout(at: try #require(dialer.tableDials.first?.retryAt)).count == 1)
        fail(1, .connectFailed(.refused), at: ms(2_000))
        #expect(!dialer.willRedial(Self.endpoint(1), expected: Fixture.peerID(1)))
        let manual = Endpoint.tcp(.v4(0x0A00_0009), 4000)
        dialer.addManual(manual)
        _ = fill(at: ms(2_001))
        dialer.dialFailed(manual, expected: nil, .connectFailed(.timedOut), now: ms(2_002), table: &table, rng: &rng)
        #expect(dialer.willRedial(manual, expected: nil))
    }

    /// Duplicates and self dials are nobody's fault: no pacing, no cool-down.
    @Test mutating func duplicatesAndSelfDialsDoNotPace() throws {
        useSlots(2)
        add(1...4)
        let first = dialled(fill(at: ms(0)).1)
        fail(first[0], .duplicatePeer, at: ms(5))
        fail(first[1], .selfConnection, at: ms(5))
        #expect(dialer.consecutiveFailures == 0 && dialer.nextDialAt == nil && dialer.coolDowns.isEmpty)
        #expect(dialled(fill(at: ms(6)).1).count == 2)
    }

    /// Records the table had no room for are dialled (newest first) only once the table offers
    /// nothing; excluded ones are dropped; at most `sparesMax` are kept.
    @Test mutating func sparesAreDialledOnlyWhenTheTableHasNothing() throws {
        useSlots(3)
        add(1...1)
        for n in 40..<(40 + Dialer.sparesMax + 4) { dialer.offerSpare(Fixture.record(n)) }
        dialer.offerSpare(Fixture.record(40 + Dialer.sparesMax + 3))  // A repeat changes nothing.
        #expect(dialer.spares.count == Dialer.sparesMax && dialer.spares.first?.id == Fixture.peerID(44))
        let dials = dialled(fill(at: ms(0)).1)
        #expect(dials == [1, 40 + Dialer.sparesMax + 3, 40 + Dialer.sparesMax + 2])
        #expect(dialer.spares.count == Dialer.sparesMax - 2)
        #expect(dialer.mayHaveCandidate(in: table))
    }

    /// Spares that are excluded (already dialled) are dropped when drawn, and then the dialer is starved.
    @Test mutating func excludedSparesAreDroppedThenStarved() throws {
        useSlots(2)
        add(1...1)
        dialer.offerSpare(Fixture.record(1))
        #expect(fill(at: ms(0)) == (.starved, [.dial(Self.endpoint(1), expected: Fixture.peerID(1))]))
        #expect(dialer.spares.isEmpty && !dialer.mayHaveCandidate(in: table))
    }
}
