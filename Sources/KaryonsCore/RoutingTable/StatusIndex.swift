/// One list of table slots per ``EntryStatus``, with a back-pointer from each slot to its place in
/// its list.
///
/// It makes the per-status count, the uniform draw of an entry with a given status, and a status
/// change all O(1): removal swaps the last member into the hole and fixes that member's
/// back-pointer. The routing table keeps it in step with its slots; `checkConsistency` verifies it.
struct StatusIndex: Sendable {
    /// `members[status.rawValue]` lists the slots holding entries with that status, in no
    /// particular (but deterministic) order.
    private var members: [[UInt16]]
    /// `positions[slot]` is the slot's index in its status's list (meaningless for vacant slots).
    private var positions: [UInt16]

    init() {
        members = Array(repeating: [], count: EntryStatus.allCases.count)
        positions = []
    }

    /// Makes room for back-pointers of slots `0..<slotCount`.
    mutating func growSlots(to slotCount: Int) {
        if positions.count < slotCount {
            positions.append(contentsOf: repeatElement(0, count: slotCount - positions.count))
        }
    }

    @inline(__always)
    func count(of status: EntryStatus) -> Int { members[Int(status.rawValue)].count }

    /// The number of entries whose status is in `statuses`.
    @inline(__always)
    func count(matching statuses: EntryStatusSet) -> Int {
        var total = 0
        for status in EntryStatus.allCases where statuses.contains(status) { total += count(of: status) }
        return total
    }

    /// The `index`-th slot (0-based) among those with `status`.
    @inline(__always)
    func slot(_ index: Int, of status: EntryStatus) -> Int { Int(members[Int(status.rawValue)][index]) }

    /// The recorded position of `slot` in its status's list.
    func position(of slot: Int) -> Int { Int(positions[slot]) }

    mutating func insert(_ slot: Int, as status: EntryStatus) {
        let list = Int(status.rawValue)
        positions[slot] = UInt16(truncatingIfNeeded: members[list].count)
        members[list].append(UInt16(truncatingIfNeeded: slot))
    }

    mutating func remove(_ slot: Int, from status: EntryStatus) {
        let list = Int(status.rawValue)
        let position = Int(positions[slot])
        let moved = members[list].removeLast()
        if Int(moved) != slot {
            members[list][position] = moved
            positions[Int(moved)] = UInt16(truncatingIfNeeded: position)
        }
    }

    /// Records that the entry in `oldSlot` (with `status`) now lives in `newSlot`.
    mutating func relocate(from oldSlot: Int, to newSlot: Int, status: EntryStatus) {
        let position = Int(positions[oldSlot])
        members[Int(status.rawValue)][position] = UInt16(truncatingIfNeeded: newSlot)
        positions[newSlot] = UInt16(truncatingIfNeeded: position)
    }
}
