/// The deadlines of many keys (connections, requests, machine timers), earliest first.
///
/// One deadline per key: scheduling a key again moves its deadline, `cancel` removes it. Backed by
/// a binary min-heap with lazy deletion (a moved or cancelled key leaves a stale heap entry that is
/// skipped when it surfaces, and the heap is rebuilt when stale entries outnumber live ones), so
/// every operation is O(log n) amortised and `nextDeadline` is O(1) after the stale top is pruned.
/// Equal deadlines pop in scheduling order, which keeps simulated runs deterministic.
public struct DeadlineQueue<Key: Hashable> {
    private struct Entry {
        var deadline: Instant
        var sequence: UInt64
        var key: Key
        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    /// The live deadline of each key, with the sequence number of its heap entry.
    private var live: [Key: (deadline: Instant, sequence: UInt64)] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    /// The number of keys with a deadline.
    public var count: Int { live.count }

    /// True if no key has a deadline.
    public var isEmpty: Bool { live.isEmpty }

    /// The deadline of `key`, if it has one.
    public func deadline(of key: Key) -> Instant? { live[key]?.deadline }

    /// The earliest deadline of any key.
    public var nextDeadline: Instant? {
        mutating get {
            pruneStaleTop()
            return heap.first?.deadline
        }
    }

    /// Sets (or moves) the deadline of `key`.
    public mutating func schedule(_ key: Key, at deadline: Instant) {
        let sequence = nextSequence
        nextSequence &+= 1
        live[key] = (deadline, sequence)
        push(Entry(deadline: deadline, sequence: sequence, key: key))
        if heap.count > 64 && heap.count > 2 * live.count { rebuild() }
    }

    /// Removes the deadline of `key`, if any.
    public mutating func cancel(_ key: Key) {
        live[key] = nil
    }

    /// Removes and returns the key with the earliest deadline if that deadline is at or before `now`.
    public mutating func popDue(now: Instant) -> Key? {
        pruneStaleTop()
        guard let top = heap.first, top.deadline <= now else { return nil }
        popTop()
        live[top.key] = nil
        return top.key
    }

    private func isLive(_ entry: Entry) -> Bool { live[entry.key]?.sequence == entry.sequence }

    private mutating func pruneStaleTop() {
        while let top = heap.first, !isLive(top) { popTop() }
    }

    private mutating func rebuild() {
        heap = heap.filter(isLive)
        var index = heap.count / 2
        while index > 0 {
            index -= 1
            siftDown(from: index)
        }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            let right = left + 1
            let child = right < heap.count && heap[right].precedes(heap[left]) ? right : left
            guard heap[child].precedes(heap[parent]) else { return }
            heap.swapAt(child, parent)
            parent = child
        }
    }
}
