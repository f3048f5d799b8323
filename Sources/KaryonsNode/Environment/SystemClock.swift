#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// The real monotonic clock, `CLOCK_MONOTONIC`, as KaryonsCore `Instant`s.
///
/// The only place in the engine that reads the time; everything else receives `now` as an argument.
/// Monotonic, so a wall-clock jump never makes a timer fire early or late.
public enum SystemClock {
    /// The current monotonic time.
    public static func now() -> Instant {
        var spec = timespec()
        let result = clock_gettime(CLOCK_MONOTONIC, &spec)
        precondition(result == 0, "BUG in Karyons: clock_gettime(CLOCK_MONOTONIC) failed")
        return Instant(nanoseconds: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
    }
}

/// Seeds for the core's `SplitMix64`, from the kernel's entropy pool (`getrandom`).
///
/// The only place in the engine that reads system randomness.
public enum SystemEntropy {
    /// A fresh 64-bit seed.
    public static func seed() -> UInt64 {
        var value: UInt64 = 0
        let count = withUnsafeMutableBytes(of: &value) { buffer in
            getrandom(buffer.baseAddress, buffer.count, 0)
        }
        precondition(count == MemoryLayout<UInt64>.size, "BUG in Karyons: getrandom returned \(count)")
        return value
    }
}
