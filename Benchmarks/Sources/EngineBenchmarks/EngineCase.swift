#if canImport(Glibc)
import Glibc
#endif
import PingPong

/// Times one loop and, when the malloc interposer is loaded, counts its allocations.
///
/// A case calls `measure` exactly once per run, around its timed loop only; setup before it and
/// checks after it are neither timed nor counted.
public struct Stopwatch {
    /// Whether this run counts allocations instead of timing (the allocation pass).
    let countsAllocations: Bool
    private(set) var seconds: Double?
    private(set) var allocations: Int64?
    /// Operations the run actually did, for a case that runs for a time and counts them (the ping
    /// case); nil: the case's fixed `operations`.
    public var operationsDone: Int?

    init(countsAllocations: Bool) {
        self.countsAllocations = countsAllocations
    }

    /// Runs `loop` once: timed, or with allocations counted.
    public mutating func measure<Result>(_ loop: () -> Result) -> Result {
        precondition(seconds == nil, "BUG in Karyons benchmarks: a case measured twice in one run")
        if countsAllocations {
            let (result, count) = AllocationCounter.counting(loop)
            allocations = count
            seconds = 0
            return result
        }
        let start = Self.now()
        let result = loop()
        seconds = Double(Self.now() - start) / 1e9
        return result
    }

    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// One row of an engine benchmark table: a loop of `operations` operations with a check value.
public struct EngineCase {
    /// The table it belongs to ("routing", "wire").
    public var group: String
    /// Short name (`W1`, `peers-encode`).
    public var name: String
    /// What it does.
    public var label: String
    /// Operations per run (the rate is operations ÷ timed seconds).
    public var operations: Int
    /// How the table shows `operations` when a run counts its own (a timed window); nil: the count.
    public var operationsText: String?
    /// One run: untimed setup, `stopwatch.measure { timed loop }`, and the check value of the run
    /// (a sum, a tally), identical for every run of the same case.
    let run: (inout Stopwatch) -> String

    public init(group: String, name: String, label: String, operations: Int, run: @escaping (inout Stopwatch) -> String) {
        self.group = group
        self.name = name
        self.label = label
        self.operations = operations
        self.run = run
    }

    /// A case whose run can fail (a node that does not start, a handshake that does not complete):
    /// a thrown error becomes a check value starting with "FAILURES=", which the report flags.
    init(group: String, name: String, label: String, operations: Int,
         failableRun: @escaping (inout Stopwatch) throws(NodeBenchmarkError) -> String) {
        self.init(group: group, name: name, label: label, operations: operations) { stopwatch in
            do {
                return try failableRun(&stopwatch)
            } catch {
                return "FAILURES=\(error)"
            }
        }
    }
}

/// The measurements of one case.
public struct EngineResult {
    public var engineCase: EngineCase
    /// Operations per second of each timed run, in the order they ran.
    public var rates: [Double] = []
    /// The check values seen (one if every run agreed).
    public var checks: [String] = []
    /// Allocations per operation, from the allocation pass (nil without the interposer).
    public var allocationsPerOperation: Double?

    /// The median rate.
    public var median: Double? { Statistics.median(rates) }
    /// The check value, or a note that runs disagreed.
    public var check: String { checks.count == 1 ? checks[0] : "runs disagree: " + checks.joined(separator: " / ") }
}

/// Runs engine cases: one warm-up run each, then `runs` rounds that each visit every case in
/// order, so a slow phase of a shared machine spreads over all of them.
public enum EngineRunner {
    public static func run(_ cases: [EngineCase], runs: Int, progress: (String) -> Void = { _ in }) -> [EngineResult] {
        var results = cases.map { EngineResult(engineCase: $0) }
        for index in results.indices {
            var stopwatch = Stopwatch(countsAllocations: false)
            _ = cases[index].run(&stopwatch)
            progress("warm-up \(cases[index].name)")
        }
        for round in 0..<runs {
            for index in results.indices {
                var stopwatch = Stopwatch(countsAllocations: false)
                let check = cases[index].run(&stopwatch)
                let seconds = stopwatch.seconds ?? 0
                let operations = stopwatch.operationsDone ?? cases[index].operations
                let rate = seconds > 0 ? Double(operations) / seconds : 0
                results[index].rates.append(rate)
                if !results[index].checks.contains(check) { results[index].checks.append(check) }
                progress("run \(round + 1)/\(runs) \(cases[index].name): \(Table.rate(rate)) ops/s")
            }
        }
        return results
    }

    /// One untimed run of `engineCase`; its check value.
    public static func check(of engineCase: EngineCase) -> String {
        var stopwatch = Stopwatch(countsAllocations: false)
        return engineCase.run(&stopwatch)
    }

    /// Allocations per operation of each case (one counted run each); nil without the interposer.
    public static func countAllocations(_ cases: [EngineCase]) -> [Double?] {
        cases.map { engineCase in
            var stopwatch = Stopwatch(countsAllocations: true)
            _ = engineCase.run(&stopwatch)
            let operations = stopwatch.operationsDone ?? engineCase.operations
            return stopwatch.allocations.map { Double($0) / Double(max(operations, 1)) }
        }
    }

    /// `value` as allocations per operation: "0", or two significant decimals.
    public static func allocationText(_ value: Double?) -> String {
        guard let value else { return "–" }
        if value == 0 { return "0" }
        return value >= 0.01 ? Table.fixed(value, decimals: 2) : "<0.01"
    }

    /// Median and spread as `1.23 M (1.10 M – 1.30 M)`.
    public static func spread(_ rates: [Double]) -> String {
        guard let median = Statistics.median(rates), let low = rates.min(), let high = rates.max() else { return "failed" }
        return "\(Table.rate(median)) (\(Table.rate(low)) – \(Table.rate(high)))"
    }

    /// Nanoseconds per operation at `rate` operations per second.
    public static func nanoseconds(atRate rate: Double?) -> String {
        guard let rate, rate > 0 else { return "–" }
        let value = 1e9 / rate
        return value >= 100 ? Table.fixed(value, decimals: 0) : Table.fixed(value, decimals: 1)
    }
}
