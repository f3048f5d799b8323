import KaryonsCore
import KaryonsSimulation
import Testing

/// The event queue against the order it must keep: time, then insertion, over the spread of times a
/// virtual network schedules (now, within a millisecond, a link's latency, timers seconds to an hour
/// ahead) and times already passed, with pushes and pops interleaved.
@Suite("Event queue: time order, then insertion order")
struct EventQueueTests {
    private static let millisecond: UInt64 = 1_000_000

    /// A delay drawn from a mix of what a virtual network schedules: now, within a millisecond, a
    /// link's latency, timers a few seconds ahead, far ahead.
    private static func delay(_ rng: inout SplitMix64) -> UInt64 {
        switch rng.uniform(below: 6) {
        case 0: return 0
        case 1: return rng.uniform(below: 2 * millisecond)
        case 2: return rng.uniform(below: 100 * millisecond)
        case 3: return 4_000 * millisecond + rng.uniform(below: 1_000 * millisecond)
        case 4: return rng.uniform(below: 30_000 * millisecond)
        default: return rng.uniform(below: 3_600_000 * millisecond)
        }
    }

    @Test("random pushes and pops come out in (time, insertion) order", arguments: 1...40)
    func matchesTheReferenceOrder(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var queue = EventQueue<Int>()
        // The reference: every pending (time, order), popped by linear search for the least.
        var pending: [(time: UInt64, order: Int)] = []
        var now: UInt64 = 0
        var popped: [Int] = []
        var expected: [Int] = []
        func popBoth() {
            let next = pending.indices.min { (pending[$0].time, pending[$0].order) < (pending[$1].time, pending[$1].order) }!
            expected.append(pending.remove(at: next).order)
            let entry = queue.pop()!
            popped.append(entry.payload)
            now = max(now, entry.time.nanoseconds)
        }
        for order in 0..<1_500 {
            // Now and then a time already passed, which the queue must still pop first.
            let time = rng.chance(0.05) ? now - min(now, rng.uniform(below: 5 * Self.millisecond)) : now + Self.delay(&rng)
            queue.push(order, at: Instant(nanoseconds: time))
            pending.append((time, order))
            #expect(queue.count == pending.count)
            while !pending.isEmpty && rng.chance(0.45) { popBoth() }
        }
        while !pending.isEmpty { popBoth() }
        #expect(popped == expected)
        #expect(queue.isEmpty)
        #expect(queue.pop() == nil)
        #expect(queue.nextTime == nil)
    }

    @Test("nextTime names the event pop returns, from now to the end of time")
    func nextTimeMatchesPop() {
        var queue = EventQueue<Int>()
        let times: [UInt64] = [0, 5 * Self.millisecond, 4_400 * Self.millisecond, 10_000_000 * Self.millisecond, .max]
        for (order, time) in times.enumerated().reversed() { queue.push(order, at: Instant(nanoseconds: time)) }
        for (order, time) in times.enumerated() {
            #expect(queue.nextTime == Instant(nanoseconds: time))
            #expect(queue.pop()?.payload == order)
        }
        #expect(queue.nextTime == nil)
    }

    @Test("equal times pop in insertion order, however far ahead they were pushed")
    func equalTimesAreFirstInFirstOut() {
        var queue = EventQueue<Int>()
        let far = Instant(nanoseconds: 9_000 * Self.millisecond)
        queue.push(0, at: far)
        queue.push(1, at: .zero)
        #expect(queue.pop()?.payload == 1)
        queue.push(2, at: Instant(nanoseconds: 6_000 * Self.millisecond))
        #expect(queue.pop()?.payload == 2)
        queue.push(3, at: far)
        queue.push(4, at: far)
        #expect([queue.pop(), queue.pop(), queue.pop()].map { $0?.payload } == [0, 3, 4])
    }

    @Test("removeAll empties the queue, which then works as new")
    func removeAllEmptiesEverything() {
        var queue = EventQueue<Int>()
        for (order, time) in [UInt64(0), 3 * Self.millisecond, 60_000 * Self.millisecond].enumerated() {
            queue.push(order, at: Instant(nanoseconds: time))
        }
        queue.removeAll()
        #expect(queue.isEmpty)
        #expect(queue.nextTime == nil)
        queue.push(7, at: Instant(nanoseconds: 2 * Self.millisecond))
        #expect(queue.count == 1)
        #expect(queue.pop()?.payload == 7)
        #expect(queue.pop() == nil)
    }
}
