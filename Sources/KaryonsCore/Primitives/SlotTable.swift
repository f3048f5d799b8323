/// A handle to an element of a `SlotTable`: a slot index plus the generation of its occupant.
///
/// Late events name the handle they were issued for; once the slot is reused the generation differs
/// and the event is recognised as stale and dropped instead of reaching the new occupant.
public struct SlotHandle: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The index of the slot.
    public var slot: UInt32
    /// The occupant's generation; bumped every time the slot is freed.
    public var generation: UInt32

    public init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    /// Both halves in one word (generation high), e.g. for an epoll token.
    public var rawValue: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    public init(rawValue: UInt64) {
        self.init(slot: UInt32(truncatingIfNeeded: rawValue), generation: UInt32(truncatingIfNeeded: rawValue >> 32))
    }

    public static func < (lhs: SlotHandle, rhs: SlotHandle) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "#\(slot).\(generation)" }
}

/// A generational arena: O(1) insert, lookup and removal by `SlotHandle`, no hashing.
///
/// Freed slots are reused last-in first-out; a handle whose generation no longer matches returns nil.
/// Iteration order is slot order, which is deterministic (the simulator relies on that).
public struct SlotTable<Element> {
    private var elements: [Element?] = []
    private var generations: [UInt32] = []
    /// Whether each slot holds an element. Kept beside `elements` because asking an `Optional` of a
    /// large element whether it is nil calls an outlined tag function; this is a plain load.
    private var occupied: [Bool] = []
    private var freeSlots: [UInt32] = []
    /// The number of live elements.
    public private(set) var count = 0

    public init() {}

    /// Stores `element` and returns its handle.
    public mutating func insert(_ element: Element) -> SlotHandle {
        count += 1
        if let slot = freeSlots.popLast() {
            elements[Int(slot)] = element
            occupied[Int(slot)] = true
            return SlotHandle(slot: slot, generation: generations[Int(slot)])
        }
        elements.append(element)
        generations.append(0)
        occupied.append(true)
        return SlotHandle(slot: UInt32(elements.count - 1), generation: 0)
    }

    /// True if `handle` names a live element.
    public func contains(_ handle: SlotHandle) -> Bool {
        Int(handle.slot) < elements.count && generations[Int(handle.slot)] == handle.generation
            && occupied[Int(handle.slot)]
    }

    /// The element named by `handle`, or nil if it was removed (stale handle).
    public subscript(handle: SlotHandle) -> Element? {
        get { contains(handle) ? elements[Int(handle.slot)] : nil }
        set {
            guard contains(handle) else { return }
            guard let newValue else {
                remove(handle)
                return
            }
            elements[Int(handle.slot)] = newValue
        }
    }

    /// Mutates the element in place, if the handle is live; returns the closure's result.
    public mutating func modify<Result>(_ handle: SlotHandle, _ body: (inout Element) -> Result) -> Result? {
        guard contains(handle) else { return nil }
        return body(&elements[Int(handle.slot)]!)
    }

    /// Removes and returns the element, bumping the slot's generation; nil for a stale handle.
    @discardableResult
    public mutating func remove(_ handle: SlotHandle) -> Element? {
        guard contains(handle) else { return nil }
        let element = elements[Int(handle.slot)]
        elements[Int(handle.slot)] = nil
        occupied[Int(handle.slot)] = false
        generations[Int(handle.slot)] &+= 1
        freeSlots.append(handle.slot)
        count -= 1
        return element
    }

    /// The handles of all live elements, in slot order.
    public var handles: [SlotHandle] {
        elements.indices.compactMap { index in
            !occupied[index] ? nil : SlotHandle(slot: UInt32(index), generation: generations[index])
        }
    }

    /// Calls `body` for each live element, in slot order.
    public func forEach(_ body: (SlotHandle, Element) throws -> Void) rethrows {
        for index in elements.indices {
            if let element = elements[index] {
                try body(SlotHandle(slot: UInt32(index), generation: generations[index]), element)
            }
        }
    }

    /// Calls `body` with the handle of each live element, in slot order. Unlike `forEach`, copies no
    /// element (a hot reader wants `SummarizedSlotTable`'s summaries instead of the subscript).
    public func forEachHandle(_ body: (SlotHandle) throws -> Void) rethrows {
        var remaining = count  // Stop at the last live element: a table keeps its peak size.
        var index = 0
        while remaining > 0 && index < elements.count {
            if occupied[index] {
                remaining -= 1
                try body(SlotHandle(slot: UInt32(index), generation: generations[index]))
            }
            index += 1
        }
    }
}

/// An element whose few hot facts can be read apart from it (`SummarizedSlotTable`).
public protocol Summarized {
    /// Plain values (no references), small.
    associatedtype Summary
    /// The facts, computed from the element.
    var summary: Summary { get }
}

/// A `SlotTable` that keeps each live element's `summary` in a dense array of its own, refreshed
/// after every insert and `modify`: readers that want only the facts (invariant checks after every
/// simulated event, slot counts) touch a few contiguous cache lines instead of one line per element.
/// Elements change only through `modify`, so a summary is always its element's.
public struct SummarizedSlotTable<Element: Summarized> {
    private var table = SlotTable<Element>()
    private var summaries: [Element.Summary?] = []

    public init() {}

    /// The number of live elements.
    public var count: Int { table.count }

    /// Stores `element` and returns its handle.
    public mutating func insert(_ element: Element) -> SlotHandle {
        let summary = element.summary
        let handle = table.insert(element)
        let slot = Int(handle.slot)
        if slot >= summaries.count { summaries.append(contentsOf: repeatElement(nil, count: slot + 1 - summaries.count)) }
        summaries[slot] = summary
        return handle
    }

    /// True if `handle` names a live element.
    public func contains(_ handle: SlotHandle) -> Bool { table.contains(handle) }

    /// The element named by `handle` (a copy), or nil for a stale handle. Setting a live handle's
    /// element replaces it (and its summary); setting nil removes it; a stale handle is ignored.
    public subscript(handle: SlotHandle) -> Element? {
        get { table[handle] }
        set {
            guard table.contains(handle) else { return }
            guard let newValue else {
                remove(handle)
                return
            }
            summaries[Int(handle.slot)] = newValue.summary
            table[handle] = newValue
        }
    }

    /// The summary of the element named by `handle`, or nil for a stale handle.
    public func summary(of handle: SlotHandle) -> Element.Summary? {
        table.contains(handle) ? summaries[Int(handle.slot)] : nil
    }

    /// Mutates the element in place, then refreshes its summary; nil for a stale handle.
    public mutating func modify<Result>(_ handle: SlotHandle, _ body: (inout Element) -> Result) -> Result? {
        guard let (result, summary) = table.modify(handle, { element in (body(&element), element.summary) }) else { return nil }
        summaries[Int(handle.slot)] = summary
        return result
    }

    /// Removes and returns the element; nil for a stale handle.
    @discardableResult
    public mutating func remove(_ handle: SlotHandle) -> Element? {
        guard let element = table.remove(handle) else { return nil }
        summaries[Int(handle.slot)] = nil
        return element
    }

    /// Calls `body` for each live element, in slot order (copies each element).
    public func forEach(_ body: (SlotHandle, Element) throws -> Void) rethrows { try table.forEach(body) }

    /// Calls `body` with the handle of each live element, in slot order.
    public func forEachHandle(_ body: (SlotHandle) throws -> Void) rethrows { try table.forEachHandle(body) }

    /// Calls `body` with the summary of each live element, in slot order.
    public func forEachSummary(_ body: (Element.Summary) throws -> Void) rethrows {
        var remaining = table.count
        for slot in summaries.indices where remaining > 0 {
            guard let summary = summaries[slot] else { continue }
            remaining -= 1
            try body(summary)
        }
    }
}
