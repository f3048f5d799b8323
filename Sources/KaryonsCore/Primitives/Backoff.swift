/// Exponential backoff: `base`, `2·base`, `4·base`, … capped at `max`, with optional jitter.
///
/// A value type the machines keep per retrying activity; `nextDelay` advances it, `reset()` starts
/// over after a success. Jitter (a fraction of the delay drawn from the caller's RNG) spreads retries
/// of many nodes that failed together, without making a simulated run irreproducible.
public struct Backoff: Sendable, Equatable {
    /// The first delay.
    public var base: Duration
    /// The largest delay; once reached, every later delay is `max`.
    public var max: Duration
    /// The fraction (0...1) of each delay that is randomised: the delay is drawn from
    /// `[delay·(1-jitter), delay]`.
    public var jitter: Double
    /// How many delays have been handed out since the last reset.
    public private(set) var attempts: Int = 0

    public init(base: Duration, max: Duration, jitter: Double = 0) {
        precondition(base <= max, "BUG in Karyons: backoff base \(base) above max \(max)")
        self.base = base
        self.max = max
        self.jitter = Swift.min(Swift.max(jitter, 0), 1)
    }

    /// The delay before the next attempt, without jitter (what `nextDelay` would return with jitter 0).
    public var currentDelay: Duration {
        let shift = UInt64(Swift.min(attempts, 62))
        let (scaled, overflow) = base.nanoseconds.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? max : Swift.min(Duration(nanoseconds: scaled), max)
    }

    /// Returns the delay before the next attempt and advances the sequence.
    public mutating func nextDelay(using rng: inout SplitMix64) -> Duration {
        let delay = currentDelay
        attempts += 1
        guard jitter > 0 else { return delay }
        let randomised = Double(delay.nanoseconds) * jitter * rng.unitInterval()
        return delay - Duration(nanoseconds: UInt64(randomised))
    }

    /// Starts the sequence over from `base`.
    public mutating func reset() { attempts = 0 }
}
