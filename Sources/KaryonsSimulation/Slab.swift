import KaryonsCore

/// A generational slab like KaryonsCore's `SlotTable`, kept in this module so the simulator's hot
/// paths are specialized for their element types, and with `read`/`modify` that reach single
/// fields in place instead of copying whole elements (and their buffers) out.
struct Slab<Element> {
    private var storage: [Element?] = []
    private var generations: [UInt32] = []
    /// Whether each slot is occupied (kept apart: `storage[slot] != nil` would copy the element).
    private var occupied: [Bool] = []
    private var freeSlots: [UInt32] = []
    private(set) var count = 0

    @inline(__always)
    func isLive(_ handle: SlotHandle) -> Bool {
        let slot = Int(handle.slot)
        return slot < generations.count && generations[slot] == handle.generation && occupied[slot]
    }

    /// Stores `element`; freed slots are reused last-in first-out.
    mutating func insert(_ element: Element) -> SlotHandle {
        count += 1
        if let slot = freeSlots.popLast() {
            storage[Int(slot)] = element
            occupied[Int(slot)] = true
            return SlotHandle(slot: slot, generation: generations[Int(slot)])
        }
        storage.append(element)
        generations.append(0)
        occupied.append(true)
        return SlotHandle(slot: UInt32(storage.count - 1), generation: 0)
    }

    /// Removes the element (its handle goes stale) and returns it; nil for a stale handle.
    @discardableResult
    mutating func remove(_ handle: SlotHandle) -> Element? {
        guard isLive(handle) else { return nil }
        let slot = Int(handle.slot)
        let element = storage[slot].take()
        generations[slot] &+= 1
        occupied[slot] = false
        freeSlots.append(handle.slot)
        count -= 1
        return element
    }

    /// Mutates a live element in place; nil for a stale handle.
    @inline(__always)
    mutating func modify<Result>(_ handle: SlotHandle, _ body: (inout Element) -> Result) -> Result? {
        guard isLive(handle) else { return nil }
        return body(&storage[Int(handle.slot)]!)
    }

    /// Reads a live element in place; nil for a stale handle.
    @inline(__always)
    func read<Result>(_ handle: SlotHandle, _ body: (borrowing Element) -> Result) -> Result? {
        guard isLive(handle) else { return nil }
        return body(storage[Int(handle.slot)]!)
    }
}
