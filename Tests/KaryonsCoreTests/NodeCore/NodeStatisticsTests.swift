import Testing
@testable import KaryonsCore

/// The node's counters: one slot per message kind and dial failure kind, and value semantics.
@Suite struct NodeStatisticsTests {
    @Test func everyKindHasItsOwnCounter() {
        #expect(MessageKind.allCases.allSatisfy { Int($0.rawValue) < NodeStatistics.frameKindSlots })
        #expect(DialFailureKind.allCases.count == NodeStatistics.dialFailureKindSlots)
        #expect(DialFailureKind.allCases.allSatisfy { $0.rawValue < NodeStatistics.dialFailureKindSlots })
        var statistics = NodeStatistics()
        for (index, kind) in MessageKind.allCases.enumerated() {
            for _ in 0...index { statistics.count(sent: kind, bytes: 10) }
        }
        for (index, kind) in DialFailureKind.allCases.enumerated() {
            for _ in 0..<(index + 2) { statistics.count(dialFailure: kind) }
        }
        #expect(MessageKind.allCases.enumerated().allSatisfy { statistics.framesSent($1) == $0 + 1 })
        #expect(DialFailureKind.allCases.enumerated().allSatisfy { statistics.dialFailures($1) == $0 + 2 })
        #expect(statistics.framesSent.count == MessageKind.allCases.count)
        #expect(statistics.bytesSent == 10 * (1...MessageKind.allCases.count).reduce(0, +))
    }

    @Test func equalityAndHashingSeeEveryCounter() {
        let base = NodeStatistics()
        var frames = base
        frames.count(sent: .verack, bytes: 0)
        var failures = base
        failures.count(dialFailure: .remoteFull)
        var scalar = base
        scalar.lookupHops = 1
        #expect(base == NodeStatistics())
        #expect(base.hashValue == NodeStatistics().hashValue)
        for changed in [frames, failures, scalar] {
            #expect(changed != base)
            #expect(Set([base, changed]).count == 2)
        }
    }
}
