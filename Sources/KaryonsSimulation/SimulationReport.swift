import KaryonsCore

/// What a simulated run produced: its digest, final and sampled metrics, traffic, network
/// counters, violations and the liveness verdict. Rendered as a text summary (`summary`), one JSON
/// object (`json`) or an SVG chart (`svgChart`).
public struct SimulationReport: Sendable {
    /// Wall-clock facts the simulator cannot know (it never reads a clock), given by the caller.
    public struct Resources: Hashable, Sendable {
        /// Wall time of the run.
        public var wallSeconds: Double
        /// The process's peak resident memory, if known.
        public var maxResidentBytes: Int?
        /// Wall time from the start of the run to the sample at which the network converged.
        public var convergedWallSeconds: Double?
        /// The process's memory on transparent huge pages at the end of the run, if known.
        public var hugePageBytes: Int?

        public init(
            wallSeconds: Double, maxResidentBytes: Int?, convergedWallSeconds: Double? = nil, hugePageBytes: Int? = nil
        ) {
            self.wallSeconds = wallSeconds
            self.maxResidentBytes = maxResidentBytes
            self.convergedWallSeconds = convergedWallSeconds
            self.hugePageBytes = hugePageBytes
        }
    }

    public var options: SimulationOptions
    /// The command that replays the run.
    public var commandLine: String
    /// Hosts in the run.
    public var nodes: Int
    /// The digest of the whole run (every event, final node states, counters).
    public var digest: UInt64
    /// Virtual time reached.
    public var virtualTime: Duration
    /// True when the run reached its end, or the sample it was asked to stop at
    /// (`stopsWhenConverged`); false when a violation stopped it.
    public var completed: Bool
    /// Virtual time of the first sample at which the network converged (`MetricsSample.isConverged`).
    public var convergedAt: Duration?
    public var samples: [MetricsSample]
    /// The last sample.
    public var final: MetricsSample
    public var traffic: TrafficTotals
    public var network: NetworkCounters
    public var nodeEvents: NodeEventCounts
    public var violations: [Violation]
    public var violationCount: Int
    public var liveness: LivenessResult
    /// Lookups that succeeded over all that ended, over the whole run.
    public var lookupSuccessRate: Double?

    /// The digest as 16 hex digits.
    public var digestHex: String { StableHasher.hex(digest) }

    /// True when no invariant broke and liveness held.
    public var passed: Bool { violationCount == 0 && liveness.passed }

    /// Final verified entries per node over what the tables could hold (0...1; 0 for an empty network).
    public var verifiedShareOfCapacity: Double {
        final.tableCapacityMean > 0 ? final.verifiedEntriesMean / final.tableCapacityMean : 0
    }

    /// Run means of a metric over the samples.
    func mean(_ metric: (MetricsSample) -> Double) -> Double {
        samples.isEmpty ? 0 : samples.map(metric).reduce(0, +) / Double(samples.count)
    }
}

// MARK: - Text summary

extension SimulationReport {
    /// A readable summary: header, final metrics, metrics over time, traffic, network, verdicts
    /// (with the replay command when something failed).
    public func summary(resources: Resources?) -> String {
        var lines: [String] = []
        lines.append(header(resources))
        lines.append("digest \(digestHex)")
        lines.append(convergenceLine(resources))
        lines.append("")
        lines += metricsTable()
        lines.append("")
        lines += timeSeriesTable(rowsMax: 12)
        lines.append("")
        lines += trafficTable()
        lines.append("")
        lines += networkLines(resources)
        lines.append("")
        lines += verdictLines()
        return lines.joined(separator: "\n") + "\n"
    }

    private func header(_ resources: Resources?) -> String {
        var text = "karyons sim: \(nodes) nodes, seed \(options.seed), \(SimulationOptions.format(virtualTime)) virtual"
        if let resources {
            let speed = resources.wallSeconds > 0 ? virtualTime.seconds / resources.wallSeconds : 0
            let rate = resources.wallSeconds > 0 ? Double(network.events) / resources.wallSeconds : 0
            text += " in \(fixed(resources.wallSeconds, 2)) s wall (\(fixed(speed, 1))x), "
                + "\(grouped(network.events)) events (\(grouped(Int(rate)))/s)"
        } else {
            text += ", \(grouped(network.events)) events"
        }
        if !completed { text += " — STOPPED at \(SimulationOptions.format(virtualTime))" }
        return text
    }

    /// When the network converged: at a sample with every node up, one peer-graph component, every
    /// node knowing a verified entry and 90% of what the tables can hold verified.
    func convergenceLine(_ resources: Resources?) -> String {
        let criteria = "every node up, one component, each knowing a verified entry, "
            + "\(percent(MetricsSample.convergedVerifiedShareMin)) of table capacity verified"
        guard let convergedAt else { return "not converged at any sample (\(criteria))" }
        let wall = resources?.convergedWallSeconds.map { ", \(fixed($0, 1)) s wall" } ?? ""
        return "converged at \(SimulationOptions.format(convergedAt)) virtual\(wall) (\(criteria))"
    }

    private func metricsTable() -> [String] {
        let lookups = final.lookupsSucceeded + final.lookupsFailed
        let rows: [(String, String, String)] = [
            ("nodes up", "\(final.nodesUp) / \(nodes)", ""),
            ("routing-table entries / node", fixed(final.routingTableEntriesMean, 1), fixed(mean(\.routingTableEntriesMean), 1)),
            ("verified entries / node", fixed(final.verifiedEntriesMean, 1), fixed(mean(\.verifiedEntriesMean), 1)),
            ("  of what the tables can hold", percent(verifiedShareOfCapacity),
             "capacity " + fixed(final.tableCapacityMean, 1)),
            ("peers / node", fixed(final.peersMean, 1), fixed(mean(\.peersMean), 1)),
            ("outbound slots filled", percent(final.outboundSlotFillMean), percent(mean(\.outboundSlotFillMean))),
            ("inbound slots filled", percent(final.inboundSlotFillMean), percent(mean(\.inboundSlotFillMean))),
            ("lookups (ok / failed)", "\(final.lookupsSucceeded) / \(final.lookupsFailed)",
             lookups == 0 ? "n/a" : percent(Double(final.lookupsSucceeded) / Double(lookups)) + " ok"),
            ("lookup hops (mean)", final.intervalLookupHopsMean.map { fixed($0, 2) } ?? "-",
             traffic.lookupHopsMean.map { fixed($0, 2) } ?? "n/a"),
            ("peer-graph components", "\(final.components)", "largest \(percent(final.largestComponentShare))"),
        ]
        return table(header: ("metric", "final", "run mean"), rows: rows)
    }

    private func timeSeriesTable(rowsMax: Int) -> [String] {
        guard !samples.isEmpty else { return [] }
        let step = max(1, (samples.count + rowsMax - 1) / rowsMax)
        var picked = stride(from: step - 1, to: samples.count, by: step).map { samples[$0] }
        if picked.last?.time != samples.last?.time { picked.append(samples.last!) }
        var lines = ["over virtual time:"]
        lines.append(pad(["time", "up", "entries", "verified", "out", "in", "lookups ok", "hops", "components"], widths: seriesWidths))
        for sample in picked {
            lines.append(pad([
                // To the millisecond: a sample at the liveness window start falls between ticks.
                SimulationOptions.format(Duration(nanoseconds: (sample.time.nanoseconds + 500_000) / 1_000_000 * 1_000_000)),
                "\(sample.nodesUp)",
                fixed(sample.routingTableEntriesMean, 1), fixed(sample.verifiedEntriesMean, 1),
                percent(sample.outboundSlotFillMean), percent(sample.inboundSlotFillMean),
                sample.intervalLookupSuccessRate.map(percent) ?? "-", sample.intervalLookupHopsMean.map { fixed($0, 2) } ?? "-",
                "\(sample.components)",
            ], widths: seriesWidths))
        }
        return lines
    }

    private var seriesWidths: [Int] { [8, 7, 8, 9, 7, 7, 11, 5, 10] }

    private func trafficTable() -> [String] {
        var rows = traffic.framesByKind.filter { $0.count > 0 }.map { ("\($0.kind)", grouped($0.count), "") }
        rows.append(("all frames", grouped(traffic.framesSent), "\(grouped(traffic.bytesSent)) bytes"))
        rows.append(("refresh datagrams", grouped(traffic.datagramsSent), ""))
        rows.append(("peer dials", grouped(traffic.dialsStarted), "\(grouped(traffic.dialsSucceeded)) connected"))
        for kind in DialFailureKind.allCases where traffic.dialFailures.indices.contains(kind.rawValue) {
            let count = traffic.dialFailures[kind.rawValue]
            if count > 0 { rows.append(("  failed: \(kind)", grouped(count), "")) }
        }
        return table(header: ("messages sent", "count", ""), rows: rows)
    }

    private func networkLines(_ resources: Resources?) -> [String] {
        var lines = [
            "network: \(grouped(network.connectsStarted)) connects (\(grouped(network.connectsRefused)) refused, "
                + "\(grouped(network.connectsTimedOut)) timed out), \(grouped(network.connectionsEnded)) ended "
                + "(\(grouped(network.finsDelivered)) ends saw FIN, \(grouped(network.resets)) reset); "
                + "\(grouped(network.bytesDelivered)) bytes delivered",
            "datagrams: \(grouped(network.datagramsSent)) sent, \(grouped(network.datagramsDelivered)) delivered, "
                + "\(grouped(network.datagramsLost)) lost, \(grouped(network.datagramsCut)) cut, "
                + "\(grouped(network.datagramsDuplicated)) duplicated, \(grouped(network.datagramsUnroutable)) unroutable",
            "churn: \(network.leaves) leaves, \(network.crashes) crashes, \(network.restarts) restarts",
        ]
        if let bytes = resources?.maxResidentBytes {
            let perNode = nodes > 0 ? Double(bytes) / Double(nodes) / 1024 : 0
            let huge = resources?.hugePageBytes.map { ", \(fixed(Double($0) / 1_048_576, 1)) MiB on huge pages at the end" } ?? ""
            lines.append("memory: \(fixed(Double(bytes) / 1_048_576, 1)) MiB peak resident (\(fixed(perNode, 1)) KiB per node\(huge))")
        }
        return lines
    }

    private func verdictLines() -> [String] {
        var lines: [String] = []
        if violationCount == 0 {
            let thread = options.checksConcurrently ? ", on a second thread" : ""
            lines.append(options.checksInvariants ? "invariants: OK (checked after every event\(thread))" : "invariants: not checked")
        } else {
            lines.append("invariants: \(violationCount) VIOLATED")
            lines += violations.prefix(10).map { "  \($0)" }
        }
        if let reason = liveness.skippedBecause {
            lines.append("liveness: not judged (\(reason))")
        } else {
            lines.append("liveness: \(liveness.passed ? "OK" : "FAILED") (from \(liveness.windowStart.map { "\($0)" } ?? "-"))")
            lines += liveness.checks.map { "  \($0.passed ? "ok  " : "FAIL") \($0.name): \($0.detail)" }
        }
        if !passed {
            lines.append("seed \(options.seed); replay with:")
            lines.append("  \(commandLine)")
        }
        return lines
    }

    private func table(header: (String, String, String), rows: [(String, String, String)]) -> [String] {
        let first = max(header.0.count, rows.map(\.0.count).max() ?? 0)
        let second = max(header.1.count, rows.map(\.1.count).max() ?? 0)
        func line(_ row: (String, String, String)) -> String {
            let text = row.0.padding(first) + "  " + row.1.leftPadding(second) + (row.2.isEmpty ? "" : "  " + row.2)
            return text
        }
        return [line(header)] + rows.map(line)
    }

    private func pad(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { $0.leftPadding($1) }.joined(separator: " ")
    }
}

// MARK: - Number formatting without Foundation

/// `value` with `decimals` digits after the point.
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled > 0 ? "-" : ""
    guard decimals > 0 else { return sign + "\(whole)" }
    let digits = String(fraction)
    return sign + "\(whole)." + String(repeating: "0", count: max(0, decimals - digits.count)) + digits
}

/// `1234567` as `1,234,567`.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(character)
    }
    return (value < 0 ? "-" : "") + result
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadding(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
