import Testing
import KaryonsCore
@testable import KaryonsNode

@Suite struct EnvironmentTests {
    @Test func monotonicClockNeverGoesBackwards() {
        var previous = SystemClock.now()
        for _ in 0..<10_000 {
            let current = SystemClock.now()
            #expect(current >= previous)
            previous = current
        }
    }

    @Test func entropySeedsDiffer() {
        let seeds = Set((0..<16).map { _ in SystemEntropy.seed() })
        #expect(seeds.count == 16)
    }
}
