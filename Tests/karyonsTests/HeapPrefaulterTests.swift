import Glibc
import KaryonsSimulation
import Testing

@testable import karyons

/// Populating fresh memory ahead of the simulation (`HeapPopulator`, `HeapPrefaulter`), on a private
/// anonymous mapping: nothing in it is resident until touched, so residency shows what was populated.
@Suite struct HeapPrefaulterTests {
    static let mappingSize = 4 << 20

    /// A fresh private mapping, unmapped after `body`.
    func withFreshMapping(_ body: (UnsafeMutableRawPointer) throws -> Void) throws {
        let mapping = try #require(mmap(nil, Self.mappingSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(mapping != MAP_FAILED)
        // Page by page, whatever the machine's THP mode (15: MADV_NOHUGEPAGE).
        madvise(mapping, Self.mappingSize, 15)
        defer { munmap(mapping, Self.mappingSize) }
        try body(mapping)
    }

    /// How many pages of `[start, start + length)` are resident.
    func residentPages(_ start: UnsafeMutableRawPointer, _ length: Int) -> Int {
        let pages = (length + Int(HeapPopulator.pageSize) - 1) / Int(HeapPopulator.pageSize)
        var residency = [UInt8](repeating: 0, count: pages)
        let result = mincore(start, length, &residency)
        precondition(result == 0, "mincore failed: \(errno)")
        return residency.filter { $0 & 1 == 1 }.count
    }

    /// `populator.populate(upTo:)`, callable inside `#expect`.
    func populate(_ populator: inout HeapPopulator, upTo end: UInt) -> Bool { populator.populate(upTo: end) }

    @Test func populatesEveryPageOfTheRangeAndChangesNoByte() throws {
        try withFreshMapping { mapping in
            let pageSize = Int(HeapPopulator.pageSize)
            let allPages = Self.mappingSize / pageSize
            mapping.storeBytes(of: 0xAB, toByteOffset: 2 * pageSize + 7, as: UInt8.self)
            #expect(residentPages(mapping, Self.mappingSize) < allPages)

            var populator = HeapPopulator(from: UInt(bitPattern: mapping))
            #expect(populate(&populator, upTo: UInt(bitPattern: mapping) + UInt(Self.mappingSize)))

            #expect(residentPages(mapping, Self.mappingSize) == allPages)
            #expect(populator.populatedBytes == Self.mappingSize)
            #expect(mapping.load(fromByteOffset: 2 * pageSize + 7, as: UInt8.self) == 0xAB)
            #expect(mapping.load(fromByteOffset: 3 * pageSize, as: UInt8.self) == 0)
        }
    }

    @Test func followsTheEndAsItGrowsShrinksAndGrowsBack() throws {
        try withFreshMapping { mapping in
            let start = UInt(bitPattern: mapping)
            let page = HeapPopulator.pageSize
            var populator = HeapPopulator(from: start + 5)  // within the first page: it counts as in use
            #expect(populator.populatedEnd == start)

            // An end within a page populates up to that page; the page itself waits for the next.
            #expect(populate(&populator, upTo: start + 8 * page + 100))
            #expect(populator.populatedEnd == start + 8 * page)
            #expect(populator.populatedBytes == Int(8 * page))
            #expect(residentPages(mapping, Self.mappingSize) == 8)

            // Nothing new: nothing done.
            #expect(populate(&populator, upTo: start + 8 * page))
            #expect(populator.populatedBytes == Int(8 * page))

            // The end fell back (malloc trimmed its heap), then grew again: populated from there.
            #expect(populate(&populator, upTo: start + 4 * page))
            #expect(populator.populatedEnd == start + 4 * page)
            #expect(populate(&populator, upTo: start + 12 * page))
            #expect(populator.populatedEnd == start + 12 * page)
            #expect(populator.populatedBytes == Int(16 * page))
            #expect(residentPages(mapping, Self.mappingSize) == 12)
        }
    }

    @Test func theKernelRefusingIsReported() {
        // An unmapped range cannot be populated: the watcher stops instead of retrying forever.
        var populator = HeapPopulator(from: HeapPopulator.pageSize)
        #expect(!populate(&populator, upTo: 4 * HeapPopulator.pageSize))
        #expect(populator.populatedBytes == 0)
    }

    @Test func itRunsOnlyOnACoreOfItsOwn() {
        var options = SimulationOptions()
        options.checksInvariants = true
        options.checksConcurrently = true
        #expect(!HeapPrefaulter.hasCoreOfItsOwn(options, processors: 2))
        #expect(HeapPrefaulter.hasCoreOfItsOwn(options, processors: 3))
        options.checksConcurrently = false
        #expect(HeapPrefaulter.hasCoreOfItsOwn(options, processors: 2))
        options.checksInvariants = false
        options.checksConcurrently = true
        #expect(HeapPrefaulter.hasCoreOfItsOwn(options, processors: 2))
        #expect(!HeapPrefaulter.hasCoreOfItsOwn(options, processors: 1))
    }

    @Test func thePrefaulterStartsAndStops() throws {
        let prefaulter = try #require(HeapPrefaulter())
        prefaulter.stop()
        #expect(HeapPrefaulter.currentBreak() > 0)
    }
}
