import KaryonsCore

/// Everything that defines a simulated run of many `NodeCore`s; the same options and seed give the
/// same run bit for bit. `commandLine` prints the `karyons sim` command that replays it.
public struct SimulationOptions: Hashable, Sendable {
    /// A predefined topology instead of `nodes` uniform nodes.
    public enum Preset: String, Hashable, Sendable, CaseIterable {
        /// The original's 12-peer simulation (karyons-behaviour.md §9).
        case seed12
    }

    /// How hosts get their addresses.
    public enum AddressPlan: Hashable, Sendable {
        /// 127.0.0.1, 127.0.0.2, ... (subnet-diversity limits never apply between loopback addresses,
        /// as in a local run).
        case loopback
        /// Public-looking addresses from 20.0.0.0 on, `hostsPerSubnet` hosts per /24 (diversity
        /// limits apply).
        case publicSubnets(hostsPerSubnet: Int)
    }

    /// Nodes in the network (ignored by a preset, which fixes its own count).
    public var nodes = 1000
    /// The simulation seed: node IDs, node seeds, link latencies, losses, partition sides, churn.
    public var seed: UInt64 = 1
    /// Virtual time to simulate.
    public var duration: Duration = .seconds(600)
    /// Link latency range (one-way base latency per host pair).
    public var latency: ClosedRange<Duration> = .milliseconds(20)...Duration.milliseconds(80)
    /// Extra delay per packet, up to this much.
    public var jitter: Duration = .milliseconds(5)
    /// Probability that one transmission of a packet is lost.
    public var loss = 0.0
    /// Probability that a datagram is duplicated.
    public var duplication = 0.0
    /// Probability that a datagram is held back (reordered).
    public var reordering = 0.0
    /// Share of the non-seed nodes going down per virtual minute.
    public var churn = 0.0
    /// Partitions, each healing at its end.
    public var partitions: [Partition] = []
    /// A predefined topology.
    public var preset: Preset?
    /// Seed nodes (bootstrap endpoints of everyone else, never churned); nil picks 1 per 100 nodes,
    /// 1...8, and beyond 10,000 nodes 1 per 1,250 (`seedNodesDefault(for:)`).
    public var seedNodes: Int?
    /// Non-seed nodes start spread over this window; nil picks 100 ms per node, at most 60 s.
    public var joinWindow: Duration?
    /// How often metrics are sampled.
    public var sampleInterval: Duration = .seconds(10)
    /// How hosts get their addresses.
    public var addresses = AddressPlan.loopback
    /// Check every node's invariants after every event (the default; off only for speed).
    public var checksInvariants = true
    /// Run those checks on a second thread, beside the network (`NetworkConfiguration.checksConcurrently`):
    /// the same run, faster on a machine with a core to spare.
    public var checksConcurrently = false
    /// End the run at the first sample at which the network converged (`MetricsSample.isConverged`).
    public var stopsWhenConverged = false
    /// How long after the last partition heals (or the last node joins) liveness is judged.
    public var settleTime: Duration = .seconds(60)
    /// Liveness: lookups in the judged window that must succeed (when there were any).
    public var lookupSuccessMin = 0.9
    /// Liveness: share of the settled live nodes that must be in the peer graph's largest component.
    public var largestComponentMin = 0.95

    public init() {}

    /// The number of nodes the run will have.
    public var nodeCount: Int {
        switch preset {
        case .seed12: return 12
        case nil: return nodes
        }
    }

    /// The seed nodes used by the uniform topology.
    public var effectiveSeedNodes: Int { min(nodeCount, seedNodes ?? Self.seedNodesDefault(for: nodeCount)) }

    /// Nodes per seed beyond which a larger network gets more seeds. Every joiner's first lookup goes
    /// through a seed, and a seed's 20 lookup slots serve about 100 exchanges a second: 1,250 joiners
    /// per seed over the 60 s join window is about 21 a second per seed, the load the 10,000-node
    /// default (8 seeds) carries. With 8 seeds for 100,000 nodes (210 joins a second per seed) the
    /// seeds turned most lookups away as busy for two minutes after the last join.
    public static let nodesPerSeedMax = 1_250

    /// The default seed count for `nodes` nodes: 1 per 100, 1...8, and at least 1 per `nodesPerSeedMax`.
    public static func seedNodesDefault(for nodes: Int) -> Int {
        max(min(8, max(1, nodes / 100)), nodes / nodesPerSeedMax)
    }

    /// The join window used by the uniform topology.
    public var effectiveJoinWindow: Duration {
        joinWindow ?? min(.seconds(60), .milliseconds(100) * UInt64(max(0, nodeCount - effectiveSeedNodes)))
    }

    /// The `karyons sim` command that replays this run (defaults omitted).
    public var commandLine: String {
        let defaults = SimulationOptions()
        var words = ["karyons", "sim"]
        if let preset { words += ["--preset", preset.rawValue] } else { words += ["--nodes", "\(nodes)"] }
        words += ["--seed", "\(seed)", "--duration", Self.format(duration)]
        if latency != defaults.latency { words += ["--latency", Self.format(latency)] }
        if jitter != defaults.jitter { words += ["--jitter", Self.format(jitter)] }
        if loss != defaults.loss { words += ["--loss", "\(loss)"] }
        if duplication != defaults.duplication { words += ["--duplication", "\(duplication)"] }
        if reordering != defaults.reordering { words += ["--reordering", "\(reordering)"] }
        if churn != defaults.churn { words += ["--churn", "\(churn)"] }
        for partition in partitions { words += ["--partition", Self.format(partition)] }
        if let seedNodes { words += ["--seeds", "\(seedNodes)"] }
        if let joinWindow { words += ["--join", Self.format(joinWindow)] }
        if sampleInterval != defaults.sampleInterval { words += ["--sample", Self.format(sampleInterval)] }
        switch addresses {
        case .loopback: break
        case .publicSubnets(let perSubnet): words += ["--addresses", "public", "--hosts-per-subnet", "\(perSubnet)"]
        }
        if !checksInvariants { words.append("--no-invariants") }
        if settleTime != defaults.settleTime { words += ["--settle", Self.format(settleTime)] }
        if stopsWhenConverged { words.append("--until-converged") }
        return words.joined(separator: " ")
    }
}

/// A malformed option value, with what was expected.
public struct OptionParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Parsing and formatting option values

extension SimulationOptions {
    /// The longest option text parsed (bad input gets an error, never a long scan).
    public static let optionTextLengthMax = 256

    /// Parses a duration: one or more `<number><unit>` parts, units `ns`, `us`, `ms`, `s`, `m`, `h`
    /// (`10m`, `2m30s`, `1.5s`, `250ms`); a bare `0` is zero.
    public static func parseDuration(_ text: String) throws(OptionParseError) -> Duration {
        let trimmed = Array(text.utf8.filter { $0 != UInt8(ascii: " ") })
        guard !trimmed.isEmpty, trimmed.count <= optionTextLengthMax else { throw OptionParseError("empty or too long duration '\(text)'") }
        if trimmed == [UInt8(ascii: "0")] { return .zero }
        var total = Duration.zero
        var index = 0
        while index < trimmed.count {
            let numberStart = index
            while index < trimmed.count, isDigit(trimmed[index]) || trimmed[index] == UInt8(ascii: ".") { index += 1 }
            guard index > numberStart, let value = Double(String(decoding: trimmed[numberStart..<index], as: UTF8.self)) else {
                throw OptionParseError("bad duration '\(text)' (expected e.g. 10m, 2m30s, 250ms)")
            }
            let unitStart = index
            while index < trimmed.count, !isDigit(trimmed[index]) && trimmed[index] != UInt8(ascii: ".") { index += 1 }
            let unit = String(decoding: trimmed[unitStart..<index], as: UTF8.self)
            guard let scale = unitSeconds[unit] else { throw OptionParseError("bad duration unit '\(unit)' in '\(text)' (ns, us, ms, s, m, h)") }
            guard value * scale < 1e9 else { throw OptionParseError("duration '\(text)' is too long") }
            total = total + Duration(seconds: value * scale)
        }
        return total
    }

    private static let unitSeconds: [String: Double] = ["ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600]

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Parses a latency range `min..max` (`20ms..80ms`) or one fixed value (`50ms`).
    public static func parseLatency(_ text: String) throws(OptionParseError) -> ClosedRange<Duration> {
        try parseRange(text, naming: "latency range")
    }

    private static func parseRange(_ text: String, naming what: String) throws(OptionParseError) -> ClosedRange<Duration> {
        let parts = text.split(separator: "..", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let lower = try parseDuration(parts[0])
        let upper = parts.count == 2 ? try parseDuration(parts[1]) : lower
        guard lower <= upper else { throw OptionParseError("\(what) '\(text)' is reversed") }
        return lower...upper
    }

    /// Parses a probability: `0.1` or `10%`, in 0...1.
    public static func parseProbability(_ text: String) throws(OptionParseError) -> Double {
        let isPercent = text.hasSuffix("%")
        guard text.utf8.count <= 32, let value = Double(isPercent ? String(text.dropLast()) : text) else {
            throw OptionParseError("bad probability '\(text)' (expected e.g. 0.1 or 10%)")
        }
        let probability = isPercent ? value / 100 : value
        guard probability >= 0 && probability <= 1 else { throw OptionParseError("probability '\(text)' is not in 0...1") }
        return probability
    }

    /// Parses a partition `50%@2m..5m`: the share of nodes cut off, from the start to the end time.
    public static func parsePartition(_ text: String) throws(OptionParseError) -> Partition {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw OptionParseError("bad partition '\(text)' (expected e.g. 50%@2m..5m)") }
        let fraction = try parseProbability(parts[0])
        let window = try parseRange(parts[1], naming: "partition window")
        guard window.lowerBound < window.upperBound else { throw OptionParseError("partition '\(text)' must end after it starts") }
        return Partition(
            fraction: fraction, start: Instant(nanoseconds: window.lowerBound.nanoseconds),
            end: Instant(nanoseconds: window.upperBound.nanoseconds))
    }

    /// A duration in the form `parseDuration` reads back (`10m`, `2m30s`, `250ms`).
    public static func format(_ duration: Duration) -> String {
        var remaining = duration.nanoseconds
        if remaining == 0 { return "0" }
        var text = ""
        for (unit, size) in [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)] as [(String, UInt64)] {
            if remaining >= size {
                text += "\(remaining / size)\(unit)"
                remaining %= size
            }
        }
        return text
    }

    /// `min..max` (or one value when they are equal).
    public static func format(_ range: ClosedRange<Duration>) -> String {
        range.lowerBound == range.upperBound ? format(range.lowerBound) : "\(format(range.lowerBound))..\(format(range.upperBound))"
    }

    /// `50%@2m..5m`.
    public static func format(_ partition: Partition) -> String {
        let percent = partition.fraction * 100
        let share = percent == percent.rounded() ? "\(Int(percent))%" : "\(partition.fraction)"
        return "\(share)@\(format(Duration(nanoseconds: partition.start.nanoseconds)))..\(format(Duration(nanoseconds: partition.end.nanoseconds)))"
    }
}

/// Limits of a simulated run.
public enum SimulationLimits {
    /// The most nodes a run may have (addresses stay inside 127.0.0.0/8 and below 100.0.0.0 for
    /// `--addresses public`; memory is the practical limit long before).
    public static let nodesMax = 1_000_000
}
