import EngineBenchmarks
import PingPong
import Testing

/// The report's engine cases compute what the workload file says, and never fail silently.
@Suite("Engine benchmark cases", .serialized)
struct EngineBenchmarksTests {
    /// At full size, every routing workload whose result must match the Rust original's does:
    /// the bucket-index sums, the add tallies and occupancies (tables A and E included), the
    /// random-entry counts. The closest checksums differ by design (true nearest entries), so
    /// those cases are not run here (`closestWithAndWithoutBufferAgree` runs them smaller).
    @Test func routingChecksEqualTheRustOriginal() throws {
        let cases = RoutingTableCases.cases(scale: 1)
        #expect(cases.count == RoutingTableCases.rust.count)
        var compared = 0
        for engineCase in cases {
            let figures = try #require(RoutingTableCases.rust[engineCase.name])
            guard figures.mustMatch else { continue }
            #expect(EngineRunner.check(of: engineCase) == figures.check, "\(engineCase.name)")
            compared += 1
        }
        #expect(compared == 12)
    }

    @Test func closestWithAndWithoutBufferAgree() {
        let cases = RoutingTableCases.cases(scale: 50)
        let plain = cases.first { $0.name == "W3" }.map(EngineRunner.check(of:))
        let reused = cases.first { $0.name == "W3 into:" }.map(EngineRunner.check(of:))
        #expect(plain != nil)
        #expect(plain == reused)
    }

    @Test func wireCasesDecodeWhatTheyEncode() {
        let results = EngineRunner.run(WireCases.cases(scale: 100), runs: 2)
        #expect(results.count == 8)
        for result in results {
            #expect(result.checks.count == 1, "\(result.engineCase.name) runs disagree")
            #expect(!result.check.contains("FAILURES"), "\(result.engineCase.name): \(result.check)")
            #expect(result.rates.count == 2 && result.rates.allSatisfy { $0 > 0 })
        }
        let frames = results.first { $0.engineCase.name == "stream-messages" }
        #expect(frames?.check == "frames=\(frames?.engineCase.operations ?? -1)")
        let peers = results.first { $0.engineCase.name == "peers-decode" }
        #expect(peers?.check == "items=\((peers?.engineCase.operations ?? 0) * 10)")
    }

    @Test func memoryProbeSamplesEveryWave() throws {
        let samples = try MemoryProbe.measure(pairsPerWave: 50, waves: 2)
        #expect(samples.map(\.pairs) == [0, 50, 100])
        #expect(samples.allSatisfy { $0.residentBytes > 0 && $0.heapBytes > 0 })
    }

    /// Every node case completes its round trips with every echo equal (the round-trip cases) or
    /// keeps every peer connected (the ping case), over real loopback sockets.
    @Test func nodeCasesCompleteTheirRoundTrips() {
        let results = EngineRunner.run(NodeCases.cases(scale: 100), runs: 1)
        #expect(results.map(\.engineCase.name) == ["protocol-async", "protocol-handler", "protocol-driver", "ping-100"])
        for result in results {
            #expect(result.checks.count == 1, "\(result.engineCase.name) runs disagree: \(result.checks)")
            #expect(!result.check.contains("FAILURES"), "\(result.engineCase.name): \(result.check)")
            #expect(result.rates.count == 1, "\(result.engineCase.name)")
        }
        for result in results.prefix(3) {
            #expect(result.check == "\(result.engineCase.operations) echoes equal")
            #expect(result.rates.allSatisfy { $0 > 0 }, "\(result.engineCase.name)")
        }
        // The ping window is 0.1 s: a loaded machine may starve it, so only the peers are checked.
        #expect(results.last?.check == "100 peers kept")
    }

    @Test func nodeMemoryProbeConnectsEveryWave() throws {
        let (baseline, waves) = try NodeMemoryProbe.measure(lightsPerWave: 50, waves: 2)
        #expect(baseline.pairs == 0 && baseline.heapBytes > 0)
        #expect(waves.map(\.nodesUp.pairs) == [0, 50])
        #expect(waves.map(\.connected.pairs) == [50, 100])
        // The heap figures are process-wide and other suites allocate concurrently in this process, so
        // only their presence is checked here; their size is for bench-compare, which runs alone.
        #expect(waves.allSatisfy { $0.nodesUp.heapBytes > 0 && $0.connected.heapBytes > 0 })
    }

    @Test func withoutThePreloadNothingIsCounted() {
        #expect(!AllocationCounter.isAvailable)
        let (value, allocations) = AllocationCounter.counting { [1, 2, 3].map { $0 * 2 } }
        #expect(value == [2, 4, 6])
        #expect(allocations == nil)
    }
}
