import KaryonsCore
import KaryonsSimulation

/// What a loopback run produced, in the virtual run's types and field names where they apply
/// (`MetricsSample`, `TrafficTotals`, `LivenessResult`; JSON `nodes`, `seed`, `wallSeconds`,
/// `routingTableFillMean`, `verifiedEntriesMean`, `outboundSlotFillMean`, `lookupSuccessRate`,
/// `components`, `messagesSent`, ...), plus what only a real run has: the descriptor budget and
/// peak, and when the network converged. Times are wall time since the run started. A real run is
/// not deterministic, so there is no digest (`digest` and `virtualSeconds` are null in JSON).
public struct LoopbackReport: Sendable {
    public var options: LoopbackOptions
    public var budget: DescriptorBudget
    /// Hosts in the run.
    public var nodes: Int
    /// How far the run went (the last sample's time).
    public var elapsed: Duration
    public var samples: [MetricsSample]
    public var traffic: TrafficTotals
    /// The first sample at which every node ran, the peer graph was one component and every node
    /// knew a verified entry; nil if none.
    public var convergedAt: Duration?
    /// The most descriptors the process had open at a sample, if known.
    public var descriptorsPeak: Int?
    /// Wall time spent taking the samples (measuring every node, checking its invariants), during
    /// which the nodes wait.
    public var samplingTime: Duration
    /// Nodes with no peer at the end, by host index.
    public var isolatedHosts: [Int]
    /// Failed lookups by reason, most frequent first.
    public var lookupFailureReasons: [(reason: String, count: Int)]
    /// Invariant violations found at the samples (the first 100), and how many in all.
    public var violations: [String]
    public var violationCount: Int
    public var liveness: LivenessResult

    /// The last sample.
    public var final: MetricsSample? { samples.last }

    /// Lookups that succeeded over all that ended, over the whole run.
    public var lookupSuccessRate: Double? {
        guard let final, final.lookupsSucceeded + final.lookupsFailed > 0 else { return nil }
        return Double(final.lookupsSucceeded) / Double(final.lookupsSucceeded + final.lookupsFailed)
    }

    /// Whether the process never held more descriptors at a sample than the nodes' budget plus the
    /// reserve (true when the count is unknown). The count is the whole process's: meaningful when
    /// nothing else in the process opens descriptors (`karyons sim --real` fails a run without it).
    public var descriptorsWithinBudget: Bool { (descriptorsPeak ?? 0) <= budget.required + budget.reserved }

    /// True when no invariant broke and liveness held.
    public var passed: Bool { violationCount == 0 && liveness.passed }

    /// The command that runs the same scenario again (a real run is not replayed bit for bit).
    public var commandLine: String { options.commandLine }

    func mean(_ metric: (MetricsSample) -> Double) -> Double {
        samples.isEmpty ? 0 : samples.map(metric).reduce(0, +) / Double(samples.count)
    }
}

// MARK: - Text summary

extension LoopbackReport {
    /// A readable summary: header, convergence, final metrics, metrics over wall time, traffic,
    /// descriptors and memory, verdicts.
    public func summary(resources: SimulationReport.Resources?) -> String {
        var lines = [header(resources), convergenceLine, ""]
        lines += metricsTable()
        lines.append("")
        lines += timeSeriesTable(rowsMax: 12)
        lines.append("")
        lines += trafficTable()
        lines.append("")
        lines += resourceLines(resources)
        lines.append("")
        lines += verdictLines()
        return lines.joined(separator: "\n") + "\n"
    }

    private func header(_ resources: SimulationReport.Resources?) -> String {
        let last = IPAddress.v4(firstAddressValue + UInt32(max(nodes, 1) - 1))
        var text = "karyons sim --real: \(nodes) nodes on \(options.firstAddress)...\(last), one reactor, "
            + "seed \(options.simulation.seed), \(ReportFormat.fixed(elapsed.seconds, 1)) s of "
            + "\(SimulationOptions.format(options.simulation.duration)) wall"
        if let resources { text += " (\(ReportFormat.fixed(resources.wallSeconds, 2)) s in all)" }
        return text
    }

    private var firstAddressValue: UInt32 {
        if case .v4(let value) = options.firstAddress { return value }
        return 0
    }

    private var convergenceLine: String {
        guard let convergedAt else {
            return "not converged: never were all nodes up, in one component, each knowing a verified entry at a sample"
        }
        return "converged after \(ReportFormat.fixed(convergedAt.seconds, 1)) s wall "
            + "(all nodes up, one peer-graph component, every node knows a verified entry)"
    }

    private func metricsTable() -> [String] {
        guard let final else { return ["no sample taken"] }
        let lookups = final.lookupsSucceeded + final.lookupsFailed
        let rows: [(String, String, String)] = [
            ("nodes up", "\(final.nodesUp) / \(nodes)", ""),
            ("routing-table entries / node", ReportFormat.fixed(final.routingTableEntriesMean, 1), ReportFormat.fixed(mean(\.routingTableEntriesMean), 1)),
            ("verified entries / node", ReportFormat.fixed(final.verifiedEntriesMean, 1), ReportFormat.fixed(mean(\.verifiedEntriesMean), 1)),
            ("peers / node", ReportFormat.fixed(final.peersMean, 1), ReportFormat.fixed(mean(\.peersMean), 1)),
            ("outbound slots filled", ReportFormat.percent(final.outboundSlotFillMean), ReportFormat.percent(mean(\.outboundSlotFillMean))),
            ("inbound slots filled", ReportFormat.percent(final.inboundSlotFillMean), ReportFormat.percent(mean(\.inboundSlotFillMean))),
            ("lookups (ok / failed)", "\(final.lookupsSucceeded) / \(final.lookupsFailed)",
             lookups == 0 ? "n/a" : ReportFormat.percent(Double(final.lookupsSucceeded) / Double(lookups)) + " ok"),
            ("lookup hops (mean)", final.intervalLookupHopsMean.map { ReportFormat.fixed($0, 2) } ?? "-",
             traffic.lookupHopsMean.map { ReportFormat.fixed($0, 2) } ?? "n/a"),
            ("peer-graph components", "\(final.components)", "largest \(ReportFormat.percent(final.largestComponentShare))"),
        ]
        var lines = table(header: ("metric", "final", "run mean"), rows: rows)
        if !isolatedHosts.isEmpty {
            lines.append("nodes without a peer at the end: \(isolatedHosts.count) (hosts \(isolatedHosts.prefix(10).map(String.init).joined(separator: ", ")))")
        }
        if !lookupFailureReasons.isEmpty {
            lines.append("lookups failed by reason: " + lookupFailureReasons.prefix(5).map { "\($0.reason) \($0.count)" }.joined(separator: ", "))
        }
        return lines
    }

    private func timeSeriesTable(rowsMax: Int) -> [String] {
        guard !samples.isEmpty else { return [] }
        let step = max(1, (samples.count + rowsMax - 1) / rowsMax)
        var picked = stride(from: step - 1, to: samples.count, by: step).map { samples[$0] }
        if picked.last?.time != samples.last?.time { picked.append(samples.last!) }
        let widths = [8, 7, 8, 9, 7, 7, 11, 10]
        var lines = ["over wall time:", pad(["time", "up", "entries", "verified", "out", "in", "lookups ok", "components"], widths)]
        for sample in picked {
            lines.append(pad([
                ReportFormat.fixed(Duration(nanoseconds: sample.time.nanoseconds).seconds, 1) + "s", "\(sample.nodesUp)",
                ReportFormat.fixed(sample.routingTableEntriesMean, 1), ReportFormat.fixed(sample.verifiedEntriesMean, 1),
                ReportFormat.percent(sample.outboundSlotFillMean), ReportFormat.percent(sample.inboundSlotFillMean),
                sample.intervalLookupSuccessRate.map(ReportFormat.percent) ?? "-", "\(sample.components)",
            ], widths))
        }
        return lines
    }

    private func trafficTable() -> [String] {
        var rows = traffic.framesByKind.filter { $0.count > 0 }.map { ("\($0.kind)", ReportFormat.grouped($0.count), "") }
        rows.append(("all frames", ReportFormat.grouped(traffic.framesSent), "\(ReportFormat.grouped(traffic.bytesSent)) bytes"))
        rows.append(("refresh datagrams", ReportFormat.grouped(traffic.datagramsSent), ""))
        return table(header: ("messages sent", "count", ""), rows: rows)
    }

    private func resourceLines(_ resources: SimulationReport.Resources?) -> [String] {
        var lines = ["descriptors: budget \(budget.summary)"]
        if budget.lookupSlotsLowered {
            let seeds = budget.seedsKeepingLookupSlots
            lines.append("  lookup slots lowered to \(budget.lookupSlots) per direction to fit"
                + (seeds > 0 ? " (the \(seeds) seed\(seeds == 1 ? "" : "s") keep\(seeds == 1 ? "s" : "") theirs)" : "")
                + "; --lookup-slots sets them for every node")
        }
        lines.append("  peak open at a sample: \(descriptorsPeak.map(ReportFormat.grouped) ?? "unknown")"
            + (descriptorsWithinBudget ? "" : " — OVER the budget plus the reserve"))
        if let bytes = resources?.maxResidentBytes {
            let perNode = nodes > 0 ? Double(bytes) / Double(nodes) / 1024 : 0
            lines.append("memory: \(ReportFormat.fixed(Double(bytes) / 1_048_576, 1)) MiB peak resident "
                + "(\(ReportFormat.fixed(perNode, 1)) KiB per node)")
        }
        lines.append("sampling: \(samples.count) samples took \(ReportFormat.fixed(samplingTime.seconds, 2)) s of the loop's time")
        lines.append("links: real loopback TCP and UDP (the virtual link model, partitions and churn do not apply)")
        return lines
    }

    private func verdictLines() -> [String] {
        var lines: [String] = []
        if violationCount == 0 {
            lines.append("invariants: OK (checked on every node at every sample)")
        } else {
            lines.append("invariants: \(violationCount) VIOLATED")
            lines += violations.prefix(10).map { "  \($0)" }
        }
        if let reason = liveness.skippedBecause {
            lines.append("liveness: not judged (\(reason))")
        } else {
            let start = liveness.windowStart.map { ReportFormat.fixed(Duration(nanoseconds: $0.nanoseconds).seconds, 1) + " s" } ?? "-"
            lines.append("liveness: \(liveness.passed ? "OK" : "FAILED") (from \(start), \(SimulationOptions.format(options.simulation.settleTime)) after the last join)")
            lines += liveness.checks.map { "  \($0.passed ? "ok  " : "FAIL") \($0.name): \($0.detail)" }
        }
        if !passed { lines.append("run again with:\n  \(commandLine)") }
        return lines
    }

    private func table(header: (String, String, String), rows: [(String, String, String)]) -> [String] {
        let first = max(header.0.count, rows.map(\.0.count).max() ?? 0)
        let second = max(header.1.count, rows.map(\.1.count).max() ?? 0)
        func line(_ row: (String, String, String)) -> String {
            leftAligned(row.0, first) + "  " + rightAligned(row.1, second) + (row.2.isEmpty ? "" : "  " + row.2)
        }
        return [line(header)] + rows.map(line)
    }

    private func pad(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).map { rightAligned($0, $1) }.joined(separator: " ")
    }

    private func leftAligned(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private func rightAligned(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

// MARK: - JSON

extension LoopbackReport {
    /// One JSON object with the virtual run's field names where they apply, plus `mode: "real"`,
    /// `convergedSeconds` and `descriptors`.
    public func json(resources: SimulationReport.Resources?) -> JSONValue {
        let seed = options.simulation.seed
        var members: [(String, JSONValue)] = [
            ("mode", .string("real")), ("nodes", .int(nodes)),
            ("seed", seed <= UInt64(Int.max) ? .int(Int(seed)) : .string(String(seed))), ("digest", .null),
            ("command", .string(commandLine)), ("virtualSeconds", .null), ("elapsedSeconds", .number(elapsed.seconds)),
            ("wallSeconds", resources.map { .number($0.wallSeconds) } ?? .null),
            ("maxResidentBytes", resources?.maxResidentBytes.map(JSONValue.int) ?? .null),
            ("convergedSeconds", convergedAt.map { .number($0.seconds) } ?? .null),
            ("samplingSeconds", .number(samplingTime.seconds)),
        ]
        if let final { members += metricsJSON(final) }
        members += [
            ("lookupSuccessRate", lookupSuccessRate.map(JSONValue.number) ?? .null),
            ("lookupHops", traffic.lookupHopsMean.map(JSONValue.number) ?? .null),
            ("isolatedHosts", .array(isolatedHosts.map(JSONValue.int))),
            ("lookupFailureReasons", .object(lookupFailureReasons.map { ($0.reason, .int($0.count)) })),
            ("messagesSent", .object(traffic.framesByKind.map { ("\($0.kind)", .int($0.count)) })),
            ("framesSent", .int(traffic.framesSent)), ("bytesSent", .int(traffic.bytesSent)),
            ("datagramsSent", .int(traffic.datagramsSent)),
            ("descriptors", descriptorsJSON),
            ("invariants", .object([
                ("checked", .string("every node at every sample")), ("violationCount", .int(violationCount)),
                ("violations", .array(violations.map(JSONValue.string))),
            ])),
            ("liveness", livenessJSON), ("passed", .bool(passed)),
            ("samples", .array(samples.map { .object(metricsJSON($0, time: true)) })),
        ]
        return .object(members)
    }

    private func metricsJSON(_ sample: MetricsSample, time: Bool = false) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = time ? [("time", .number(Duration(nanoseconds: sample.time.nanoseconds).seconds))] : []
        members += [
            ("nodesUp", .int(sample.nodesUp)), ("routingTableFillMean", .number(sample.routingTableEntriesMean)),
            ("verifiedEntriesMean", .number(sample.verifiedEntriesMean)), ("peersMean", .number(sample.peersMean)),
            ("outboundSlotFillMean", .number(sample.outboundSlotFillMean)),
            ("inboundSlotFillMean", .number(sample.inboundSlotFillMean)),
            ("components", .int(sample.components)), ("largestComponentShare", .number(sample.largestComponentShare)),
            ("lookupsSucceeded", .int(sample.lookupsSucceeded)), ("lookupsFailed", .int(sample.lookupsFailed)),
        ]
        if time {
            members += [
                ("intervalLookupSuccessRate", sample.intervalLookupSuccessRate.map(JSONValue.number) ?? .null),
                ("intervalLookupHopsMean", sample.intervalLookupHopsMean.map(JSONValue.number) ?? .null),
                ("framesSent", .int(sample.framesSent)), ("bytesSent", .int(sample.bytesSent)), ("events", .int(sample.events)),
            ]
        }
        return members
    }

    private var descriptorsJSON: JSONValue {
        let perNode = budget.hosts.map(\.total).max() ?? 0
        return .object([
            ("limit", .int(budget.limit)), ("reserved", .int(budget.reserved)), ("available", .int(budget.available)),
            ("budgeted", .int(budget.required)), ("perNodeMax", .int(perNode)),
            ("lookupSlots", .int(budget.lookupSlots)), ("lookupSlotsLowered", .bool(budget.lookupSlotsLowered)),
            ("seedsKeepingLookupSlots", .int(budget.seedsKeepingLookupSlots)),
            ("peakOpen", descriptorsPeak.map(JSONValue.int) ?? .null),
            ("withinBudget", .bool(descriptorsWithinBudget)),
        ])
    }

    private var livenessJSON: JSONValue {
        .object([
            ("judged", .bool(liveness.skippedBecause == nil)), ("passed", .bool(liveness.passed)),
            ("windowStartSeconds", liveness.windowStart.map { .number(Duration(nanoseconds: $0.nanoseconds).seconds) } ?? .null),
            ("skippedBecause", liveness.skippedBecause.map(JSONValue.string) ?? .null),
            ("checks", .array(liveness.checks.map { check in
                .object([("name", .string(check.name)), ("passed", .bool(check.passed)), ("detail", .string(check.detail))])
            })),
        ])
    }
}

// MARK: - SVG chart

extension LoopbackReport {
    /// The metrics over wall time as an SVG chart (the virtual run's panels, with the convergence
    /// time marked): table fill, slot fill and success rates, components, nodes up, frames per second.
    public func svgChart() -> String {
        var chart = SVGChart(title: "karyons sim --real — \(nodes) nodes, seed \(options.simulation.seed), wall time") { seconds in
            SimulationOptions.format(Duration(seconds: seconds))
        }
        chart.xStart = 0
        chart.xSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600]
        if let convergedAt, let last = final, convergedAt.seconds < Duration(nanoseconds: last.time.nanoseconds).seconds {
            chart.bands = [(convergedAt.seconds, Duration(nanoseconds: last.time.nanoseconds).seconds, "converged")]
        }
        chart.panels = SVGChart.metricsPanels(samples, timeAxis: "wall")
        return chart.render()
    }
}
