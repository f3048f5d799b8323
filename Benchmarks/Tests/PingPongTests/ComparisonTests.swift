import PingPong
import Testing

/// A scripted implementation: returns rates from a table and records the order of its calls.
final class ScriptedImplementation: PingPongImplementation, @unchecked Sendable {
    let name: String
    private let rates: [String: Double]
    private let failing: Set<String>
    private let log: CallLog

    init(name: String, rates: [String: Double], failing: Set<String> = [], log: CallLog) {
        self.name = name
        self.rates = rates
        self.failing = failing
        self.log = log
    }

    func supports(_ workload: PingPongWorkload) -> Bool { rates[workload.name] != nil || failing.contains(workload.name) }

    func run(_ run: PingPongRun) throws(PingPongError) -> PingPongResult {
        log.calls.append("\(run.workload.name):\(name)")
        if failing.contains(run.workload.name) { throw .failed(implementation: name, reason: "scripted failure") }
        let rate = rates[run.workload.name] ?? 0
        return PingPongResult(roundTrips: UInt64(rate), elapsedNanoseconds: 1_000_000_000)
    }
}

/// Calls made to scripted implementations, in order (tests run it on one thread).
final class CallLog: @unchecked Sendable {
    var calls: [String] = []
}

@Suite("Comparison: statistics, alternation and the table")
struct ComparisonTests {
    @Test("Median of odd, even and empty samples")
    func median() {
        #expect(Statistics.median([5, 1, 3]) == 3)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.median([7]) == 7)
        #expect(Statistics.median([]) == nil)
    }

    @Test("Rates and ratios are formatted with three significant digits")
    func formatting() {
        #expect(Table.rate(12_814) == "12.8 k")
        #expect(Table.rate(382_809) == "383 k")
        #expect(Table.rate(1_234_567) == "1.23 M")
        #expect(Table.rate(999) == "999")
        #expect(Table.rate(9.5) == "9.50")
        #expect(Table.ratio(50, 200) == "0.25")
        #expect(Table.ratio(50, nil) == "–")
        #expect(Table.ratio(1, 0) == "–")
    }

    @Test("Runs alternate: each round visits workloads in order, implementations rotated")
    func alternation() {
        let log = CallLog()
        let a = ScriptedImplementation(name: "A", rates: ["udp-w1": 10, "tcp-c1": 20], log: log)
        let b = ScriptedImplementation(name: "B", rates: ["udp-w1": 5, "tcp-c1": 40], log: log)
        let plan = ComparisonPlan(
            workloads: [.udpWindow1, .tcpConnections1],
            implementations: [a, b],
            runs: 2,
            stop: .roundTrips(1),
            warmUp: .roundTrips(1),
            pinning: .none
        )
        let cells = ComparisonRunner.run(plan)
        #expect(log.calls == [
            "udp-w1:A", "udp-w1:B", "tcp-c1:A", "tcp-c1:B",  // warm-up, not recorded
            "udp-w1:A", "udp-w1:B", "tcp-c1:A", "tcp-c1:B",  // round 1
            "udp-w1:B", "udp-w1:A", "tcp-c1:B", "tcp-c1:A",  // round 2, rotated
        ])
        #expect(cells.map(\.rates) == [[10, 10], [5, 5], [20, 20], [40, 40]])
    }

    @Test("A failing cell is recorded once and stops being run; unsupported cells show n/a")
    func failuresAndUnsupported() {
        let log = CallLog()
        let c = ScriptedImplementation(name: "C", rates: ["udp-w1": 100, "tcp-c1": 80], log: log)
        let x = ScriptedImplementation(name: "X", rates: ["udp-w1": 50], failing: ["tcp-c1"], log: log)
        let y = ScriptedImplementation(name: "Y", rates: ["tcp-c1": 160], log: log)
        let plan = ComparisonPlan(
            workloads: [.udpWindow1, .tcpConnections1],
            implementations: [c, x, y],
            runs: 3,
            stop: .roundTrips(1),
            warmUp: nil,
            pinning: .none,
            ratioBaselines: ["C"]
        )
        let cells = ComparisonRunner.run(plan)
        #expect(log.calls.filter { $0 == "tcp-c1:X" }.count == 1)
        #expect(!log.calls.contains("udp-w1:Y"))
        let table = Table.render(cells, ratioBaselines: ["C"], markdown: true)
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0] == "| workload | impl | median rt/s | min – max rt/s | runs | X/C | notes |")
        #expect(lines.contains("| udp-w1 | X | 50.0 | 50.0 – 50.0 | 3 | 0.50 |  |"))
        #expect(lines.contains("| udp-w1 | Y | n/a |  |  | – |  |"))
        #expect(lines.contains("| tcp-c1 | X | failed |  | 0 | – | X failed: scripted failure |"))
        #expect(lines.contains("| tcp-c1 | Y | 160 | 160 – 160 | 3 | 2.00 |  |"))
    }
}
