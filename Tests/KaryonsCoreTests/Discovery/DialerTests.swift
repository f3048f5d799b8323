import Testing
@testable import KaryonsCore

/// `Dialer` traces: filling outbound slots, retries, connection life cycle, manual peers.
@Suite struct DialerTests {
    var table = RoutingTable(localID: Fixture.localID)
    var rng = SplitMix64(seed: 21)
    var dialer: Dialer

    init() {
        dialer = Dialer(settings: Dialer.Settings(NodeConfiguration()))
    }

    static func dataEndpoint(_ n: Int) -> Endpoint { .tcp(Fixture.publicAddress(n), 3000) }

    /// A plain connect failure: the entry's fault, retried.
    static let refused = DialFailure.connectFailed(.refused)

    mutating func add(_ range: ClosedRange<Int>, _ status: EntryStatus) {
        for n in range { _ = table.add(Fixture.record(n), status: status, now: ms(0)) }
    }

    mutating func fill(at now: Instant = ms(0)) -> (DialerFill, [DialerAction]) {
        var actions: [DialerAction] = []
        let result = dialer.fill(table: table, now: now, rng: &rng, actions: &actions)
        return (result, actions)
    }

    mutating func timeout(at now: Instant) -> [DialerAction] {
        var actions: [DialerAction] = []
        dialer.timeout(now: now, table: &table, actions: &actions)
        return actions
    }

    func outbound(_ n: Int) -> PeerInfo {
        PeerInfo(id: Fixture.peerID(n), direction: .outbound, endpoint: Self.dataEndpoint(n), protocols: [.ping])
    }

    func inbound(_ n: Int) -> PeerInfo {
        let remote = Endpoint.tcp(Fixture.publicAddress(n), 50000)
        return PeerInfo(id: Fixture.peerID(n), direction: .inbound, endpoint: remote, protocols: [.ping])
    }

    @Test mutating func fillsOutboundSlotsWithVerifiedEntriesOnly() {
        add(1...20, .verified)
        add(21...23, .unverified)
        add(24...25, .verified)
        table.markFailed(Fixture.peerID(24), now: ms(1))
        table.markFailed(Fixture.peerID(25), now: ms(1))
        let (result, actions) = fill()
        #expect(result == .full && actions.count == 12 && dialer.usedSlots == 12)
        var ids: Set<PeerID> = []
        for case .dial(let endpoint, let expected?) in actions {
            let n = Int(expected.word(3))
            #expect((1...20).contains(n) && endpoint == Self.dataEndpoint(n))
            ids.insert(expected)
        }
        #expect(ids.count == 12)
        #expect(fill() == (.full, []))
    }

    @Test mutating func starvedWhenEveryVerifiedEntryIsTaken() {
        add(1...5, .verified)
        add(6...9, .unverified)
        let (result, actions) = fill()
        #expect(result == .starved && actions.count == 5)
        #expect(fill() == (.starved, []))
    }

    /// A failed dial is attempted again 0.5 s and then 1 s later, holding its slot; after the third
    /// failure the entry is marked failed and the slot goes to another entry.
    @Test mutating func failedDialsAreRetriedThenTheEntryIsMarkedFailed() {
        var small = NodeConfiguration()
        small.slots.outbound = 1
        small.discovery.dialPacingMax = .zero  // Retries alone (pacing has its own tests).
        dialer = Dialer(settings: Dialer.Settings(small))
        add(1...1, .verified)
        #expect(fill() == (.full, [.dial(Self.dataEndpoint(1), expected: Fixture.peerID(1))]))
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), Self.refused, now: ms(100), table: &table, rng: &rng)
        #expect(dialer.deadline == ms(600) && dialer.usedSlots == 1)
        add(2...2, .verified)
        #expect(fill() == (.full, []))  // The retry keeps the slot.
        #expect(timeout(at: ms(599)) == [])
        #expect(timeout(at: ms(600)) == [.dial(Self.dataEndpoint(1), expected: Fixture.peerID(1))])
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), Self.refused, now: ms(700), table: &table, rng: &rng)
        #expect(dialer.deadline == ms(1700))
        // A duplicate report while backing off is stale.
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), Self.refused, now: ms(800), table: &table, rng: &rng)
        #expect(timeout(at: ms(1700)) == [.dial(Self.dataEndpoint(1), expected: Fixture.peerID(1))])
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), Self.refused, now: ms(1800), table: &table, rng: &rng)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .failed)
        #expect(table.entry(for: Fixture.peerID(1))?.failureCount == 1)
        #expect(dialer.usedSlots == 0 && dialer.deadline == nil)
        #expect(fill() == (.full, [.dial(Self.dataEndpoint(2), expected: Fixture.peerID(2))]))
    }

    @Test mutating func connectedEntriesAreMarkedAndVerifiedAgainWhenTheyLeave() {
        add(1...1, .verified)
        _ = fill()
        dialer.peerAdded(outbound(1), dialled: Self.dataEndpoint(1), now: ms(50), table: &table)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .connected)
        #expect(fill() == (.starved, []) && dialer.usedSlots == 1)
        dialer.peerRemoved(outbound(1), dialled: Self.dataEndpoint(1), now: ms(90), table: &table, rng: &rng)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .verified && dialer.usedSlots == 0)
        #expect(table.entry(for: Fixture.peerID(1))?.lastSeen == ms(90))
    }

    @Test mutating func inboundPeersInTheTableAreNotDialled() {
        add(1...2, .verified)
        dialer.peerAdded(inbound(1), dialled: nil, now: ms(10), table: &table)
        #expect(fill() == (.starved, [.dial(Self.dataEndpoint(2), expected: Fixture.peerID(2))]))
        #expect(table.entry(for: Fixture.peerID(1))?.status == .verified)  // Inbound claims change nothing.
        dialer.peerRemoved(inbound(1), dialled: nil, now: ms(20), table: &table, rng: &rng)
        #expect(fill() == (.starved, [.dial(Self.dataEndpoint(1), expected: Fixture.peerID(1))]))
    }

    /// The shortcut that spares a scan after every event: it only says "nothing" when nothing is.
    @Test mutating func candidatesAreCountedWithoutDrawingWhenAllAreTaken() {
        add(1...3, .verified)
        add(4...4, .unverified)
        #expect(dialer.mayHaveCandidate(in: table))
        for n in 1...2 { dialer.peerAdded(inbound(n), dialled: nil, now: ms(1), table: &table) }
        #expect(dialer.mayHaveCandidate(in: table))
        #expect(fill() == (.starved, [.dial(Self.dataEndpoint(3), expected: Fixture.peerID(3))]))
        #expect(!dialer.mayHaveCandidate(in: table))
        // An inbound peer we also dial counts once.
        dialer.peerAdded(inbound(3), dialled: nil, now: ms(2), table: &table)
        #expect(!dialer.mayHaveCandidate(in: table))
        dialer.peerRemoved(inbound(1), dialled: nil, now: ms(3), table: &table, rng: &rng)
        #expect(dialer.mayHaveCandidate(in: table))
    }

    @Test mutating func aDuplicateWithAnInboundPeerIsNoFailure() {
        add(1...1, .verified)
        _ = fill()
        dialer.peerAdded(inbound(1), dialled: nil, now: ms(10), table: &table)
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), .duplicatePeer, now: ms(20), table: &table, rng: &rng)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .verified)
        #expect(dialer.usedSlots == 0 && dialer.deadline == nil)
    }

    /// A duplicate (connected some other way) frees the slot without marking the entry or retrying;
    /// a dial that reaches ourselves is not retried and its endpoint never dialled again.
    @Test mutating func duplicatesAndSelfDialsAreNotTheEntrysFault() {
        add(1...2, .verified)
        #expect(fill().1.count == 2)
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), .duplicatePeer, now: ms(5),
                          table: &table, rng: &rng)
        dialer.dialFailed(Self.dataEndpoint(2), expected: Fixture.peerID(2), .selfConnection, now: ms(5),
                          table: &table, rng: &rng)
        #expect(dialer.usedSlots == 0 && dialer.deadline == nil)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .verified)
        #expect(table.entry(for: Fixture.peerID(2))?.status == .verified)
        #expect(dialer.selfEndpoints == [Self.dataEndpoint(2)])
        #expect(fill() == (.starved, [.dial(Self.dataEndpoint(1), expected: Fixture.peerID(1))]))
    }

    /// A node with another ID condemns the entry at once; our own lack of a slot is retried but never
    /// marks the entry failed.
    @Test mutating func anotherIDFailsTheEntryAtOnceAndNoSlotNever() {
        var single = NodeConfiguration()
        single.peers.connectRetries = 1
        dialer = Dialer(settings: Dialer.Settings(single))
        add(1...2, .verified)
        #expect(fill().1.count == 2)
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), .unexpectedPeer(Fixture.peerID(9)),
                          now: ms(5), table: &table, rng: &rng)
        dialer.dialFailed(Self.dataEndpoint(2), expected: Fixture.peerID(2), .noFreeSlot, now: ms(5),
                          table: &table, rng: &rng)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .failed)
        #expect(table.entry(for: Fixture.peerID(2))?.status == .verified)
        #expect(dialer.usedSlots == 0)
    }

    /// A manual peer that turns out to be ourselves is dropped rather than redialled forever.
    @Test mutating func aManualPeerThatIsOurselvesIsDropped() {
        let manual = Endpoint.tcp(.v4(0x0A00_0009), 4000)
        dialer.addManual(manual)
        #expect(fill() == (.starved, [.dial(manual, expected: nil)]))
        dialer.dialFailed(manual, expected: nil, .selfConnection, now: ms(1), table: &table, rng: &rng)
        #expect(dialer.manualPeers.isEmpty && dialer.deadline == nil && dialer.usedSlots == 0)
    }

    @Test mutating func staleReportsAreIgnored() {
        add(1...1, .verified)
        dialer.dialFailed(Self.dataEndpoint(1), expected: Fixture.peerID(1), Self.refused, now: ms(1), table: &table, rng: &rng)
        dialer.peerAdded(outbound(1), dialled: Self.dataEndpoint(1), now: ms(2), table: &table)
        dialer.peerRemoved(outbound(1), dialled: Self.dataEndpoint(1), now: ms(3), table: &table, rng: &rng)
        #expect(table.entry(for: Fixture.peerID(1))?.status == .verified && dialer.usedSlots == 0)
    }

    /// Manual peers go first and are redialled with a backoff doubling up to `redialBackoffMax`,
    /// reset once a connection lasted that long.
    @Test mutating func manualPeersAreDialledFirstAndRedialledForever() {
        add(1...20, .verified)
        let manual = Endpoint.tcp(.v4(0x0A00_0009), 4000)
        dialer.addManual(manual)
        dialer.addManual(manual)
        let (_, actions) = fill()
        #expect(actions.first == .dial(manual, expected: nil) && actions.count == 12)
        var now = ms(0)
        var delays: [Duration] = []
        for _ in 0..<9 {
            dialer.dialFailed(manual, expected: nil, Self.refused, now: now, table: &table, rng: &rng)
            guard let deadline = dialer.deadline else { break }
            delays.append(deadline.duration(since: now))
            #expect(dialer.usedSlots == 11)  // Waiting holds no slot.
            now = deadline
            #expect(timeout(at: now) == [])
            // The freed slot went to nobody (fill was not called): the manual peer takes it back.
            #expect(fill() == (.full, [.dial(manual, expected: nil)]))
        }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                           .seconds(32), .seconds(60), .seconds(60)])
        let peer = PeerInfo(id: Fixture.peerID(90), direction: .outbound, endpoint: manual, protocols: [.ping])
        dialer.peerAdded(peer, dialled: manual, now: now, table: &table)
        dialer.peerRemoved(peer, dialled: manual, now: now + .seconds(5), table: &table, rng: &rng)
        #expect(dialer.deadline == now + .seconds(65))  // A short connection: the backoff goes on.
        now = now + .seconds(65)
        _ = timeout(at: now)
        _ = fill()
        dialer.peerAdded(peer, dialled: manual, now: now, table: &table)
        dialer.peerRemoved(peer, dialled: manual, now: now + .seconds(60), table: &table, rng: &rng)
        #expect(dialer.deadline == now + .seconds(60) + .milliseconds(500))  // A lasting one resets it.
    }

    @Test mutating func slotsAreNeverExceeded() {
        var small = NodeConfiguration()
        small.slots.outbound = 3
        dialer = Dialer(settings: Dialer.Settings(small))
        add(1...10, .verified)
        for n in 1...5 { dialer.addManual(.tcp(.v4(0x0A00_0000 | UInt32(n)), 4000)) }
        let (result, actions) = fill()
        #expect(result == .full && actions.count == 3 && dialer.usedSlots == 3)
        #expect(actions.allSatisfy { if case .dial(_, nil) = $0 { return true } else { return false } })
    }

    /// Scenario 38: over 10⁵ draws, candidates are uniform over every verified entry (chi-square),
    /// although the buckets hold very different numbers of them, and stay uniform over the rest
    /// when some are excluded.
    @Test mutating func candidatesAreUniformOverVerifiedEntries() {
        var ids: [PeerID] = []
        for n in 1...20 {  // bucket 31: 20 entries
            _ = table.add(Fixture.record(n), status: .verified, now: ms(0))
            ids.append(Fixture.peerID(n))
        }
        for bucket in 1...10 {  // buckets 30...21: one entry each
            let id = key(differingAt: bucket, from: Fixture.localID, tail: 1)
            let address = Fixture.publicAddress(100 + bucket)
            let record = PeerRecord(id: id, address: address, port: 3000, discoveryPort: 3010)
            _ = table.add(record, status: .verified, now: ms(0))
            ids.append(id)
        }
        #expect(chiSquare(ids: ids, draws: 100_000) < 58.3)  // 29 degrees of freedom, p = 0.001

        // Exclude 10 entries of the big bucket by dialling them; the rest stay uniform.
        var small = NodeConfiguration()
        small.slots.outbound = 10
        dialer = Dialer(settings: Dialer.Settings(small))
        _ = fill()
        let excluded = Set(dialer.tableDials.map(\.id))
        #expect(excluded.count == 10)
        #expect(chiSquare(ids: ids.filter { !excluded.contains($0) }, draws: 100_000) < 45.3)  // 19 dof
    }

    /// The chi-square statistic of `draws` candidate picks against a uniform spread over `ids`.
    mutating func chiSquare(ids: [PeerID], draws: Int) -> Double {
        var counts: [PeerID: Int] = [:]
        for _ in 0..<draws {
            guard let record = dialer.pickCandidate(table: table, rng: &rng) else { return .infinity }
            counts[record.id, default: 0] += 1
        }
        guard Set(counts.keys) == Set(ids) else { return .infinity }
        let expected = Double(draws) / Double(ids.count)
        return ids.reduce(0) { $0 + pow2(Double(counts[$1, default: 0]) - expected) / expected }
    }

    private func pow2(_ value: Double) -> Double { value * value }
}
