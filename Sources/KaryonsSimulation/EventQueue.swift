import KaryonsCore

/// The simulator's scheduler: a 4-ary min-heap of small value entries, ordered by time and, for
/// equal times, by insertion (FIFO), so that a run is reproducible bit for bit.
///
/// Push and pop are O(log n) and allocate nothing once the heap's storage has grown to the run's
/// peak size (the array keeps its capacity). Four children per node halve the heap's depth and keep
/// siblings in adjacent cache lines: a large run's heap holds millions of events and far outgrows
/// the caches, so each level is a likely miss. Keep `Payload` small and free of references: the
/// network stores bytes and other large values in side tables and schedules only their handles.
public struct EventQueue<Payload> {
    /// One scheduled event.
    public struct Entry {
        /// When the event happens.
        public var time: Instant
        /// Insertion order, the tie-break for equal times.
        public var sequence: UInt64
        /// What happens.
        public var payload: Payload

        @inline(__always)
        func precedes(_ other: Entry) -> Bool {
            time != other.time ? time < other.time : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    private var nextSequence: UInt64 = 0

    /// Creates an empty queue with room for `capacity` events before it reallocates.
    public init(capacity: Int = 0) {
        heap.reserveCapacity(capacity)
    }

    /// The number of pending events.
    public var count: Int { heap.count }

    /// True when nothing is pending.
    public var isEmpty: Bool { heap.isEmpty }

    /// The time of the earliest event.
    public var nextTime: Instant? { heap.first?.time }

    /// Schedules `payload` at `time`; among events at the same time it comes after those already queued.
    public mutating func push(_ payload: Payload, at time: Instant) {
        let entry = Entry(time: time, sequence: nextSequence, payload: payload)
        nextSequence &+= 1
        heap.append(entry)
        siftUp(from: heap.count - 1)
    }

    /// Removes and returns the earliest event (the first scheduled among equal times).
    public mutating func pop() -> Entry? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(from: 0)
        }
        return first
    }

    /// Removes every event, keeping the storage.
    public mutating func removeAll() {
        heap.removeAll(keepingCapacity: true)
    }

    private static var arity: Int { 4 }

    private mutating func siftUp(from start: Int) {
        heap.withUnsafeMutableBufferPointer { heap in
            let moving = heap[start]
            var child = start
            while child > 0 {
                let parent = (child - 1) / Self.arity
                guard moving.precedes(heap[parent]) else { break }
                heap[child] = heap[parent]
                child = parent
            }
            heap[child] = moving
        }
    }

    private mutating func siftDown(from start: Int) {
        heap.withUnsafeMutableBufferPointer { heap in
            let moving = heap[start]
            let count = heap.count
            var parent = start
            while true {
                let first = Self.arity * parent + 1
                guard first < count else { break }
                var child = first
                for sibling in (first + 1)..<min(first + Self.arity, count) where heap[sibling].precedes(heap[child]) {
                    child = sibling
                }
                guard heap[child].precedes(moving) else { break }
                heap[parent] = heap[child]
                parent = child
            }
            heap[parent] = moving
        }
    }
}
