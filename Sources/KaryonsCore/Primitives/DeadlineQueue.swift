/// The deadlines of many keys (connections, requests, machine timers), earliest first.
///
/// One deadline per key: scheduling a key again moves its deadline, `cancel` removes it. Backed by
/// a binary min-heap with lazy deletion (a moved or cancelled key leaves a stale heap entry that is
/// skipped when it surfaces, and the heap is rebuilt when stale entries outnumber live ones), so
/// every operation is O(log n) amortised and `nextDeadline` is O(1) after the stale top is pruned.
/// Equal deadlines pop in scheduling order, which keeps simulated runs deterministic.
///
/// Keys that are `DenselyIndexed` (a connection's slot) keep their live deadline in an array at
/// that index instead of a hash table: no hashing on the hot path. A second key with the same index
/// (a stale generation still scheduled) falls back to the hash table, so behaviour is the same.
public struct DeadlineQueue<Key: Hashable> {
    private struct Entry {
        var deadline: Instant
        var sequence: UInt64
        var key: Key
        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private struct Live {
        var key: Key
        var deadline: Instant
        var sequence: UInt64
    }

    private var heap: [Entry] = []
    /// The live deadline of each key without a dense index (or whose index is taken), with the
    /// sequence number of its heap entry.
    private var live: [Key: (deadline: Instant, sequence: UInt64)] = [:]
    /// The live deadlines of densely indexed keys, by index.
    private var dense: [Live?] = []
    private var denseCount = 0
    private var nextSequence: UInt64 = 0

    public init() {}

    /// The number of keys with a deadline.
    public var count: Int { live.count + denseCount }

    /// True if no key has a deadline.
    public var isEmpty: Bool { count == 0 }

    /// The deadline of `key`, if it has one.
    public func deadline(of key: Key) -> Instant? { liveEntry(of: key)?.deadline }

    @inline(__always)
    private func denseIndex(of key: Key) -> Int? { (key as? any DenselyIndexed)?.denseIndex }

    @inline(__always)
    private func liveEntry(of key: Key) -> (deadline: Instant, sequence: UInt64)? {
        if let index = denseIndex(of: key), index < dense.count, let entry = dense[index], entry.key == key {
            return (entry.deadline, entry.sequence)
        }
        return live.isEmpty ? nil : live[key]
    }

    /// Sets (nil: removes) the live deadline of `key`.
    private mutating func setLive(_ key: Key, _ value: (deadline: Instant, sequence: UInt64)?) {
        if let index = denseIndex(of: key) {
            if index >= dense.count {
                guard value != nil else { return removeHashed(key) }
                dense.append(contentsOf: repeatElement(nil, count: index + 1 - dense.count))
            }
            if let entry = dense[index], entry.key == key {
                if let value {
                    dense[index] = Live(key: key, deadline: value.deadline, sequence: value.sequence)
                } else {
                    dense[index] = nil
                    denseCount -= 1
                }
                return
            }
            if dense[index] == nil, let value, live.isEmpty || live[key] == nil {
                dense[index] = Live(key: key, deadline: value.deadline, sequence: value.sequence)
                denseCount += 1
                return
            }
        }
        if let value { live[key] = value } else { removeHashed(key) }
    }

    private mutating func removeHashed(_ key: Key) {
        if !live.isEmpty { live[key] = nil }
    }

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
        setLive(key, (deadline, sequence))
        push(Entry(deadline: deadline, sequence: sequence, key: key))
        if heap.count > 64 && heap.count > 2 * count { rebuild() }
    }

    /// Removes the deadline of `key`, if any.
    public mutating func cancel(_ key: Key) {
        setLive(key, nil)
    }

    /// Removes and returns the key with the earliest deadline if that deadline is at or before `now`.
    public mutating func popDue(now: Instant) -> Key? {
        pruneStaleTop()
        guard let top = heap.first, top.deadline <= now else { return nil }
        popTop()
        setLive(top.key, nil)
        return top.key
    }

    private func isLive(_ entry: Entry) -> Bool { liveEntry(of: entry.key)?.sequence == entry.sequence }

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

/// A key with a small, dense index (such as a slot), which `DeadlineQueue` uses as an array index
/// instead of hashing the key. Two keys may share an index (the queue tells them apart by equality).
public protocol DenselyIndexed {
    /// The index, or nil for a key that has none.
    var denseIndex: Int? { get }
}
