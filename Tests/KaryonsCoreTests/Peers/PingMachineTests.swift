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
        var machine = PingMachine(settings: settings, now: F.t(5))
        #expect(machine.nextDeadline == F.t(25))
        #expect(machine.timeout(now: F.t(24.999), rng: &rng) == .none, "a spurious early call sends nothing")
        let nonce = firePing(&machine, at: F.t(25), &rng)
        #expect(nonce != nil)
        #expect(machine.isAwaitingPong)
        #expect(machine.nextDeadline == F.t(27), "the pong deadline comes first")
    }

    @Test func correctPongClearsTheDeadlineAndTheNextPingFollowsTheInterval() {
        var rng = SplitMix64(seed: 2)
        var machine = PingMachine(settings: settings, now: .zero)
        let nonce = firePing(&machine, at: F.t(20), &rng)!
        #expect(machine.received(.pong(nonce), now: F.t(20.5)) == .none)
        #expect(!machine.isAwaitingPong)
        #expect(machine.misses == 0)
        #expect(machine.nextDeadline == F.t(40))
        #expect(firePing(&machine, at: F.t(40), &rng) != nil)
    }

    @Test func eachPingCarriesAFreshNonce() {
        var rng = SplitMix64(seed: 3)
        var machine = PingMachine(settings: settings, now: .zero)
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
        var machine = PingMachine(settings: settings, now: .zero)
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
        var machine = PingMachine(settings: settings, now: .zero)
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
        var machine = PingMachine(settings: settings, now: .zero)
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
        var machine = PingMachine(settings: settings, now: .zero)
        #expect(machine.received(.pong(Nonce(1, 1, 1, 1)), now: F.t(1)) == .none)
        #expect(machine.misses == 0)
        #expect(machine.nextDeadline == F.t(20))
    }

    @Test func everyPingIsAnsweredAtOnceEvenAReplay() {
        var machine = PingMachine(settings: settings, now: .zero)
        let nonce = Nonce(1, 2, 3, 4)
        #expect(machine.received(.ping(nonce), now: F.t(1)) == .send(.pong(nonce)))
        #expect(machine.received(.ping(nonce), now: F.t(2)) == .send(.pong(nonce)))
        #expect(machine.nextDeadline == F.t(20), "answering changes no state")
        #expect(machine.misses == 0)
    }

    @Test func lateTimerDoesNotBurstCatchUpPings() {
        var rng = SplitMix64(seed: 7)
        var machine = PingMachine(settings: settings, now: .zero)
        let nonce = firePing(&machine, at: F.t(95), &rng)!
        #expect(machine.nextDeadline == F.t(97))
        _ = machine.received(.pong(nonce), now: F.t(96))
        #expect(machine.nextDeadline == F.t(115))
    }

    @Test func pingDueWhileOneIsOutstandingCountsTheOldOneAsMissed() {
        // A timeout longer than the interval: the unanswered ping is a miss when the next one is due.
        let slow = PingMachine.Settings(interval: .seconds(1), timeout: .seconds(5), missesMax: 3)
        var rng = SplitMix64(seed: 8)
        var machine = PingMachine(settings: slow, now: .zero)
        let first = firePing(&machine, at: F.t(1), &rng)!
        #expect(machine.nextDeadline == F.t(2))
        let second = firePing(&machine, at: F.t(2), &rng)!
        #expect(first != second)
        #expect(machine.misses == 1)
    }

    @Test func suspendedMachineNeitherPingsNorCountsMisses() {
        var rng = SplitMix64(seed: 9)
        var machine = PingMachine(settings: settings, now: .zero)
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
