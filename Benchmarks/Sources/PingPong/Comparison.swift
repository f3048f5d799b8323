/// What `bench-compare` measures: every workload for every implementation, `runs` times each.
public struct ComparisonPlan: Sendable {
    /// The rows of the table, in order.
    public var workloads: [PingPongWorkload]
    /// The columns; the first one named in `ratioBaselines` anchors the ratios.
    public var implementations: [any PingPongImplementation]
    /// Timed runs per (workload, implementation); the table reports their median and spread.
    public var runs: Int
    /// The stop condition of each timed run.
    public var stop: StopCondition
    /// The stop condition of the one untimed warm-up run per cell, or nil for none.
    public var warmUp: StopCondition?
    /// Where the two sides run.
    public var pinning: CPUPinning
    /// Implementations every other one is compared with (a ratio column each).
    public var ratioBaselines: [String]

    /// A plan; ratios default to X/C and X/NIO.
    public init(
        workloads: [PingPongWorkload],
        implementations: [any PingPongImplementation],
        runs: Int,
        stop: StopCondition,
        warmUp: StopCondition?,
        pinning: CPUPinning,
        ratioBaselines: [String] = ["C", "NIO"]
    ) {
        self.workloads = workloads
        self.implementations = implementations
        self.runs = runs
        self.stop = stop
        self.warmUp = warmUp
        self.pinning = pinning
        self.ratioBaselines = ratioBaselines
    }
}

/// The measurements of one (workload, implementation) cell.
public struct ComparisonCell: Sendable {
    /// The row.
    public var workload: PingPongWorkload
    /// The column.
    public var implementation: String
    /// Round trips per second of each successful timed run, in the order they ran.
    public var rates: [Double] = []
    /// UDP window recoveries summed over the timed runs.
    public var recoveries: UInt64 = 0
    /// The first failure, if any run failed; nil when the implementation does not support the workload.
    public var failure: String?
    /// False when the implementation has no variant for this workload.
    public var supported = true

    /// The median rate, nil without a successful run.
    public var median: Double? { Statistics.median(rates) }
}

/// Order statistics of a handful of runs.
public enum Statistics {
    /// The median (the mean of the two middle values for an even count); nil for no values.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// Runs a plan: runs alternate between implementations and workloads, so that a slow phase of a
/// shared machine spreads over every cell instead of hitting one. Run r visits the workloads in
/// order and, within each, the implementations rotated by r, so no implementation always goes first.
public enum ComparisonRunner {
    /// Runs `plan`, reporting each measurement through `progress`; failures are recorded, not thrown.
    public static func run(_ plan: ComparisonPlan, progress: (String) -> Void = { _ in }) -> [ComparisonCell] {
        var cells: [ComparisonCell] = []
        for workload in plan.workloads {
            for implementation in plan.implementations {
                var cell = ComparisonCell(workload: workload, implementation: implementation.name)
                cell.supported = implementation.supports(workload)
                cells.append(cell)
            }
        }
        if let warmUp = plan.warmUp {
            sweep(plan, stop: warmUp, round: 0, cells: &cells, isTimed: false, progress: progress)
        }
        for round in 0..<plan.runs {
            sweep(plan, stop: plan.stop, round: round, cells: &cells, isTimed: true, progress: progress)
        }
        return cells
    }

    private static func sweep(
        _ plan: ComparisonPlan,
        stop: StopCondition,
        round: Int,
        cells: inout [ComparisonCell],
        isTimed: Bool,
        progress: (String) -> Void
    ) {
        let columns = plan.implementations.count
        for (row, workload) in plan.workloads.enumerated() {
            for offset in 0..<columns {
                let column = (offset + round) % columns
                let index = row * columns + column
                guard cells[index].supported, cells[index].failure == nil else { continue }
                let implementation = plan.implementations[column]
                let run = PingPongRun(workload: workload, stop: stop, pinning: plan.pinning)
                do throws(PingPongError) {
                    let result = try implementation.run(run)
                    let label = isTimed ? "run \(round + 1)/\(plan.runs)" : "warm-up"
                    progress("\(label) \(workload.name) \(implementation.name): \(Table.rate(result.roundTripsPerSecond)) rt/s")
                    if isTimed {
                        cells[index].rates.append(result.roundTripsPerSecond)
                        cells[index].recoveries += result.recoveries
                    }
                } catch {
                    cells[index].failure = error.description
                    progress("\(workload.name) \(implementation.name): \(error)")
                }
            }
        }
    }
}
