import Testing

@testable import KaryonsCore

/// The keep-alive protocol: 20 s interval, 2 s timeout, 3 consecutive misses (RELIABILITY.md 41).
@Suite struct PingMachineTests {
    typealias F = PeerFixtures
    let settings = PingMachine.Settings(interval: .seconds(20), timeout: .seconds(2), missesMax: 3)

    /// Fires the machine's timer at `now` and returns the nonce it pinged with (nil if it sent none).
    func firePing(_ machine: inout PingMachine, at now: Instant, _ rng: inout SplitMix64) -> Nonce? {
        guard case .send(.ping(let nonce)) = machine.timeout(now: now, rng: &rng) else { return nil }
        return nonce
    }

    @Test func firstPingGoesOutOneIntervalAfterEstablishment() {
        var rng = SplitMix64(seed: 1)
        var machine = PingMachine(settings: settings, direction: .outbound, now: F.t(5))
        #expect(machine.nextDeadline == F.t(25))
        #expect(machine.timeout(now: F.t(24.999), rng: &rng) == .none, "a spurious early call sends nothing")
        let nonce = firePing(&machine, at: F.t(25), &rng)
        #expect(nonce != nil)
        #expect(machine.isAwaitingPong)
        #expect(machine.nextDeadline == F.t(27), "the pong deadline comes first")
    }

    @Test func correctPongClearsTheDeadlineAndTheNextPingFollowsTheInterval() {
        var rng = SplitMix64(seed: 2)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        let nonce = firePing(&machine, at: F.t(20), &rng)!
        #expect(machine.received(.pong(nonce), now: F.t(20.5)) == .none)
        #expect(!machine.isAwaitingPong)
        #expect(machine.misses == 0)
        #expect(machine.nextDeadline == F.t(40))
        #expect(firePing(&machine, at: F.t(40), &rng) != nil)
    }

    @Test func eachPingCarriesAFreshNonce() {
        var rng = SplitMix64(seed: 3)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        var nonces: Set<Nonce> = []
        for round in 1...10 {
            let now = F.t(Double(20 * round))
            let nonce = firePing(&machine, at: now, &rng)!
            nonces.insert(nonce)
            _ = machine.received(.pong(nonce), now: now + .milliseconds(10))
        }
        #expect(nonces.count == 10)
    }

    @Test func threeConsecutiveMissesMakeThePeerUnresponsive() {
        var rng = SplitMix64(seed: 4)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        #expect(firePing(&machine, at: F.t(20), &rng) != nil)
        #expect(machine.timeout(now: F.t(22), rng: &rng) == .none)
        #expect(machine.misses == 1)
        #expect(firePing(&machine, at: F.t(40), &rng) != nil)
        #expect(machine.timeout(now: F.t(42), rng: &rng) == .none)
        #expect(machine.misses == 2)
        #expect(firePing(&machine, at: F.t(60), &rng) != nil)
        #expect(machine.timeout(now: F.t(62), rng: &rng) == .unresponsive)
    }

    @Test func correctPongResetsTheMissCount() {
        var rng = SplitMix64(seed: 5)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        _ = firePing(&machine, at: F.t(20), &rng)
        _ = machine.timeout(now: F.t(22), rng: &rng)
        _ = firePing(&machine, at: F.t(40), &rng)
        _ = machine.timeout(now: F.t(42), rng: &rng)
        #expect(machine.misses == 2)
        let nonce = firePing(&machine, at: F.t(60), &rng)!
        _ = machine.received(.pong(nonce), now: F.t(61))
        #expect(machine.misses == 0)
        // Two more misses are not enough any more.
        _ = firePing(&machine, at: F.t(80), &rng)
        #expect(machine.timeout(now: F.t(82), rng: &rng) == .none)
        _ = firePing(&machine, at: F.t(100), &rng)
        #expect(machine.timeout(now: F.t(102), rng: &rng) == .none)
        #expect(machine.misses == 2)
    }

    @Test func stalePongsChangeNothing() {
        var rng = SplitMix64(seed: 6)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        let first = firePing(&machine, at: F.t(20), &rng)!
        _ = machine.timeout(now: F.t(22), rng: &rng)
        #expect(machine.misses == 1)
        // The first ping's pong arrives late, during the next round: an old nonce.
        let second = firePing(&machine, at: F.t(40), &rng)!
        #expect(machine.received(.pong(first), now: F.t(40.1)) == .none)
        #expect(machine.isAwaitingPong, "an old nonce does not answer the current ping")
        #expect(machine.misses == 1)
        // A pong with an unknown nonce.
        #expect(machine.received(.pong(Nonce(9, 9, 9, 9)), now: F.t(40.2)) == .none)
        #expect(machine.isAwaitingPong)
        // The right nonce, but at the deadline: late.
        #expect(machine.received(.pong(second), now: F.t(42)) == .none)
        #expect(machine.isAwaitingPong)
        #expect(machine.misses == 1)
    }

    @Test func unsolicitedPongIsIgnored() {
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        #expect(machine.received(.pong(Nonce(1, 1, 1, 1)), now: F.t(1)) == .none)
        #expect(machine.misses == 0)
        #expect(machine.nextDeadline == F.t(20))
    }

    @Test func everyPingIsAnsweredAtOnceEvenAReplay() {
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        let nonce = Nonce(1, 2, 3, 4)
        #expect(machine.received(.ping(nonce), now: F.t(1)) == .send(.pong(nonce)))
        #expect(machine.received(.ping(nonce), now: F.t(2)) == .send(.pong(nonce)))
        #expect(machine.misses == 0)
    }

    // MARK: One side keeps the connection alive

    @Test func theAcceptorAllowsTheDiallersPingTimeBeforePingingItself() {
        var rng = SplitMix64(seed: 10)
        var acceptor = PingMachine(settings: settings, direction: .inbound, now: F.t(5))
        #expect(acceptor.silenceAllowed == .seconds(22))
        #expect(acceptor.nextDeadline == F.t(27))
        #expect(acceptor.timeout(now: F.t(25), rng: &rng) == .none, "the dialler's first ping is due now")
        #expect(firePing(&acceptor, at: F.t(27), &rng) != nil, "a quiet dialler is pinged")
        #expect(acceptor.nextDeadline == F.t(29))
    }

    @Test func aPingFromThePeerDefersOurNextPingPastItsNext() {
        var rng = SplitMix64(seed: 11)
        for direction in [Direction.outbound, .inbound] {
            var machine = PingMachine(settings: settings, direction: direction, now: .zero)
            #expect(machine.received(.ping(Nonce(1, 2, 3, 4)), now: F.t(19)) == .send(.pong(Nonce(1, 2, 3, 4))))
            #expect(machine.nextDeadline == F.t(41), "\(direction): the peer's next ping is due at 39")
            #expect(machine.timeout(now: F.t(20), rng: &rng) == .none)
            #expect(firePing(&machine, at: F.t(41), &rng) != nil, "\(direction): a peer that stopped pinging is pinged")
        }
    }

    @Test func aPingDoesNotMoveTheDeadlineOfAnOutstandingPing() {
        var rng = SplitMix64(seed: 12)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        _ = firePing(&machine, at: F.t(20), &rng)
        _ = machine.received(.ping(Nonce(5, 5, 5, 5)), now: F.t(20.5))
        #expect(machine.nextDeadline == F.t(22), "our ping still needs its pong")
        #expect(machine.timeout(now: F.t(22), rng: &rng) == .none)
        #expect(machine.misses == 1)
    }

    @Test func otherTrafficFromThePeerDefersThePingWhenItComesDue() {
        var rng = SplitMix64(seed: 13)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        machine.heard(now: F.t(15))
        #expect(machine.nextDeadline == F.t(20), "noted only: no deadline moves per frame")
        #expect(machine.timeout(now: F.t(20), rng: &rng) == .none)
        #expect(machine.nextDeadline == F.t(35))
        #expect(firePing(&machine, at: F.t(35), &rng) != nil)
    }

    @Test func aPongIsNotTrafficThatDefersTheNextPing() {
        var rng = SplitMix64(seed: 14)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        let nonce = firePing(&machine, at: F.t(20), &rng)!
        _ = machine.received(.pong(nonce), now: F.t(21))
        #expect(machine.nextDeadline == F.t(40))
        #expect(firePing(&machine, at: F.t(40), &rng) != nil)
    }

    /// Two machines on one connection (the dialler established when the acceptor's Verack arrived),
    /// frames taking `latency` each way, for ten minutes: who pings. A dead dialler neither pings
    /// nor reads.
    func pingsSent(latency: Duration, diallerDead: Bool, seed: UInt64) -> (dialler: Int, acceptor: Int, dropped: Bool) {
        var rng = SplitMix64(seed: seed)
        var machines = [PingMachine(settings: settings, direction: .outbound, now: F.t(0) + latency),
                        PingMachine(settings: settings, direction: .inbound, now: .zero)]
        var inFlight: [(arrival: Instant, to: Int, payload: PingPayload)] = []
        var sent = [0, 0]
        let end = F.t(600)
        while true {
            let live = diallerDead ? [1] : [0, 1]
            let timers = live.compactMap { index in machines[index].nextDeadline.map { ($0, index) } }
            let nextTimer = timers.min { $0.0 < $1.0 }
            let nextFrame = inFlight.indices.min { inFlight[$0].arrival < inFlight[$1].arrival }
            if let frame = nextFrame, inFlight[frame].arrival <= (nextTimer?.0 ?? end), inFlight[frame].arrival < end {
                let (arrival, to, payload) = inFlight.remove(at: frame)
                if to == 0 && diallerDead { continue }
                if case .send(let reply) = machines[to].received(payload, now: arrival) {
                    inFlight.append((arrival + latency, 1 - to, reply))
                }
            } else if let (deadline, index) = nextTimer, deadline < end {
                switch machines[index].timeout(now: deadline, rng: &rng) {
                case .send(let payload):
                    sent[index] += 1
                    inFlight.append((deadline + latency, 1 - index, payload))
                case .unresponsive: return (sent[0], sent[1], true)
                case .none: break
                }
            } else {
                return (sent[0], sent[1], false)
            }
        }
    }

    @Test(arguments: [Duration.milliseconds(1), .milliseconds(80), .milliseconds(900)])
    func betweenTwoKaryonsNodesOnlyTheDiallerPings(latency: Duration) {
        let run = pingsSent(latency: latency, diallerDead: false, seed: 15)
        #expect(run.dialler == 29, "one ping per interval: 20 s, 40 s, ... 580 s after establishment")
        #expect(run.acceptor == 0)
        #expect(!run.dropped)
    }

    @Test func theAcceptorNoticesADiallerThatWentSilent() {
        let run = pingsSent(latency: .milliseconds(50), diallerDead: true, seed: 16)
        #expect(run.dropped, "no frame from the dialler: the acceptor pings at 22 s, 44 s, 66 s and misses")
        #expect(run.acceptor == 3)
    }

    @Test func lateTimerDoesNotBurstCatchUpPings() {
        var rng = SplitMix64(seed: 7)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        let nonce = firePing(&machine, at: F.t(95), &rng)!
        #expect(machine.nextDeadline == F.t(97))
        _ = machine.received(.pong(nonce), now: F.t(96))
        #expect(machine.nextDeadline == F.t(115))
    }

    @Test func pingDueWhileOneIsOutstandingCountsTheOldOneAsMissed() {
        // A timeout longer than the interval: the unanswered ping is a miss when the next one is due.
        let slow = PingMachine.Settings(interval: .seconds(1), timeout: .seconds(5), missesMax: 3)
        var rng = SplitMix64(seed: 8)
        var machine = PingMachine(settings: slow, direction: .outbound, now: .zero)
        let first = firePing(&machine, at: F.t(1), &rng)!
        #expect(machine.nextDeadline == F.t(2))
        let second = firePing(&machine, at: F.t(2), &rng)!
        #expect(first != second)
        #expect(machine.misses == 1)
    }

    @Test func suspendedMachineNeitherPingsNorCountsMisses() {
        var rng = SplitMix64(seed: 9)
        var machine = PingMachine(settings: settings, direction: .outbound, now: .zero)
        _ = firePing(&machine, at: F.t(20), &rng)
        machine.suspend()
        #expect(machine.nextDeadline == nil)
        #expect(!machine.isAwaitingPong)
        #expect(machine.timeout(now: F.t(500), rng: &rng) == .none)
        #expect(machine.misses == 0)
        machine.resume(now: F.t(500))
        #expect(machine.nextDeadline == F.t(520))
    }

    @Test(arguments: 0..<50)
    func peerThatNeverAnswersIsDroppedAfterExactlyMissesMaxPings(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let missesMax = 1 + rng.index(below: 5)
        let interval = Duration.seconds(1 + rng.uniform(below: 30))
        let timeout = Duration.milliseconds(100 + rng.uniform(below: 5_000))
        var machine = PingMachine(
            settings: .init(interval: interval, timeout: timeout, missesMax: missesMax),
            direction: seed % 2 == 0 ? .outbound : .inbound,
            now: .zero
        )
        var pings = 0
        var now = Instant.zero
        while let deadline = machine.nextDeadline, pings <= missesMax + 1 {
            now = deadline
            switch machine.timeout(now: now, rng: &rng) {
            case .send(.ping): pings += 1
            case .send(.pong): Issue.record("a pong without a ping")
            case .none: continue
            case .unresponsive:
                #expect(pings == missesMax)
                return
            }
        }
        Issue.record("seed \(seed): never unresponsive after \(pings) pings")
    }
}
