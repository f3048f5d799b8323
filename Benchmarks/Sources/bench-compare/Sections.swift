import EngineBenchmarks
import Foundation
import PingPong

/// The timed parts of the report; each prints its table and returns false if something failed.
enum Sections {
    static func pingPong(_ options: Options) -> Bool {
        let plan = options.plan(implementations: BenchCompare.allImplementations)
        var lines = ["== ping-pong over 127.0.0.1, round trips per second (higher is better)"]
        lines.append("plan:     \(plan.runs) timed runs per cell of \(plan.stop), warm-up \(plan.warmUp?.description ?? "none"), \(plan.pinning)")
        lines.append("columns:  " + plan.implementations.map(\.name).joined(separator: ", "))
        for workload in plan.workloads { lines.append("  \(workload.name): \(workload)") }
        print(lines.joined(separator: "\n"))
        let cells = ComparisonRunner.run(plan) { line in
            if options.verbose { print("  " + line) }
        }
        print("")
        print(Table.render(cells, ratioBaselines: plan.ratioBaselines, markdown: options.markdown))
        print("load after: \(MachineInfo.loadAverage)")
        return !cells.contains { $0.failure != nil }
    }

    /// Divides the routing and wire loop counts in quick mode.
    static func scale(_ options: Options) -> Int { options.quick ? 100 : 1 }

    static func routing(_ options: Options) -> Bool {
        print("== routing table: shared/reference/routing-table-workloads.md, operations per second (higher is better)")
        print("plan:     1 warm-up run and \(options.runs) timed runs per workload, alternating"
            + (options.quick ? "; QUICK: loops 1/100 as long, so check values differ from the file's" : ""))
        let cases = RoutingTableCases.cases(scale: scale(options))
        let results = EngineRunner.run(cases, runs: options.runs) { line in if options.verbose { print("  " + line) } }
        let header = ["workload", "what", "ops/run", "Karyons median (min – max) /s", "ns/op", "Rust seed /s",
                      "Rust v1.0 /s", "K/v1.0", "check", "vs Rust"]
        var allMatch = true
        let rows = results.map { result -> [String] in
            let figures = RoutingTableCases.rust[result.engineCase.name]
            let verdict: String
            if options.quick || result.checks.count != 1 {
                verdict = result.checks.count == 1 ? "(scaled)" : "RUNS DISAGREE"
                if result.checks.count != 1 { allMatch = false }
            } else if let figures, result.check == figures.check {
                verdict = "equal"
            } else if let figures, !figures.mustMatch {
                verdict = "differs (true closest)"
            } else {
                verdict = "DIFFERS"
                allMatch = false
            }
            return [
                result.engineCase.name, result.engineCase.label, count(result.engineCase.operations),
                EngineRunner.spread(result.rates), EngineRunner.nanoseconds(atRate: result.median),
                figures.map { Table.rate($0.seed) } ?? "–", figures.map { Table.rate($0.v1) } ?? "–",
                Table.ratio(result.median, figures?.v1), result.check, verdict,
            ]
        }
        print("")
        print(Table.render(header: header, rows: rows, numericColumns: 2...7, markdown: options.markdown))
        print("Rust: the file's run-1 medians on this machine kind (seed-era W4 rows: its --full run of 1,000,000 calls).")
        print("load after: \(MachineInfo.loadAverage)")
        return allMatch
    }

    static func wire(_ options: Options) -> Bool {
        print("== wire format v1: encode and decode, operations per second (higher is better)")
        print("plan:     1 warm-up run and \(options.runs) timed runs per case, alternating"
            + (options.quick ? "; QUICK: loops 1/100 as long" : ""))
        let cases = WireCases.cases(scale: scale(options))
        let results = EngineRunner.run(cases, runs: options.runs) { line in if options.verbose { print("  " + line) } }
        let header = ["case", "what", "ops/run", "median (min – max) /s", "ns/op", "check"]
        let rows = results.map { result in
            [result.engineCase.name, result.engineCase.label, count(result.engineCase.operations),
             EngineRunner.spread(result.rates), EngineRunner.nanoseconds(atRate: result.median), result.check]
        }
        print("")
        print(Table.render(header: header, rows: rows, numericColumns: 2...4, markdown: options.markdown))
        print("Allocations per operation: see the allocations section.")
        return !results.contains { $0.checks.count != 1 || $0.check.contains("FAILURES") }
    }

    static func node(_ options: Options) -> Bool {
        print("== node level: round trips per second (higher is better)")
        print("plan:     1 warm-up run and \(options.runs) timed runs per case, alternating"
            + (options.quick ? "; QUICK: short loops, 100 peers, 0.1 s window" : ""))
        let cases = NodeCases.cases(scale: scale(options))
        let results = EngineRunner.run(cases, runs: options.runs) { line in if options.verbose { print("  " + line) } }
        let rows = results.map { result in
            [result.engineCase.name, result.engineCase.label,
             result.engineCase.operationsText ?? count(result.engineCase.operations),
             EngineRunner.spread(result.rates), EngineRunner.nanoseconds(atRate: result.median), result.check]
        }
        print("")
        print(Table.render(header: ["case", "what", "round trips/run", "median (min – max) /s", "ns/round trip", "check"],
                           rows: rows, numericColumns: 2...4, markdown: options.markdown))
        print("Allocations per round trip: see the allocations section. Setup and handshakes are not timed.")
        print("load after: \(MachineInfo.loadAverage)")
        return !results.contains { $0.checks.count != 1 || $0.check.contains("FAILURES") }
    }

    static func memory(_ options: Options) -> Bool {
        let pairsPerWave = options.quick ? 100 : 1_000
        let waves = options.quick ? 2 : 4
        print("== memory per established idle TCP connection (KaryonsNode transport, both ends on one reactor)")
        print("plan:     \(waves) waves of \(pairsPerWave) connection pairs; each pair carries one 44-byte frame each way, then idles")
        let samples: [MemoryProbe.Sample]
        do {
            samples = try MemoryProbe.measure(pairsPerWave: pairsPerWave, waves: waves)
        } catch {
            print("memory probe failed: \(error)")
            return false
        }
        let header = ["pairs", "sockets", "resident", "anon resident", "heap in use", "Δ anon resident/socket",
                      "Δ heap/socket", "Δ kernel TCP buffers/socket"]
        var rows: [[String]] = []
        for (index, sample) in samples.enumerated() {
            var row = [String(sample.pairs), String(2 * sample.pairs), mebibytes(sample.residentBytes),
                       mebibytes(sample.anonymousResidentBytes), mebibytes(sample.heapBytes)]
            if index == 0 {
                row += ["", "", ""]
            } else {
                let previous = samples[index - 1]
                let sockets = 2 * (sample.pairs - previous.pairs)
                row += [perSocket(sample.anonymousResidentBytes - previous.anonymousResidentBytes, sockets),
                        perSocket(sample.heapBytes - previous.heapBytes, sockets),
                        perSocket(sample.kernelBufferBytes - previous.kernelBufferBytes, sockets)]
            }
            rows.append(row)
        }
        print("")
        print(Table.render(header: header, rows: rows, numericColumns: 0...7, markdown: options.markdown))
        if let first = samples.dropFirst().first, let last = samples.last, last.pairs > first.pairs {
            let sockets = 2 * (last.pairs - first.pairs)
            print("marginal, waves 2…\(waves): \(perSocket(last.anonymousResidentBytes - first.anonymousResidentBytes, sockets)) "
                + "anonymous resident and \(perSocket(last.heapBytes - first.heapBytes, sockets)) heap per socket "
                + "(target: <= 1 KiB of user-space memory)")
        }
        print("The first wave also pays one-time costs (the reactor thread's pages, a malloc arena, tables growing).")
        print("Kernel socket memory (struct sock, buffers) is not in the resident set; the kernel column is machine-wide.")
        print("")
        return nodeMemory(options)
    }

    static func nodeMemory(_ options: Options) -> Bool {
        let perWave = options.quick ? 50 : 500
        let waves = options.quick ? 2 : 4
        print("== memory per idle node and per established idle peer connection (façade Nodes, one reactor)")
        print("plan:     a hub node; \(waves) waves of \(perWave) light nodes (outbound-only): start them idle, then each dials the hub")
        let measured: (MemoryProbe.Sample, [NodeMemoryProbe.Wave])
        do {
            measured = try NodeMemoryProbe.measure(lightsPerWave: perWave, waves: waves)
        } catch {
            print("node memory probe failed: \(error)")
            return false
        }
        let (baseline, samples) = measured
        let header = ["light nodes", "step", "anon resident", "heap in use", "Δ anon resident/item", "Δ heap/item"]
        var rows: [[String]] = [["0", "hub only", mebibytes(baseline.anonymousResidentBytes), mebibytes(baseline.heapBytes), "", ""]]
        var previous = baseline
        for wave in samples {
            let up = wave.nodesUp, connected = wave.connected
            rows.append([String(connected.pairs), "\(wave.count) nodes up", mebibytes(up.anonymousResidentBytes),
                         mebibytes(up.heapBytes), perSocket(up.anonymousResidentBytes - previous.anonymousResidentBytes, wave.count),
                         perSocket(up.heapBytes - previous.heapBytes, wave.count)])
            rows.append([String(connected.pairs), "\(wave.count) connected", mebibytes(connected.anonymousResidentBytes),
                         mebibytes(connected.heapBytes),
                         perSocket(connected.anonymousResidentBytes - up.anonymousResidentBytes, wave.count),
                         perSocket(connected.heapBytes - up.heapBytes, wave.count)])
            previous = connected
        }
        print("")
        print(Table.render(header: header, rows: rows, numericColumns: 0...5, markdown: options.markdown))
        let later = samples.dropFirst()
        if !later.isEmpty {
            let count = later.reduce(0) { $0 + $1.count }
            let nodeHeap = zip(samples.dropLast(), later).reduce(0) { $0 + $1.1.nodesUp.heapBytes - $1.0.connected.heapBytes }
            let nodeAnon = zip(samples.dropLast(), later).reduce(0) {
                $0 + $1.1.nodesUp.anonymousResidentBytes - $1.0.connected.anonymousResidentBytes
            }
            let peerHeap = later.reduce(0) { $0 + $1.connected.heapBytes - $1.nodesUp.heapBytes }
            let peerAnon = later.reduce(0) { $0 + $1.connected.anonymousResidentBytes - $1.nodesUp.anonymousResidentBytes }
            print("marginal, waves 2…\(waves): per idle connection with both ends' state (2 sockets, 2 peers) "
                + "\(perSocket(peerHeap, count)) heap, \(perSocket(peerAnon, count)) anonymous resident, so half that per "
                + "connected peer (target: <= 4 KiB per idle connected peer); per idle light node "
                + "\(perSocket(nodeHeap, count)) heap, \(perSocket(nodeAnon, count)) anonymous resident")
        }
        print("Items: a light node (\"nodes up\" rows) or a connection (\"connected\" rows). Kernel socket memory is not included.")
        return true
    }

    static func count(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return result
    }

    static func mebibytes(_ bytes: Int) -> String { Table.fixed(Double(bytes) / 1_048_576, decimals: 1) + " MiB" }

    static func perSocket(_ bytes: Int, _ sockets: Int) -> String {
        guard sockets > 0 else { return "–" }
        return "\(Int((Double(bytes) / Double(sockets)).rounded())) B"
    }
}
