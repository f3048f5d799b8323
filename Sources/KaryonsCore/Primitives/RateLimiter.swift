/// A token bucket: holds up to `capacity` tokens, refilled continuously at `refillPerSecond`.
///
/// Time is an input; the bucket never reads a clock.
public struct TokenBucket: Sendable, Equatable {
    /// The most tokens the bucket holds (the burst).
    public let capacity: Double
    /// Tokens added per second.
    public let refillPerSecond: Double
    private var tokens: Double
    private var updated: Instant

    /// A full bucket as of `now`.
    public init(capacity: Double, refillPerSecond: Double, now: Instant) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.tokens = capacity
        self.updated = now
    }

    /// Takes one token if there is one; false means the caller must drop the request.
    public mutating func take(now: Instant) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// True once the bucket has refilled completely, so its state carries no information.
    public func isFull(now: Instant) -> Bool {
        tokens + now.duration(since: updated).seconds * refillPerSecond >= capacity
    }

    private mutating func refill(now: Instant) {
        guard now > updated else { return }
        tokens = Swift.min(capacity, tokens + now.duration(since: updated).seconds * refillPerSecond)
        updated = now
    }
}

/// Per-source token buckets with a bounded number of tracked sources.
///
/// Used for incoming UDP refresh pings: each source IP gets its own bucket. A flood of spoofed
/// sources cannot grow memory without bound: at `sourcesMax` tracked sources, buckets that have
/// refilled completely are forgotten first (they carry no state), and if none has, the new source
/// is refused, so the limiter fails closed under a spoofing flood.
public struct RateLimiter<Source: Hashable>: Sendable where Source: Sendable {
    /// The burst each source may send.
    public let capacity: Double
    /// The sustained rate each source may send at, per second.
    public let refillPerSecond: Double
    /// The most sources tracked at once.
    public let sourcesMax: Int
    private var buckets: [Source: TokenBucket] = [:]

    public init(capacity: Double, refillPerSecond: Double, sourcesMax: Int) {
        precondition(sourcesMax > 0, "BUG in Karyons: a rate limiter must track at least one source")
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.sourcesMax = sourcesMax
    }

    /// The number of sources currently tracked.
    public var trackedSources: Int { buckets.count }

    /// True if `source` may be served now (and charges it one token).
    public mutating func allow(_ source: Source, now: Instant) -> Bool {
        if buckets[source] == nil {
            if buckets.count >= sourcesMax { forgetFullBuckets(now: now) }
            guard buckets.count < sourcesMax else { return false }
            buckets[source] = TokenBucket(capacity: capacity, refillPerSecond: refillPerSecond, now: now)
        }
        return buckets[source]!.take(now: now)
    }

    private mutating func forgetFullBuckets(now: Instant) {
        buckets = buckets.filter { !$0.value.isFull(now: now) }
    }
}
