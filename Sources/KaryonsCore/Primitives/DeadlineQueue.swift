/// The deadlines of many keys (connections, requests, machine timers), earliest first.
///
/// One deadline per key: scheduling a key again moves its deadline, `cancel` removes it. Backed by
/// a binary min-heap that knows where each key's entry is, so a move or a cancel fixes the entry in
/// place: O(log n) for every operation and O(1) for `nextDeadline`, and the heap holds exactly the
/// live deadlines. (A heap with lazy deletion, which this replaced, leaves an entry behind at every
/// move; a keep-alive moves its connection's deadline at every ping, and skipping those entries
/// cost more than the heap itself.) Equal deadlines pop in scheduling order (a move counts as
/// scheduling), which keeps simulated runs deterministic.
///
/// Keys that are `DenselyIndexed` (a connection's slot) keep their heap position in an array at
/// that index instead of a hash table: no hashing on the hot path. A second key with the same index
/// (a stale generation still scheduled) falls back to the hash table, so behaviour is the same.
public struct DeadlineQueue<Key: Hashable> {
    private struct Entry {
        var deadline: Instant
        var sequence: UInt64
        var key: Key
        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    /// Heap position + 1 of the entry that owns each dense index, by index (0: none does).
    private var densePositions: [Int32] = []
    /// Heap positions of keys without a dense index, or whose index another key owns.
    private var hashedPositions: [Key: Int] = [:]
    private var nextSequence: UInt64 = 0

    public init() {}

    /// The number of keys with a deadline.
    public var count: Int { heap.count }

    /// True if no key has a deadline.
    public var isEmpty: Bool { heap.isEmpty }

    /// The deadline of `key`, if it has one.
    public func deadline(of key: Key) -> Instant? { position(of: key).map { heap[$0].deadline } }

    /// The earliest deadline of any key.
    public var nextDeadline: Instant? { heap.first?.deadline }

    /// Sets (or moves) the deadline of `key`.
    public mutating func schedule(_ key: Key, at deadline: Instant) {
        let sequence = nextSequence
        nextSequence &+= 1
        let entry = Entry(deadline: deadline, sequence: sequence, key: key)
        if let position = position(of: key) {
            let earlier = entry.precedes(heap[position])
            heap[position] = entry
            if earlier { siftUp(from: position) } else { siftDown(from: position) }
            return
        }
        heap.append(entry)
        register(key, at: heap.count - 1)
        siftUp(from: heap.count - 1)
    }

    /// Removes the deadline of `key`, if any.
    public mutating func cancel(_ key: Key) {
        guard let position = position(of: key) else { return }
        remove(at: position)
    }

    /// Removes and returns the key with the earliest deadline if that deadline is at or before `now`.
    public mutating func popDue(now: Instant) -> Key? {
        guard let top = heap.first, top.deadline <= now else { return nil }
        remove(at: 0)
        return top.key
    }

    // MARK: Positions

    @inline(__always)
    private func denseIndex(of key: Key) -> Int? { (key as? any DenselyIndexed)?.denseIndex }

    /// Where `key`'s entry is in the heap, if it has one.
    @inline(__always)
    private func position(of key: Key) -> Int? {
        if let index = denseIndex(of: key), index < densePositions.count {
            let position = Int(densePositions[index]) - 1
            if position >= 0 && heap[position].key == key { return position }
        }
        return hashedPositions.isEmpty ? nil : hashedPositions[key]
    }

    /// Records a new entry's position: at its dense index if no other key owns it, else hashed.
    private mutating func register(_ key: Key, at position: Int) {
        if let index = denseIndex(of: key) {
            if index >= densePositions.count {
                densePositions.append(contentsOf: repeatElement(0, count: index + 1 - densePositions.count))
            }
            if densePositions[index] == 0 {
                densePositions[index] = Int32(position + 1)
                return
            }
        }
        hashedPositions[key] = position
    }

    /// True if `key`, whose entry is at `position`, owns its dense index (else it is hashed).
    @inline(__always)
    private func ownsDenseIndex(_ key: Key, at position: Int) -> Bool {
        guard let index = denseIndex(of: key), index < densePositions.count else { return false }
        return densePositions[index] == Int32(position + 1)
    }

    /// Records that the entry for `key` moved from `old` to `new`. (Asked before anything else
    /// moves: once the sifted entry is lifted out, another entry may take `old`.)
    @inline(__always)
    private mutating func moved(_ key: Key, from old: Int, to new: Int) {
        place(key, ownsIndex: ownsDenseIndex(key, at: old), at: new)
    }

    @inline(__always)
    private mutating func place(_ key: Key, ownsIndex: Bool, at position: Int) {
        if ownsIndex, let index = denseIndex(of: key) {
            densePositions[index] = Int32(position + 1)
        } else {
            hashedPositions[key] = position
        }
    }

    /// Forgets the position of `key`, whose entry is at `position`.
    private mutating func forget(_ key: Key, at position: Int) {
        if let index = denseIndex(of: key), index < densePositions.count, densePositions[index] == Int32(position + 1) {
            densePositions[index] = 0
        } else {
            hashedPositions[key] = nil
        }
    }

    // MARK: Heap

    private mutating func remove(at position: Int) {
        let removed = heap[position]
        forget(removed.key, at: position)
        let last = heap.removeLast()
        guard position < heap.count else { return }
        heap[position] = last
        moved(last.key, from: heap.count, to: position)
        if last.precedes(removed) { siftUp(from: position) } else { siftDown(from: position) }
    }

    // The sifted entry's ownership of its dense index is read before the loop: the loop may move
    // another entry with the same index into its old position.

    private mutating func siftUp(from start: Int) {
        let moving = heap[start]
        let ownsIndex = ownsDenseIndex(moving.key, at: start)
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard moving.precedes(heap[parent]) else { break }
            heap[child] = heap[parent]
            moved(heap[child].key, from: parent, to: child)
            child = parent
        }
        guard child != start else { return }
        heap[child] = moving
        place(moving.key, ownsIndex: ownsIndex, at: child)
    }

    private mutating func siftDown(from start: Int) {
        let moving = heap[start]
        let ownsIndex = ownsDenseIndex(moving.key, at: start)
        let count = heap.count
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && heap[right].precedes(heap[left]) ? right : left
            guard heap[child].precedes(moving) else { break }
            heap[parent] = heap[child]
            moved(heap[parent].key, from: child, to: parent)
            parent = child
        }
        guard parent != start else { return }
        heap[parent] = moving
        place(moving.key, ownsIndex: ownsIndex, at: parent)
    }
}

/// A key with a small, dense index (such as a slot), which `DeadlineQueue` uses as an array index
/// instead of hashing the key. Two keys may share an index (the queue tells them apart by equality).
public protocol DenselyIndexed {
    /// The index, or nil for a key that has none.
    var denseIndex: Int? { get }
}
