import Testing

@testable import KaryonsCore

/// The signal queue between the halves: `hasSignals` is a stored flag NodeCore reads after every
/// input instead of the array, so it must follow the queue exactly.
@Suite struct CoreContextTests {
    @Test func signalsComeOutInOrderOnceAndTheFlagFollows() {
        var cx = CoreContext(localID: Fixture.localID, configuration: NodeConfiguration(), seed: 1, now: .zero)
        #expect(!cx.hasSignals && cx.takeSignals().isEmpty)
        let first = CoreSignal.dial(.tcp(.v4(0x0A00_0001), 7000), expected: nil)
        let second = CoreSignal.dialFailed(.tcp(.v4(0x0A00_0002), 7000), expected: nil, reason: .noFreeSlot)
        cx.signal(first)
        #expect(cx.hasSignals)
        cx.signal(second)
        #expect(cx.takeSignals() == [first, second])
        #expect(!cx.hasSignals && cx.signals.isEmpty)
        #expect(cx.takeSignals().isEmpty, "taken once")
        cx.signal(second)
        #expect(cx.hasSignals && cx.takeSignals() == [second])
        #expect(!cx.hasSignals)
    }
}
