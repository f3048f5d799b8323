import Glibc
import KaryonsSimulation
import Synchronization

/// Faults in the heap's fresh memory on a helper thread, so that the simulation's thread does not.
///
/// A large simulation grows its heap to a gigabyte in its first half minute. The kernel zeroes each
/// page at its first touch, and on a virtual machine whose host backs guest memory lazily that
/// touch also traps to the host: in a 10,000-node run, faulting in huge pages was 5-6% of the
/// simulation thread's samples (`clear_page_erms` under `_int_malloc`). The heap grows by moving the
/// program break (one malloc arena, grown `top_pad` at a time: see `HugePageHeap`), and malloc hands
/// out the new memory over the following seconds. So this thread looks at the break every
/// millisecond and populates each newly added range at once (`HeapPopulator`), on the core the
/// simulation does not use. (Without `HugePageHeap`'s single arena, the simulation's thread may
/// allocate from an arena of its own, mapped apart from the break; the prefaulter then has little
/// to do, and costs nothing.)
///
/// The break is read with `sbrk(0)`, which returns glibc's record of it: a word malloc's thread
/// writes when it moves the break, read here whole; a stale value only delays a populate. Memory
/// beyond the break is never touched, so the run's peak memory grows by at most the `top_pad` slack
/// malloc already claimed. `stop()` ends the thread.
///
/// It runs only where it has a core to itself (`hasCoreOfItsOwn`): sharing the second core with the
/// concurrent invariant checker, it slowed checked runs in three alternating pairs of four (by
/// about 3% on average), where unchecked runs gained about 5%.
final class HeapPrefaulter: @unchecked Sendable {
    /// How often the break is looked at: often enough to stay well ahead of a heap that grows tens
    /// of megabytes a second (malloc uses a fresh range over seconds), rare enough to cost nothing.
    static let pollInterval = timespec(tv_sec: 0, tv_nsec: 1_000_000)

    /// True when the machine has a core for the prefaulter beside the simulation's thread and, if
    /// the run checks invariants on a second thread, the checker's.
    static func hasCoreOfItsOwn(_ options: SimulationOptions, processors: Int = SystemResources.processorsOnline) -> Bool {
        let busyThreads = options.checksInvariants && options.checksConcurrently ? 2 : 1
        return processors > busyThreads
    }

    private var thread = pthread_t()
    private let stopping = Atomic<Bool>(false)

    /// Starts watching the break from where it is now; nil if the thread could not start (the run
    /// then goes on without it).
    init?() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<HeapPrefaulter>.fromOpaque(context!).takeRetainedValue().watch()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<HeapPrefaulter>.fromOpaque(context).release()
            return nil
        }
    }

    /// Stops the thread and waits for it (at most one poll interval and one populate).
    func stop() {
        stopping.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }

    private func watch() {
        var populator = HeapPopulator(from: Self.currentBreak())
        var interval = Self.pollInterval
        while !stopping.load(ordering: .relaxed) {
            // A kernel without MADV_POPULATE_WRITE (before Linux 5.14) refuses: stop trying.
            guard populator.populate(upTo: Self.currentBreak()) else { return }
            nanosleep(&interval, nil)
        }
    }

    /// The program break (`sbrk(0)` moves nothing).
    static func currentBreak() -> UInt { UInt(bitPattern: sbrk(0)) }
}

/// Populates a growing range of memory page by page, as a write would, without changing a byte.
///
/// `madvise(MADV_POPULATE_WRITE)` maps every page of the range that is not mapped yet, zeroed, and
/// leaves the pages already mapped as they are, so it is safe on memory another thread is using.
struct HeapPopulator {
    /// `MADV_POPULATE_WRITE` (Linux 5.14; not in Swift's Glibc module).
    static let populateWrite: Int32 = 23
    static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    /// The end of what is populated: the next populate starts here (on a page boundary).
    private(set) var populatedEnd: UInt
    /// Bytes populated so far.
    private(set) var populatedBytes = 0

    /// Starts at `start`, whose page and those below it count as populated (already in use).
    init(from start: UInt) {
        populatedEnd = start & ~(Self.pageSize - 1)
    }

    /// Populates from `populatedEnd` up to `end` when `end` lies beyond it. A range that shrank
    /// (malloc gave memory back) is populated again when it grows back. False if the kernel refused.
    mutating func populate(upTo end: UInt) -> Bool {
        let alignedEnd = end & ~(Self.pageSize - 1)
        guard alignedEnd > populatedEnd else {
            populatedEnd = min(populatedEnd, alignedEnd)
            return true
        }
        let length = Int(alignedEnd - populatedEnd)
        guard madvise(UnsafeMutableRawPointer(bitPattern: populatedEnd), length, Self.populateWrite) == 0 else { return false }
        populatedBytes += length
        populatedEnd = alignedEnd
        return true
    }
}
