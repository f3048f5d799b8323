#if canImport(Glibc)
import Glibc
#endif

/// Counts heap allocations (`malloc`, `calloc`, `realloc`, `posix_memalign`, ...) of the whole
/// process, every thread included, through ordo-one's malloc interposer.
///
/// The interposer must be preloaded (`LD_PRELOAD=.../libMallocInterposerSwift.so`, which the
/// Benchmarks package builds next to its executables); its entry points are looked up at run time,
/// so nothing links against it and, without the preload, `isAvailable` is false and nothing is
/// counted. `bench-compare` runs its allocation pass in a child process with the preload, so the
/// timed runs never pay for the interposer.
public enum AllocationCounter {
    private typealias Toggle = @convention(c) () -> Void
    private typealias Statistics = @convention(c) (
        UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>,
        UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>
    ) -> Void

    private struct EntryPoints: @unchecked Sendable {
        let enable: Toggle
        let disable: Toggle
        let reset: Toggle
        let statistics: Statistics
    }

    private static let entryPoints: EntryPoints? = {
        func lookUp(_ name: String) -> UnsafeMutableRawPointer? { dlsym(nil, name) }
        guard let enable = lookUp("malloc_interposer_enable"), let disable = lookUp("malloc_interposer_disable"),
            let reset = lookUp("malloc_interposer_reset"), let statistics = lookUp("malloc_interposer_get_stats"),
            lookUp("malloc_interposer_global_hooks_installed") != nil
        else { return nil }
        return EntryPoints(
            enable: unsafeBitCast(enable, to: Toggle.self), disable: unsafeBitCast(disable, to: Toggle.self),
            reset: unsafeBitCast(reset, to: Toggle.self), statistics: unsafeBitCast(statistics, to: Statistics.self))
    }()

    /// The file name of the interposer library the Benchmarks package builds.
    public static let libraryName = "libMallocInterposerSwift.so"

    /// Whether the interposer is loaded (the process was started with it preloaded).
    public static var isAvailable: Bool { entryPoints != nil }

    /// Runs `body` with counting on; returns its result and the allocations made meanwhile by every
    /// thread of the process (nil when the interposer is not loaded).
    public static func counting<Result, Failure: Error>(
        _ body: () throws(Failure) -> Result
    ) throws(Failure) -> (result: Result, allocations: Int64?) {
        guard let entryPoints else { return (try body(), nil) }
        entryPoints.reset()
        entryPoints.enable()
        let result: Result
        do {
            result = try body()
        } catch {
            entryPoints.disable()
            throw error
        }
        entryPoints.disable()
        var count: Int64 = 0, bytes: Int64 = 0, small: Int64 = 0, large: Int64 = 0, frees: Int64 = 0
        var freedBytes: Int64 = 0
        entryPoints.statistics(&count, &bytes, &small, &large, &frees, &freedBytes)
        return (result, count)
    }
}
