import KaryonsCore

/// A JSON value, written by hand (KaryonsSimulation does not use Foundation). Object members keep
/// their order, so the output of a run is stable.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.serialized() == rhs.serialized() }
    public func hash(into hasher: inout Hasher) { hasher.combine(serialized()) }

    /// Compact JSON text. Non-finite numbers become `null`.
    public func serialized() -> String {
        var output = ""
        write(into: &output)
        return output
    }

    private func write(into output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .int(let value): output += String(value)
        case .number(let value): output += value.isFinite ? Self.format(value) : "null"
        case .string(let value): Self.writeString(value, into: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(into: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, into: &output)
                output += ":"
                value.write(into: &output)
            }
            output += "}"
        }
    }

    /// Swift's shortest round-trip form is valid JSON for finite values ("0.1", "1e-05", "12.0").
    private static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    private static func writeString(_ value: String, into output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}

extension SimulationReport {
    /// One JSON object: the run's identity (nodes, seed, digest, command), times, final metrics
    /// (the names the issue asks for), traffic, network counters, verdicts and the sampled series.
    public func json(resources: Resources?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("nodes", .int(nodes)), ("seed", options.seed <= UInt64(Int.max) ? .int(Int(options.seed)) : .string(String(options.seed))), ("digest", .string(digestHex)),
            ("command", .string(commandLine)), ("completed", .bool(completed)),
            ("virtualSeconds", .number(virtualTime.seconds)),
            ("wallSeconds", resources.map { .number($0.wallSeconds) } ?? .null),
            ("convergedAtSeconds", convergedAt.map { .number($0.seconds) } ?? .null),
            ("convergedWallSeconds", resources?.convergedWallSeconds.map(JSONValue.number) ?? .null),
            ("events", .int(network.events)),
            ("eventsPerWallSecond", resources.map { $0.wallSeconds > 0 ? .number(Double(network.events) / $0.wallSeconds) : .null } ?? .null),
            ("maxResidentBytes", resources?.maxResidentBytes.map(JSONValue.int) ?? .null),
            ("hugePageBytes", resources?.hugePageBytes.map(JSONValue.int) ?? .null),
            ("nodesUp", .int(final.nodesUp)),
            ("routingTableFillMean", .number(final.routingTableEntriesMean)),
            ("verifiedEntriesMean", .number(final.verifiedEntriesMean)),
            ("tableCapacityMean", .number(final.tableCapacityMean)),
            ("verifiedShareOfCapacity", .number(verifiedShareOfCapacity)),
            ("peersMean", .number(final.peersMean)),
            ("outboundSlotFillMean", .number(final.outboundSlotFillMean)),
            ("inboundSlotFillMean", .number(final.inboundSlotFillMean)),
            ("lookupSuccessRate", lookupSuccessRate.map(JSONValue.number) ?? .null),
            ("lookupsSucceeded", .int(final.lookupsSucceeded)), ("lookupsFailed", .int(final.lookupsFailed)),
            ("lookupHops", traffic.lookupHopsMean.map(JSONValue.number) ?? .null),
            ("dials", .object([
                ("started", .int(traffic.dialsStarted)), ("succeeded", .int(traffic.dialsSucceeded)),
                ("failed", .object(DialFailureKind.allCases.map { kind in
                    (kind.name, .int(traffic.dialFailures.indices.contains(kind.rawValue) ? traffic.dialFailures[kind.rawValue] : 0))
                })),
            ])),
            ("components", .int(final.components)), ("largestComponentShare", .number(final.largestComponentShare)),
            ("messagesSent", .object(traffic.framesByKind.map { ("\($0.kind)", .int($0.count)) })),
            ("framesSent", .int(traffic.framesSent)), ("bytesSent", .int(traffic.bytesSent)),
            ("datagramsSent", .int(traffic.datagramsSent)),
        ]
        members.append(("network", networkJSON))
        members.append(("invariants", .object([
            ("checked", .bool(options.checksInvariants)),
            ("onSecondThread", .bool(options.checksInvariants && options.checksConcurrently)),
            ("violationCount", .int(violationCount)),
            ("violations", .array(violations.map { violation in
                .object([
                    ("time", .number(Duration(nanoseconds: violation.time.nanoseconds).seconds)),
                    ("host", violation.host.map(JSONValue.int) ?? .null), ("message", .string(violation.message)),
                ])
            })),
        ])))
        members.append(("liveness", livenessJSON))
        members.append(("passed", .bool(passed)))
        members.append(("samples", .array(samples.map(sampleJSON))))
        return .object(members)
    }

    private var networkJSON: JSONValue {
        .object([
            ("connectsStarted", .int(network.connectsStarted)), ("connectsAccepted", .int(network.connectsAccepted)),
            ("connectsRefused", .int(network.connectsRefused)), ("connectsTimedOut", .int(network.connectsTimedOut)),
            ("connectionsEnded", .int(network.connectionsEnded)), ("resets", .int(network.resets)), ("finsDelivered", .int(network.finsDelivered)),
            ("bytesDelivered", .int(network.bytesDelivered)), ("datagramsSent", .int(network.datagramsSent)),
            ("datagramsDelivered", .int(network.datagramsDelivered)), ("datagramsLost", .int(network.datagramsLost)),
            ("datagramsCut", .int(network.datagramsCut)), ("datagramsDuplicated", .int(network.datagramsDuplicated)),
            ("datagramsReordered", .int(network.datagramsReordered)), ("datagramsUnroutable", .int(network.datagramsUnroutable)),
            ("starts", .int(network.starts)), ("leaves", .int(network.leaves)), ("crashes", .int(network.crashes)),
            ("restarts", .int(network.restarts)),
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

    private func sampleJSON(_ sample: MetricsSample) -> JSONValue {
        .object([
            ("time", .number(Duration(nanoseconds: sample.time.nanoseconds).seconds)), ("nodesUp", .int(sample.nodesUp)),
            ("routingTableFillMean", .number(sample.routingTableEntriesMean)),
            ("verifiedEntriesMean", .number(sample.verifiedEntriesMean)), ("peersMean", .number(sample.peersMean)),
            ("outboundSlotFillMean", .number(sample.outboundSlotFillMean)),
            ("inboundSlotFillMean", .number(sample.inboundSlotFillMean)),
            ("components", .int(sample.components)), ("largestComponentShare", .number(sample.largestComponentShare)),
            ("lookupsSucceeded", .int(sample.lookupsSucceeded)), ("lookupsFailed", .int(sample.lookupsFailed)),
            ("intervalLookupSuccessRate", sample.intervalLookupSuccessRate.map(JSONValue.number) ?? .null),
            ("intervalLookupHopsMean", sample.intervalLookupHopsMean.map(JSONValue.number) ?? .null),
            ("framesSent", .int(sample.framesSent)), ("bytesSent", .int(sample.bytesSent)), ("events", .int(sample.events)),
        ])
    }
}
