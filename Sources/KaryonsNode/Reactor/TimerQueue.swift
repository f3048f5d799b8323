import KaryonsCore

/// A handle to a timer scheduled on a `Reactor`: a slot and a generation.
///
/// Stays valid as an identity after the timer fired or was cancelled: the slot is reused under a
/// new generation, so a late `cancel` or `reschedule` with an old handle does nothing.
public struct ReactorTimer: Hashable, Sendable, CustomStringConvertible {
    let slot: UInt32
    let generation: UInt32

    public var description: String { "timer \(slot).\(generation)" }
}

/// The armed timers of a reactor: an indexed binary min-heap over a slot table.
///
/// Schedule, cancel and reschedule are O(log n) with no allocation once the tables have grown to
/// the peak number of armed timers; the earliest deadline is O(1). Equal deadlines fire in the order
/// they were (re)scheduled (a sequence number breaks ties), so 100,000 timers stay cheap and ordered.
/// Not generic on purpose: debug builds would run every heap step through unspecialized generics.
struct TimerQueue {
    typealias Action = TimerAction

    private struct Entry {
        var generation: UInt32
        /// Position in `heap`, or -1 when the slot is free.
        var heapIndex: Int32
        var action: Action?
    }

    /// The ordering key lives in the heap array itself, so sifting touches one contiguous array
    /// and never copies an action (which would cost reference counting).
    private struct HeapItem {
        var deadline: Instant
        var sequence: UInt64
        var slot: UInt32

        func precedes(_ other: HeapItem) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var entries: [Entry] = []
    private var freeSlots: [UInt32] = []
    private var heap: [HeapItem] = []
    private var nextSequence: UInt64 = 0

    /// The number of armed timers.
    var count: Int { heap.count }

    /// The earliest deadline of an armed timer.
    var nextDeadline: Instant? { heap.first?.deadline }

    mutating func schedule(at deadline: Instant, action: Action) -> ReactorTimer {
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            precondition(entries.count < Int(UInt32.max), "BUG in Karyons: more than 2^32 timers")
            slot = UInt32(entries.count)
            entries.append(Entry(generation: 0, heapIndex: -1, action: nil))
        }
        let index = Int(slot)
        entries[index].action = action
        entries[index].heapIndex = Int32(heap.count)
        heap.append(HeapItem(deadline: deadline, sequence: takeSequence(), slot: slot))
        siftUp(heap.count - 1)
        return ReactorTimer(slot: slot, generation: entries[index].generation)
    }

    func isArmed(_ timer: ReactorTimer) -> Bool {
        let index = Int(timer.slot)
        return index < entries.count && entries[index].generation == timer.generation && entries[index].heapIndex >= 0
    }

    func deadline(of timer: ReactorTimer) -> Instant? {
        isArmed(timer) ? heap[Int(entries[Int(timer.slot)].heapIndex)].deadline : nil
    }

    /// Removes an armed timer and returns its action; nil if `timer` is not armed.
    mutating func cancel(_ timer: ReactorTimer) -> Action? {
        guard isArmed(timer) else { return nil }
        return remove(slot: timer.slot)
    }

    /// Moves an armed timer to `deadline`, keeping its handle; false if `timer` is not armed.
    mutating func reschedule(_ timer: ReactorTimer, to deadline: Instant) -> Bool {
        guard isArmed(timer) else { return false }
        let position = Int(entries[Int(timer.slot)].heapIndex)
        heap[position].deadline = deadline
        heap[position].sequence = takeSequence()
        restoreOrder(at: position)
        return true
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    mutating func popDue(now: Instant) -> (timer: ReactorTimer, action: Action)? {
        guard let first = heap.first, first.deadline <= now else { return nil }
        let generation = entries[Int(first.slot)].generation
        let action = remove(slot: first.slot)
        return (ReactorTimer(slot: first.slot, generation: generation), action)
    }

    /// Disarms every timer and drops every action (no action is run).
    mutating func removeAll() {
        while let first = heap.first {
            _ = remove(slot: first.slot)
        }
    }

    // MARK: - Heap

    private mutating func takeSequence() -> UInt64 {
        defer { nextSequence &+= 1 }
        return nextSequence
    }

    private mutating func remove(slot: UInt32) -> Action {
        let index = Int(slot)
        let position = Int(entries[index].heapIndex)
        let last = heap.count - 1
        if position != last {
            swapHeap(position, last)
        }
        heap.removeLast()
        if position < heap.count {
            restoreOrder(at: position)
        }
        guard let action = entries[index].action else {
            preconditionFailure("BUG in Karyons: armed timer slot \(slot) has no action")
        }
        entries[index].action = nil
        entries[index].heapIndex = -1
        entries[index].generation &+= 1
        freeSlots.append(slot)
        return action
    }

    /// Moves the item at `position` up or down until the heap property holds again.
    private mutating func restoreOrder(at position: Int) {
        let settled = siftUp(position)
        siftDown(settled)
    }

    @discardableResult
    private mutating func siftUp(_ start: Int) -> Int {
        var position = start
        while position > 0 {
            let parent = (position - 1) / 2
            guard heap[position].precedes(heap[parent]) else { break }
            swapHeap(position, parent)
            position = parent
        }
        return position
    }

    private mutating func siftDown(_ start: Int) {
        var position = start
        while true {
            let left = 2 * position + 1
            guard left < heap.count else { return }
            let right = left + 1
            let child = right < heap.count && heap[right].precedes(heap[left]) ? right : left
            guard heap[child].precedes(heap[position]) else { return }
            swapHeap(position, child)
            position = child
        }
    }

    private mutating func swapHeap(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        entries[Int(heap[a].slot)].heapIndex = Int32(a)
        entries[Int(heap[b].slot)].heapIndex = Int32(b)
    }
}
