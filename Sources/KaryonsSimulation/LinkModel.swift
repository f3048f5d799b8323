import KaryonsCore

/// How packets travel between hosts of the virtual network.
///
/// Every pair of hosts is joined by a link whose one-way base latency is drawn once, uniformly from
/// `latency`, by hashing the pair with the simulation seed (so no per-link state is stored); each
/// packet adds up to `jitter`. TCP is reliable and ordered: a lost segment arrives one
/// retransmission timeout (doubling) later, a lost SYN one SYN timeout (doubling) later.
/// Datagrams are lost, duplicated or delayed past later ones (reordered) with the given probabilities.
public struct LinkConditions: Hashable, Sendable {
    /// One-way base latency of a link, drawn per host pair from this range.
    public var latency: ClosedRange<Duration>
    /// Extra delay of each packet, uniform in `0...jitter`.
    public var jitter: Duration
    /// Probability that one transmission of a packet is lost.
    public var loss: Double
    /// Probability that a datagram is delivered twice.
    public var duplication: Double
    /// Probability that a datagram is held back by up to `reorderingDelay`, so later ones overtake it.
    public var reordering: Double
    /// The longest hold-back of a reordered datagram.
    public var reorderingDelay: Duration
    /// The first retransmission timeout of a lost TCP data segment (doubles per loss).
    public var retransmissionTimeout: Duration
    /// The first retransmission timeout of a lost SYN (doubles per loss; Linux uses 1 s).
    public var synRetransmissionTimeout: Duration
    /// Retransmissions of one packet at most (bounds the loop that draws losses).
    public var retransmissionsMax: Int

    public init(
        latency: ClosedRange<Duration> = .milliseconds(20)...Duration.milliseconds(80),
        jitter: Duration = .milliseconds(5),
        loss: Double = 0,
        duplication: Double = 0,
        reordering: Double = 0,
        reorderingDelay: Duration = .milliseconds(100),
        retransmissionTimeout: Duration = .milliseconds(200),
        synRetransmissionTimeout: Duration = .seconds(1),
        retransmissionsMax: Int = 12
    ) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.duplication = duplication
        self.reordering = reordering
        self.reorderingDelay = reorderingDelay
        self.retransmissionTimeout = retransmissionTimeout
        self.synRetransmissionTimeout = synRetransmissionTimeout
        self.retransmissionsMax = retransmissionsMax
    }
}

/// A split of the hosts into two sides that cannot reach each other from `start` until `end`.
///
/// A host is on the cut-off side when a hash of (seed, partition number, host) falls below
/// `fraction`, so about `fraction` of the hosts are cut off from the rest. Packets sent across the
/// cut are dropped (datagrams, SYNs) or held until the partition heals (TCP data, as retransmission
/// would deliver them).
public struct Partition: Hashable, Sendable, CustomStringConvertible {
    /// The share of hosts on the cut-off side, in 0...1.
    public var fraction: Double
    /// When the partition begins.
    public var start: Instant
    /// When it heals.
    public var end: Instant

    public init(fraction: Double, start: Instant, end: Instant) {
        self.fraction = fraction
        self.start = start
        self.end = end
    }

    public var description: String {
        "\(Int((fraction * 100).rounded()))%@\(Duration(nanoseconds: start.nanoseconds))..\(Duration(nanoseconds: end.nanoseconds))"
    }
}

/// The pure functions of the link conditions and partitions: latency per pair, cuts over time.
struct LinkModel {
    let seed: UInt64
    let conditions: LinkConditions
    let partitions: [Partition]

    /// The fixed one-way latency of the link between two hosts (symmetric).
    func baseLatency(_ a: Int, _ b: Int) -> Duration {
        let lower = conditions.latency.lowerBound.nanoseconds
        let span = conditions.latency.upperBound.nanoseconds - lower
        guard span > 0 else { return conditions.latency.lowerBound }
        let pair = UInt64(min(a, b)) << 32 | UInt64(max(a, b))
        let draw = mix64(seed ^ 0x6C69_6E6B ^ mix64(pair))
        return Duration(nanoseconds: lower + draw % (span + 1))
    }

    /// True when host `host` is on the cut-off side of partition number `index`.
    func isCutOff(_ host: Int, partition index: Int) -> Bool {
        let draw = mix64(seed ^ 0x7061_7274 ^ mix64(UInt64(index) << 40 | UInt64(host)))
        return Double(draw >> 11) * 0x1.0p-53 < partitions[index].fraction
    }

    /// True when some partition separates `a` and `b` at `time`.
    func isCut(_ a: Int, _ b: Int, at time: Instant) -> Bool {
        for index in partitions.indices {
            let partition = partitions[index]
            if time >= partition.start && time < partition.end && isCutOff(a, partition: index) != isCutOff(b, partition: index) {
                return true
            }
        }
        return false
    }

    /// The first instant at or after `time` when no partition separates `a` and `b`.
    func firstOpenInstant(_ a: Int, _ b: Int, from time: Instant) -> Instant {
        var candidate = time
        // Each pass moves past at least one partition's end, so the loop ends within `partitions.count + 1` passes.
        for _ in 0...partitions.count {
            var moved = false
            for index in partitions.indices {
                let partition = partitions[index]
                if candidate >= partition.start && candidate < partition.end
                    && isCutOff(a, partition: index) != isCutOff(b, partition: index) {
                    candidate = partition.end
                    moved = true
                }
            }
            if !moved { return candidate }
        }
        return candidate
    }

    /// The partitions' start and end instants, in order (for phase-aware metrics and checks).
    var lastHeal: Instant? { partitions.map(\.end).max() }
}

/// The SplitMix64 finalizer: a bijective mix of one word, for stateless per-key draws.
@inline(__always)
func mix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
