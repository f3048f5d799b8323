import EngineBenchmarks
import PingPong
import Testing

/// The report's engine cases compute what the workload file says, and never fail silently.
@Suite("Engine benchmark cases", .serialized)
struct EngineBenchmarksTests {
    /// Runs one case once (untimed: as the allocation pass does, without the interposer) and
    /// returns its check value.
    static func check(of engineCase: EngineCase) -> String {
        EngineRunner.run([engineCase], runs: 1).first?.check ?? "no result"
    }

    /// At full size, every routing workload whose result must match the Rust original's does:
    /// the bucket-index sums, the add tallies and occupancies (tables A and E included), the
    /// random-entry counts. The closest checksums differ by design (true nearest entries).
    @Test func routingChecksEqualTheRustOriginal() throws {
        let cases = RoutingTableCases.cases(scale: 1)
        #expect(cases.count == RoutingTableCases.rust.count)
        for engineCase in cases {
            let figures = try #require(RoutingTableCases.rust[engineCase.name])
            let check = Self.check(of: engineCase)
            if figures.mustMatch {
                #expect(check == figures.check, "\(engineCase.name)")
            } else {
                #expect(check.hasPrefix("cksum="), "\(engineCase.name)")
            }
        }
    }

    @Test func closestWithAndWithoutBufferAgree() {
        let cases = RoutingTableCases.cases(scale: 50)
        let plain = cases.first { $0.name == "W3" }.map(Self.check)
        let reused = cases.first { $0.name == "W3 into:" }.map(Self.check)
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

    @Test func withoutThePreloadNothingIsCounted() {
        #expect(!AllocationCounter.isAvailable)
        let (value, allocations) = AllocationCounter.counting { [1, 2, 3].map { $0 * 2 } }
        #expect(value == [2, 4, 6])
        #expect(allocations == nil)
    }
}
