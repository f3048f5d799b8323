/// A point on a monotonic timeline, in nanoseconds from an arbitrary origin.
///
/// KaryonsCore never reads a clock: every entry point that needs the time takes an `Instant`
/// as an argument. The reactor feeds `CLOCK_MONOTONIC`; the simulator feeds its virtual clock.
/// Instants from different timelines must not be compared.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the timeline's origin.
    public var nanoseconds: UInt64

    /// Creates an instant `nanoseconds` after the timeline's origin.
    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The origin of the timeline.
    public static let zero = Instant(nanoseconds: 0)

    @inlinable
    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The instant `duration` later. Saturates instead of overflowing.
    @inlinable
    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return Instant(nanoseconds: overflow ? .max : sum)
    }

    /// The instant `duration` earlier, or the origin if that would precede it.
    @inlinable
    public static func - (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds >= rhs.nanoseconds ? lhs.nanoseconds - rhs.nanoseconds : 0)
    }

    /// The time elapsed from `earlier` to `self`; zero if `earlier` is not earlier.
    @inlinable
    public func duration(since earlier: Instant) -> Duration {
        Duration(nanoseconds: nanoseconds >= earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0)
    }

    public var description: String { "t+\(Duration(nanoseconds: nanoseconds))" }
}

/// A non-negative span of time in nanoseconds.
///
/// KaryonsCore's own type (it shadows `Swift.Duration` for importers): unsigned, so a deadline
/// computed from it can never lie in the past by accident, and cheap to add to an `Instant`.
public struct Duration: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The length of the span in nanoseconds.
    public var nanoseconds: UInt64

    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Duration(nanoseconds: 0)

    @inlinable public static func nanoseconds(_ value: UInt64) -> Duration { Duration(nanoseconds: value) }
    @inlinable public static func microseconds(_ value: UInt64) -> Duration { Duration(nanoseconds: value &* 1_000) }
    @inlinable public static func milliseconds(_ value: UInt64) -> Duration { Duration(nanoseconds: value &* 1_000_000) }
    @inlinable public static func seconds(_ value: UInt64) -> Duration { Duration(nanoseconds: value &* 1_000_000_000) }

    /// A span given in (possibly fractional) seconds; negative values become zero.
    public init(seconds value: Double) {
        nanoseconds = value <= 0 ? 0 : UInt64((value * 1e9).rounded())
    }

    /// The span in seconds, for printing and rate arithmetic.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The span in whole milliseconds, rounded up so that a timeout never fires early.
    public var millisecondsRoundedUp: UInt64 { nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1) }

    @inlinable
    public static func < (lhs: Duration, rhs: Duration) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The sum; saturates instead of overflowing.
    @inlinable
    public static func + (lhs: Duration, rhs: Duration) -> Duration {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        return Duration(nanoseconds: overflow ? .max : sum)
    }

    /// The difference, or zero if `rhs` is longer.
    @inlinable
    public static func - (lhs: Duration, rhs: Duration) -> Duration {
        Duration(nanoseconds: lhs.nanoseconds >= rhs.nanoseconds ? lhs.nanoseconds - rhs.nanoseconds : 0)
    }

    /// The span scaled by `factor`; saturates instead of overflowing.
    @inlinable
    public static func * (lhs: Duration, factor: UInt64) -> Duration {
        let (product, overflow) = lhs.nanoseconds.multipliedReportingOverflow(by: factor)
        return Duration(nanoseconds: overflow ? .max : product)
    }

    public var description: String {
        switch nanoseconds {
        case 0: return "0s"
        case ..<1_000: return "\(nanoseconds)ns"
        case ..<1_000_000: return "\(Self.threeDecimals(nanoseconds, unit: 1_000))µs"
        case ..<1_000_000_000: return "\(Self.threeDecimals(nanoseconds, unit: 1_000_000))ms"
        default: return "\(Self.threeDecimals(nanoseconds, unit: 1_000_000_000))s"
        }
    }

    /// Formats `value / unit` with up to three decimals, trailing zeros dropped, without Foundation.
    private static func threeDecimals(_ value: UInt64, unit: UInt64) -> String {
        let whole = value / unit
        let thousandths = (value % unit) * 1_000 / unit
        if thousandths == 0 { return "\(whole)" }
        var fraction = String(thousandths)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}
