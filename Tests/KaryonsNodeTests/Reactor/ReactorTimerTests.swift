#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

/// Records fired timers with the tick and time they fired at. Arrays indexed by timer slot, not
/// dictionaries, so recording 100,000 timers stays cheap in debug builds.
final class TimerRecorder: ReactorTimerHandler {
    let reactor: Reactor
    var deadlines: [Instant?] = []
    var fired: [(timer: ReactorTimer, deadline: Instant, now: Instant, tick: UInt64)] = []
    let done: CountdownSignal

    init(reactor: Reactor, expected: Int) {
        self.reactor = reactor
        done = CountdownSignal(target: expected)
        fired.reserveCapacity(expected)
    }

    func schedule(at deadline: Instant) -> ReactorTimer {
        let timer = reactor.scheduleTimer(at: deadline, handler: self)
        let slot = Int(timer.slot)
        if slot >= deadlines.count {
            deadlines.append(contentsOf: repeatElement(nil, count: slot - deadlines.count + 1))
        }
        deadlines[slot] = deadline
        return timer
    }

    func reactorTimerFired(_ timer: ReactorTimer) {
        fired.append((timer, deadlines[Int(timer.slot)]!, reactor.now, reactor.counters.ticks))
        done.add()
    }
}

@Suite struct ReactorTimerTests {
    @Test func timersFireInDeadlineOrderAndCancelledOnesNever() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var random = SplitMix64(seed: 7)
        let offsets = (0..<1_000).map { _ in random.uniform(below: 30) }
        let (recorder, cancelled, sentinel) = try await loop.run { () -> (TimerRecorder, Set<ReactorTimer>, ReactorTimer) in
            // 666 timers stay armed, plus a sentinel due after every other deadline (cancelled ones too).
            let recorder = TimerRecorder(reactor: loop.reactor, expected: 667)
            let start = SystemClock.now()
            var cancelled: Set<ReactorTimer> = []
            for (index, offset) in offsets.enumerated() {
                let timer = recorder.schedule(at: start + .milliseconds(offset + 1))
                if index % 3 == 0 { cancelled.insert(timer) }
            }
            let sentinel = recorder.schedule(at: start + .milliseconds(40))
            for timer in cancelled {
                precondition(loop.reactor.cancelTimer(timer))
                precondition(!loop.reactor.cancelTimer(timer))
            }
            return (recorder, cancelled, sentinel)
        }
        #expect(await recorder.done.wait())
        let fired = try await loop.run { recorder.fired }
        #expect(fired.count == 667)
        #expect(fired.last?.timer == sentinel)
        #expect(Set(fired.map(\.timer)).isDisjoint(with: cancelled))
        #expect(Set(fired.map(\.timer)).count == 667)
        #expect(zip(fired, fired.dropFirst()).allSatisfy { $0.deadline <= $1.deadline })
        #expect(fired.allSatisfy { $0.now >= $0.deadline })
    }

    @Test func equalDeadlinesFireInSchedulingOrder() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let order = Unchecked<[Int]>([])
        let done = CountdownSignal(target: 100)
        try await loop.run {
            let deadline = SystemClock.now() + .milliseconds(2)
            for index in 0..<100 {
                loop.reactor.scheduleTimer(at: deadline) {
                    order.value.append(index)
                    done.add()
                }
            }
        }
        #expect(await done.wait())
        #expect(try await loop.run { order.value } == Array(0..<100))
    }

    @Test func hundredThousandTimersFireInDeadlineOrderWithinTheTickBound() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let count = 100_000
        var random = SplitMix64(seed: 100_000)
        let offsets = (0..<count).map { _ in random.uniform(below: 50_000) }
        let recorder = try await loop.run { () -> TimerRecorder in
            let recorder = TimerRecorder(reactor: loop.reactor, expected: count)
            let start = SystemClock.now()
            for offset in offsets {
                _ = recorder.schedule(at: start + .microseconds(offset))
            }
            return recorder
        }
        #expect(await recorder.done.wait(seconds: 60))
        let (fired, armed) = try await loop.run { (recorder.fired, loop.reactor.statistics.timersArmed) }
        #expect(fired.count == count)
        #expect(armed == 0)
        // One pass (cheap in debug builds): deadline order, never early, and the most fired in one tick.
        var outOfOrder = 0
        var early = 0
        var mostInOneTick = 0
        var run = 0
        for index in fired.indices {
            let entry = fired[index]
            if entry.now < entry.deadline { early += 1 }
            if index > 0 && fired[index - 1].deadline > entry.deadline { outOfOrder += 1 }
            run = index > 0 && fired[index - 1].tick == entry.tick ? run + 1 : 1
            mostInOneTick = max(mostInOneTick, run)
        }
        #expect(outOfOrder == 0)
        #expect(early == 0)
        #expect(mostInOneTick <= loop.reactor.limits.timersPerTickMax)
    }

    @Test func timersPerTickAreBounded() async throws {
        var limits = Reactor.Limits()
        limits.timersPerTickMax = 10
        let loop = try LoopThread(limits: limits)
        defer { loop.stop() }
        let recorder = try await loop.run { () -> TimerRecorder in
            let recorder = TimerRecorder(reactor: loop.reactor, expected: 95)
            let past = loop.reactor.now
            for _ in 0..<95 { _ = recorder.schedule(at: past) }
            return recorder
        }
        #expect(await recorder.done.wait())
        let perTick = try await loop.run { Dictionary(grouping: recorder.fired, by: \.tick).values.map(\.count) }
        #expect(perTick.reduce(0, +) == 95)
        #expect(perTick.max() == 10)
        #expect(perTick.count == 10)
    }

    @Test func rescheduleMovesAnArmedTimerAndNothingElse() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let fired = Signal()
        let (timer, moved) = try await loop.run { () -> (ReactorTimer, Bool) in
            let timer = loop.reactor.scheduleTimer(after: .seconds(3_600)) { fired.fire() }
            return (timer, loop.reactor.rescheduleTimer(timer, to: loop.reactor.now))
        }
        #expect(moved)
        #expect(await fired.wait())
        let (again, deadline, cancelled) = try await loop.run {
            (loop.reactor.rescheduleTimer(timer, to: loop.reactor.now), loop.reactor.deadline(of: timer),
             loop.reactor.cancelTimer(timer))
        }
        #expect(!again)
        #expect(deadline == nil)
        #expect(!cancelled)
    }
}

@Suite struct TimerQueueTests {
    /// Random schedule/cancel/reschedule/pop sequences agree with a sorted reference model.
    @Test(arguments: 0..<30)
    func agreesWithAReferenceModel(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var queue = TimerQueue()
        // Reference: live timers with (deadline, order) keys.
        var model: [ReactorTimer: (deadline: UInt64, order: Int)] = [:]
        var order = 0
        var now: UInt64 = 0
        for _ in 0..<2_000 {
            switch random.uniform(below: 10) {
            case 0..<5:
                let deadline = now + random.uniform(below: 100)
                let timer = queue.schedule(at: Instant(nanoseconds: deadline), action: .closure {})
                #expect(model[timer] == nil)
                model[timer] = (deadline, order)
                order += 1
            case 5..<7:
                guard let timer = model.keys.randomElement(using: &random) else { continue }
                let cancelled = queue.cancel(timer) != nil
                #expect(cancelled)
                model.removeValue(forKey: timer)
                let again = queue.cancel(timer) != nil
                #expect(!again)
            case 7:
                guard let timer = model.keys.randomElement(using: &random) else { continue }
                let deadline = now + random.uniform(below: 100)
                let moved = queue.reschedule(timer, to: Instant(nanoseconds: deadline))
                #expect(moved)
                model[timer]!.deadline = deadline
                model[timer]!.order = order
                order += 1
            default:
                now += random.uniform(below: 30)
                while let (timer, _) = queue.popDue(now: Instant(nanoseconds: now)) {
                    let expected = model.min { ($0.value.deadline, $0.value.order) < ($1.value.deadline, $1.value.order) }!
                    #expect(timer == expected.key)
                    #expect(expected.value.deadline <= now)
                    model.removeValue(forKey: timer)
                    #expect(!queue.isArmed(timer))
                }
                #expect(model.values.allSatisfy { $0.deadline > now })
            }
            #expect(queue.count == model.count)
            #expect(queue.nextDeadline?.nanoseconds == model.values.map(\.deadline).min())
        }
    }
}
