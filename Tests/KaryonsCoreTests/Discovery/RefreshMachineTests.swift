import Testing
@testable import KaryonsCore

/// A `RefreshMachine` with its table, RNG and a log of what it asked for, driven by hand.
struct RefreshRig {
    var machine: RefreshMachine
    var table = RoutingTable(localID: Fixture.localID)
    var rng = SplitMix64(seed: 11)
    var now = Instant.zero
    /// Everything the machine asked for, with the time.
    var log: [(at: Instant, action: RefreshAction)] = []

    init(_ change: (inout NodeConfiguration.Discovery) -> Void = { _ in }) {
        var discovery = NodeConfiguration.Discovery()
        change(&discovery)
        machine = RefreshMachine(settings: RefreshMachine.Settings(discovery))
        machine.start(now: .zero)
    }

    /// Runs every deadline up to `instant`.
    mutating func advance(to instant: Instant) {
        while let deadline = machine.deadline, deadline <= instant {
            now = max(now, deadline)
            var actions: [RefreshAction] = []
            machine.timeout(now: now, table: &table, rng: &rng, actions: &actions)
            log += actions.map { (now, $0) }
        }
        now = instant
    }

    mutating func receive(_ datagram: RefreshDatagram, from source: Endpoint) {
        var actions: [RefreshAction] = []
        machine.received(datagram, from: source, now: now, table: &table, rng: &rng, actions: &actions)
        log += actions.map { (now, $0) }
    }

    /// Pings sent (nonce, destination, time), in order.
    var pings: [(nonce: Nonce, to: Endpoint, at: Instant)] {
        log.compactMap { entry in
            if case .send(.ping(let nonce), let to) = entry.action { return (nonce, to, entry.at) } else { return nil }
        }
    }

    var events: [NodeEvent] {
        log.compactMap { if case .event(let event) = $0.action { return event } else { return nil } }
    }

    var drops: [String] {
        log.compactMap { if case .drop(_, let reason) = $0.action { return reason } else { return nil } }
    }

    /// The last ping's nonce to `record`.
    func nonce(of record: PeerRecord) -> Nonce? { pings.last { $0.to == Fixture.refreshEndpoint(record) }?.nonce }

    /// Answers the last ping to `record` from its address.
    mutating func answer(_ record: PeerRecord) {
        guard let nonce = nonce(of: record) else { preconditionFailure("\(record) was not pinged") }
        receive(.pong(nonce), from: Fixture.refreshEndpoint(record))
    }
}

/// `RefreshMachine` traces: rounds, retries, eviction, verification pings, and the responder.
@Suite struct RefreshMachineTests {
    let a = Fixture.record(1)
    let b = Fixture.record(2)
    let c = Fixture.record(3)

    @Test func roundPingsRetriesWithBackoffAndMarksFailures() {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .verified, now: ms(0))
        _ = rig.table.add(b, status: .verified, now: ms(0))
        #expect(rig.machine.deadline == sec(1800))  // The first round one interval after start.
        rig.advance(to: sec(1800))
        #expect(rig.events == [.refreshStarted(candidates: 2)])
        #expect(rig.pings.map(\.to) == [a, b].map(Fixture.refreshEndpoint))
        rig.advance(to: sec(1800.2))
        rig.answer(a)
        #expect(rig.table.entry(for: a.id)?.lastSeen == sec(1800.2))

        // b is silent: 1 s timeout, 100 ms backoff, ping again (same nonce); 1 s, 200 ms, again; 1 s.
        rig.advance(to: sec(1805))
        let toB = rig.pings.filter { $0.to == Fixture.refreshEndpoint(b) }
        #expect(toB.map(\.at) == [sec(1800), sec(1801.1), sec(1802.3)])
        #expect(Set(toB.map(\.nonce)).count == 1)
        #expect(rig.table.entry(for: b.id)?.status == .failed && rig.table.entry(for: b.id)?.failureCount == 1)
        #expect(rig.events.last == .refreshFinished(verified: 1, failed: 1, evicted: 0))
        #expect(rig.log.last?.at == sec(1803.3))
        #expect(rig.machine.deadline == sec(3600))
    }

    @Test func aLateAnswerToAnEarlierAttemptStillCounts() {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .verified, now: ms(0))
        rig.advance(to: sec(1801.5))  // first attempt timed out; backing off or pinged again
        rig.answer(a)
        #expect(rig.table.entry(for: a.id)?.status == .verified)
        #expect(rig.events.last == .refreshFinished(verified: 1, failed: 0, evicted: 0))
    }

    /// Scenario 35: an entry that fails three rounds is evicted (`.entryEvicted`), and the round
    /// goes on for the others.
    @Test func threeFailedRoundsEvictWithoutAbortingTheRound() {
        var rig = RefreshRig()
        for record in [a, b, c] { _ = rig.table.add(record, status: .verified, now: ms(0)) }
        for round in 1...3 {
            let start = sec(1800 * Double(round))
            rig.advance(to: start)
            rig.answer(b)
            rig.answer(c)
            rig.advance(to: start + .seconds(10))
            if round < 3 { #expect(rig.table.entry(for: a.id)?.failureCount == round) }
        }
        #expect(!rig.table.contains(a.id))
        #expect(rig.table.entry(for: b.id)?.status == .verified && rig.table.entry(for: c.id)?.status == .verified)
        #expect(rig.events.suffix(2) == [.entryEvicted(a.id), .refreshFinished(verified: 2, failed: 0, evicted: 1)])
    }

    @Test func connectedEntriesAreNotPinged() {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .connected, now: ms(0))
        _ = rig.table.add(b, status: .verified, now: ms(0))
        rig.advance(to: sec(1800))
        #expect(rig.pings.map(\.to) == [Fixture.refreshEndpoint(b)])
    }

    @Test func roundsKeepAtMostSixteenProbesInFlight() {
        var rig = RefreshRig()
        var records: [PeerRecord] = []
        for bucket in 0..<5 {
            for n in 0..<8 {
                let id = key(differingAt: bucket, from: Fixture.localID, tail: UInt8(n + 1))
                let address = Fixture.publicAddress(bucket * 8 + n)
                let record = PeerRecord(id: id, address: address, port: 1, discoveryPort: 2)
                _ = rig.table.add(record, status: .verified, now: ms(0))
                records.append(record)
            }
        }
        rig.advance(to: sec(1800))
        #expect(rig.events == [.refreshStarted(candidates: 40)])
        #expect(rig.pings.count == RefreshMachine.roundProbesInFlightMax)
        #expect(rig.machine.probeCount(.round) == 16)
        let first = rig.pings
        for ping in first.prefix(3) { rig.receive(.pong(ping.nonce), from: ping.to) }
        #expect(rig.pings.count == 19 && rig.machine.probeCount(.round) == 16)
        rig.advance(to: sec(1900))
        #expect(Set(rig.pings.map(\.to)).count == 40)
        #expect(rig.events.last == .refreshFinished(verified: 3, failed: 37, evicted: 0))
    }

    /// New entries are pinged at once, then one per 1 / `verifyPingsPerSecond`.
    @Test func newEntriesArePingedPromptlyAtABoundedRate() {
        var rig = RefreshRig()
        let records = (1...4).map { Fixture.record($0) }
        for record in records {
            _ = rig.table.add(record, status: .unverified, now: ms(0))
            rig.machine.learned(record.id)
        }
        rig.machine.learned(records[0].id)  // Queued once only.
        _ = rig.table.remove(records[2].id)  // Gone before its turn: skipped.
        #expect(rig.machine.deadline == .zero)
        rig.advance(to: sec(1))
        #expect(rig.pings.map(\.to) == [records[0], records[1], records[3]].map(Fixture.refreshEndpoint))
        #expect(rig.pings.map(\.at) == [ms(0), ms(100), ms(200)])
        rig.answer(records[1])
        #expect(rig.table.entry(for: records[1].id)?.status == .verified)
        #expect(rig.events == [.entryVerified(records[1].id)])
    }

    @Test func verificationKeepsAtMostSixteenProbesInFlight() {
        var rig = RefreshRig { $0.verifyPingsPerSecond = 1000 }
        var records: [PeerRecord] = []
        for bucket in 0..<5 {
            for n in 0..<8 {
                let id = key(differingAt: bucket, from: Fixture.localID, tail: UInt8(n + 1))
                let record = PeerRecord(id: id, address: Fixture.publicAddress(bucket * 8 + n), port: 1, discoveryPort: 2)
                _ = rig.table.add(record, status: .unverified, now: ms(0))
                rig.machine.learned(id)
                records.append(record)
            }
        }
        rig.advance(to: ms(500))
        #expect(rig.pings.count == RefreshMachine.verificationProbesInFlightMax && rig.machine.verificationBacklog == 24)
        for ping in rig.pings.prefix(4) { rig.receive(.pong(ping.nonce), from: ping.to) }
        rig.advance(to: ms(520))
        #expect(rig.machine.probeCount(.verification) == 16 && rig.machine.verificationBacklog == 20)
        rig.advance(to: sec(20))
        #expect(rig.machine.verificationBacklog == 0 && rig.machine.probes.isEmpty)
        #expect(rig.table.count(of: .failed) == 36 && rig.table.count(of: .verified) == 4)
    }

    @Test func theVerificationQueueIsBounded() {
        var rig = RefreshRig()
        for n in 0..<(RefreshMachine.verificationQueueMax + 50) { rig.machine.learned(PeerID(1, 2, 3, UInt64(n))) }
        #expect(rig.machine.verificationBacklog == RefreshMachine.verificationQueueMax)
    }

    @Test func verificationRateIsConfigurable() {
        var rig = RefreshRig { $0.verifyPingsPerSecond = 2 }
        for n in 1...3 {
            _ = rig.table.add(Fixture.record(n), status: .unverified, now: ms(0))
            rig.machine.learned(Fixture.peerID(n))
        }
        rig.advance(to: sec(1.2))
        // One new entry every 500 ms; the first one's retry (after 1 s + 100 ms) is not paced.
        #expect(rig.pings.map(\.at) == [ms(0), ms(500), ms(1000), ms(1100)])
        #expect(rig.pings.map(\.to) == [1, 2, 3, 1].map { Fixture.refreshEndpoint(Fixture.record($0)) })
    }

    /// Scenario 24: a pong with the wrong nonce, an unsolicited one, or one from another IP is
    /// ignored; the probe keeps waiting for the real answer.
    @Test func strayPongsChangeNothing() throws {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .unverified, now: ms(0))
        rig.machine.learned(a.id)
        rig.advance(to: ms(10))
        let nonce = try #require(rig.nonce(of: a))
        rig.receive(.pong(Nonce(9, 9, 9, 9)), from: Fixture.refreshEndpoint(a))
        rig.receive(.pong(nonce), from: .udp(Fixture.publicAddress(66), a.discoveryPort))
        rig.receive(.pong(Nonce(1, 1, 1, 1)), from: Fixture.refreshEndpoint(b))
        #expect(rig.drops == ["unsolicited pong", "pong from another address than pinged", "unsolicited pong"])
        #expect(rig.table.entry(for: a.id)?.status == .unverified)
        #expect(rig.machine.probeCount(.verification) == 1)
        rig.receive(.pong(nonce), from: .udp(a.address, 9999))  // The pinged IP, any port.
        #expect(rig.table.entry(for: a.id)?.status == .verified)
    }

    /// Scenario 26: a replayed pong finds no probe; the entry is changed once.
    @Test func aReplayedPongChangesStateOnce() throws {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .unverified, now: ms(0))
        rig.machine.learned(a.id)
        rig.advance(to: ms(10))
        rig.answer(a)
        let seen = rig.table.entry(for: a.id)?.lastSeen
        rig.advance(to: ms(500))
        rig.answer(a)
        #expect(rig.table.entry(for: a.id)?.lastSeen == seen && seen == ms(10))
        #expect(rig.drops == ["unsolicited pong"])
        #expect(rig.events == [.entryVerified(a.id)])
    }

    @Test func pingsAreAnsweredWithTheSameNonceAndSize() {
        var rig = RefreshRig()
        let source = Endpoint.udp(Fixture.publicAddress(5), 40000)
        let nonce = Nonce(7, 7, 7, 7)
        rig.receive(.ping(nonce), from: source)
        #expect(rig.log.map(\.action) == [.send(.pong(nonce), to: source)])
        var request = ByteWriter(), reply = ByteWriter()
        RefreshDatagram.ping(nonce).encode(into: &request)
        RefreshDatagram.pong(nonce).encode(into: &reply)
        #expect(reply.count == request.count)  // Scenario 23: no amplification.
        #expect(rig.table.count == 0)  // Answering changes no state (scenario 26 for pings).
    }

    /// Scenario 22: a flood from one IP gets at most burst + rate × time answers; others are unaffected.
    @Test func pingFloodIsRateLimitedPerSourceIP() {
        var rig = RefreshRig()
        let flooder = Fixture.publicAddress(8)
        var count = 0
        for step in 0..<10_000 {  // 10,000 pings over 10 s, from many ports of one IP
            rig.now = Instant(nanoseconds: UInt64(step) * 1_000_000)
            rig.receive(.ping(Nonce(UInt64(step), 0, 0, 0)), from: .udp(flooder, UInt16(1000 + step % 50)))
            count += 1
        }
        let answered = rig.log.filter { if case .send = $0.action { return true } else { return false } }.count
        #expect(count == 10_000)
        #expect(answered <= 5 + 5 && answered >= 9)  // 5 burst + 0.5/s × 10 s
        #expect(rig.drops.count == 10_000 - answered && rig.drops.allSatisfy { $0 == "ping rate limit" })
        rig.receive(.ping(Nonce(1, 2, 3, 4)), from: .udp(Fixture.publicAddress(9), 1))
        #expect(rig.log.last?.action == .send(.pong(Nonce(1, 2, 3, 4)), to: .udp(Fixture.publicAddress(9), 1)))
    }

    @Test func trackedSourcesAreBounded() {
        var rig = RefreshRig { $0.refreshRateSourcesMax = 4 }
        for n in 1...5 { rig.receive(.ping(Nonce(UInt64(n), 0, 0, 0)), from: .udp(Fixture.publicAddress(n), 1)) }
        #expect(rig.drops == ["ping rate limit"])  // The fifth new source is refused: fail closed.
        rig.now = sec(2)  // Every bucket refilled: they carry no state and may be forgotten.
        rig.receive(.ping(Nonce(6, 0, 0, 0)), from: .udp(Fixture.publicAddress(6), 1))
        #expect(rig.log.last?.action == .send(.pong(Nonce(6, 0, 0, 0)), to: .udp(Fixture.publicAddress(6), 1)))
    }

    @Test func stopForgetsEverything() {
        var rig = RefreshRig()
        _ = rig.table.add(a, status: .unverified, now: ms(0))
        rig.machine.learned(a.id)
        rig.advance(to: ms(1))
        rig.machine.stop()
        #expect(rig.machine.deadline == nil && rig.machine.probes.isEmpty && rig.machine.verificationBacklog == 0)
    }
}
