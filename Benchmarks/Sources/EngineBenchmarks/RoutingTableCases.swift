import KaryonsCore
import RoutingWorkloads

/// The routing-table workloads of shared/reference/routing-table-workloads.md, on our
/// `RoutingTable`, with the Rust original's figures and check values from that file.
///
/// Entries are added as `.verified` so that the default filters (`closest`: shareable entries) see
/// them all; W4 draws `.verified` entries (the original's PENDING, which every entry is) and W4x
/// `.connected` ones (none). Tables A and E are built once, untimed, and kept in `let`s.
public enum RoutingTableCases {
    /// The Rust original's run-1 medians (ops/s) and check value for one workload.
    public struct RustFigures: Sendable {
        public var seed: Double
        public var v1: Double
        public var check: String
        /// Whether our check value must equal the original's (false where `closest` differs by design).
        public var mustMatch: Bool
    }

    /// From the workload file ("run 1" medians; seed-era W4 rows from its `--full` run of 1,000,000 calls).
    public static let rust: [String: RustFigures] = [
        "W1": RustFigures(seed: 152.63e6, v1: 207.15e6, check: "sum=309959099", mustMatch: true),
        "W1b": RustFigures(seed: 52.34e6, v1: 49.13e6, check: "sum=156632558", mustMatch: true),
        "W2": RustFigures(seed: 2.35e6, v1: 3.39e6, check: "added=54 exists=0 ignored=999946 restricted=0 total=54 [31:20 30:20 29:14]", mustMatch: true),
        "W2L": RustFigures(seed: 10.17e6, v1: 5.79e6, check: "added=54 exists=0 ignored=999946 restricted=0 total=54 [31:20 30:20 29:14]", mustMatch: true),
        "W2k1": RustFigures(seed: 2.41e6, v1: 5.01e6, check: "added=55 exists=0 ignored=999945 restricted=0 total=55 [30:20 29:20 28:15]", mustMatch: true),
        "W2k2": RustFigures(seed: 2.33e6, v1: 4.55e6, check: "added=60 exists=0 ignored=999940 restricted=0 total=60 [29:20 28:20 27:20]", mustMatch: true),
        "W2k3": RustFigures(seed: 2.47e6, v1: 5.12e6, check: "added=58 exists=0 ignored=999942 restricted=0 total=58 [28:20 27:20 26:18]", mustMatch: true),
        "W2m4": RustFigures(seed: 1.26e6, v1: 3.04e6, check: "added=103 exists=0 ignored=999897 restricted=0 total=103 [31:20 30:20 29:20 28:20 27:20 26:3]", mustMatch: true),
        "W2m32": RustFigures(seed: 217.8e3, v1: 525.1e3, check: "added=640 exists=2508 ignored=996852 restricted=0 total=640 [all 32 buckets: 20 each]", mustMatch: true),
        "W3": RustFigures(seed: 1.05e6, v1: 538.7e3, check: "cksum=4f988a16134bd382", mustMatch: false),
        "W3 into:": RustFigures(seed: 1.05e6, v1: 538.7e3, check: "cksum=4f988a16134bd382", mustMatch: false),
        "W4": RustFigures(seed: 23.4e3, v1: 1.01e6, check: "some=1000000", mustMatch: true),
        "W4x": RustFigures(seed: 12.9e3, v1: 502.6e3, check: "some=0", mustMatch: true),
        "W3m": RustFigures(seed: 855.5e3, v1: 368.9e3, check: "cksum=2d5ef6915e1d19a1", mustMatch: false),
        "W4m": RustFigures(seed: 21.4e3, v1: 942.9e3, check: "some=1000000", mustMatch: true),
    ]

    /// Every workload in the file's order (W3 twice: with the allocating `closest` the file asks
    /// for, and with `closest(into:)` reusing one buffer). `scale` divides the operation counts (1 for
    /// the real figures; CI smoke runs use more, and then the check values differ from the file's).
    public static func cases(scale: Int = 1) -> [EngineCase] {
        precondition(scale >= 1, "BUG in Karyons benchmarks: scale \(scale)")
        let entryCount = AddEntryWorkload.entryCount / scale
        var cases = [BucketIndexWorkload.w1, .w1b].map { bucketIndexCase($0, iterations: BucketIndexWorkload.iterations / scale) }
        cases += AddEntryWorkload.allCases.map { addCase($0, count: entryCount) }
        let tableA = buildTable(.w2, count: entryCount)
        let tableE = buildTable(.w2m32, count: entryCount)
        let targetCount = ClosestWorkload.targetCount / scale
        cases.append(closestCase(.w3, table: tableA, count: targetCount, reusingBuffer: false))
        cases.append(closestCase(.w3, table: tableA, count: targetCount, reusingBuffer: true))
        let callCount = RandomEntryWorkload.callCount / scale
        cases.append(randomCase(.w4, table: tableA, count: callCount))
        cases.append(randomCase(.w4x, table: tableA, count: callCount))
        cases.append(closestCase(.w3m, table: tableE, count: targetCount, reusingBuffer: false))
        cases.append(randomCase(.w4m, table: tableE, count: callCount))
        return cases
    }

    static func bucketIndexCase(_ workload: BucketIndexWorkload, iterations: Int) -> EngineCase {
        let pool = workload.pool()
        let table = RoutingTable(localID: WorkloadKeys.local)
        let label = workload == .w1 ? "bucket index, uniform" : "bucket index, kmix32"
        return EngineCase(group: "routing", name: workload.rawValue, label: label, operations: iterations) { stopwatch in
            let sum = stopwatch.measure {
                var accumulator = 0
                for index in 0..<iterations {
                    accumulator &+= table.bucketIndex(of: pool[index & BucketIndexWorkload.poolMask])
                        ?? BucketIndexWorkload.missingIndexValue
                }
                return accumulator
            }
            return "sum=\(sum)"
        }
    }

    /// The W2 entries as our records (untimed input).
    static func records(_ workload: AddEntryWorkload, count: Int) -> [PeerRecord] {
        workload.entries(count: count).map { entry in
            PeerRecord(id: entry.key, address: .v4(entry.address.value), port: entry.port, discoveryPort: entry.discoveryPort)
        }
    }

    struct Tally {
        var added = 0, exists = 0, ignored = 0, restricted = 0, replaced = 0
    }

    static func add(_ records: [PeerRecord], to table: inout RoutingTable) -> Tally {
        var tally = Tally()
        for record in records {
            switch table.add(record, status: .verified, now: .zero) {
            case .added: tally.added += 1
            case .replaced: tally.replaced += 1
            case .exists: tally.exists += 1
            case .ignored: tally.ignored += 1
            case .restricted: tally.restricted += 1
            }
        }
        return tally
    }

    static func buildTable(_ workload: AddEntryWorkload, count: Int) -> RoutingTable {
        var table = RoutingTable(localID: WorkloadKeys.local)
        _ = add(records(workload, count: count), to: &table)
        return table
    }

    static func addCase(_ workload: AddEntryWorkload, count: Int) -> EngineCase {
        let label = "add, \(workload.rule), \(workload.addresses)"
        return EngineCase(group: "routing", name: workload.rawValue, label: label, operations: count) { stopwatch in
            let entries = records(workload, count: count)
            var table = RoutingTable(localID: WorkloadKeys.local)
            let tally = stopwatch.measure { add(entries, to: &table) }
            var text = "added=\(tally.added) exists=\(tally.exists) ignored=\(tally.ignored) restricted=\(tally.restricted)"
            if tally.replaced > 0 { text += " replaced=\(tally.replaced)" }
            return text + " total=\(table.count) " + occupancy(of: table)
        }
    }

    /// Non-empty buckets from the highest, `[31:20 30:20 29:14]`, in the file's notation.
    static func occupancy(of table: RoutingTable) -> String {
        let occupancy = table.bucketOccupancy
        if occupancy.allSatisfy({ $0 == RoutingTable.bucketEntriesMax }) {
            return "[all \(RoutingTable.bucketCount) buckets: \(RoutingTable.bucketEntriesMax) each]"
        }
        let filled = occupancy.indices.reversed().filter { occupancy[$0] > 0 }.map { "\($0):\(occupancy[$0])" }
        return "[" + filled.joined(separator: " ") + "]"
    }

    static func closestCase(_ workload: ClosestWorkload, table: RoutingTable, count: Int, reusingBuffer: Bool) -> EngineCase {
        let targets = Array(workload.targets(count: count))
        let name = workload.rawValue + (reusingBuffer ? " into:" : "")
        let label = reusingBuffer ? "closest(count: 10, into:), table \(workload == .w3 ? "A" : "E")"
            : "closest(count: 10), table \(workload == .w3 ? "A" : "E"), \(workload.rule) targets"
        return EngineCase(group: "routing", name: name, label: label, operations: count) { stopwatch in
            let checksum = stopwatch.measure {
                var accumulator: UInt64 = 0
                var buffer: [PeerRecord] = []
                for target in targets {
                    if reusingBuffer {
                        table.closest(to: target, count: ClosestWorkload.resultCount, into: &buffer)
                    } else {
                        buffer = table.closest(to: target, count: ClosestWorkload.resultCount)
                    }
                    for (index, record) in buffer.enumerated() {
                        accumulator &+= UInt64(index + 1) &* ClosestWorkload.checksumWord(of: record.id)
                    }
                }
                return accumulator
            }
            return "cksum=" + String(checksum, radix: 16).leftPadded(to: 16)
        }
    }

    static func randomCase(_ workload: RandomEntryWorkload, table: RoutingTable, count: Int) -> EngineCase {
        let statuses: EntryStatusSet
        switch workload.filter {
        case .pending: statuses = .verified
        case .connected: statuses = .connected
        }
        let label = "randomEntry(\(statuses)), table \(workload.table == .w2 ? "A" : "E")"
        return EngineCase(group: "routing", name: workload.rawValue, label: label, operations: count) { stopwatch in
            var generator = SplitMix64(seed: 0x4A4D)
            let found = stopwatch.measure {
                var found = 0
                for _ in 0..<count where table.randomEntry(matching: statuses, using: &generator) != nil { found += 1 }
                return found
            }
            return "some=\(found)"
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
