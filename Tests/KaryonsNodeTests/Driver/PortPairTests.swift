import Testing

@testable import KaryonsNode

/// A lookup listener on an ephemeral port with its refresh socket on the same number
/// (`NodeDriver.bindPortPair`): when the number is taken for UDP, another port is tried.
@Suite struct PortPairTests {
    enum BindFailure: Error, Equatable {
        case portTaken(Int)
        case noDescriptors
    }

    /// Fake sockets: listeners get ports 40001, 40002, …; the ports in `takenForUDP` refuse the
    /// second socket.
    final class FakeMachine {
        var nextPort = 40_001
        var takenForUDP: Set<Int>
        /// The second socket fails for want of descriptors, not because its number is taken.
        var outOfDescriptors = false
        var open: Set<Int> = []
        var listens = 0
        init(takenForUDP: Set<Int>) { self.takenForUDP = takenForUDP }

        func bind(attemptsMax: Int) throws(BindFailure) -> (Int, Int) {
            try NodeDriver.bindPortPair(
                attemptsMax: attemptsMax,
                listen: { () throws(BindFailure) in
                    listens += 1
                    nextPort += 1
                    open.insert(nextPort - 1)
                    return nextPort - 1
                },
                bindBeside: { port throws(BindFailure) in
                    if outOfDescriptors { throw .noDescriptors }
                    if takenForUDP.contains(port) { throw .portTaken(port) }
                    return port
                },
                isNumberTaken: { if case .portTaken = $0 { true } else { false } },
                close: { open.remove($0) })
        }
    }

    @Test func aPortTakenForUDPIsGivenBackAndAnotherTried() throws {
        let machine = FakeMachine(takenForUDP: [40_001, 40_002])
        let (listener, beside) = try machine.bind(attemptsMax: 8)
        #expect(listener == 40_003 && beside == 40_003)
        #expect(machine.listens == 3)
        #expect(machine.open == [40_003], "the listeners of the refused attempts are closed")
    }

    @Test func afterTheLastAttemptTheErrorIsThrownAndNothingStaysOpen() {
        let machine = FakeMachine(takenForUDP: Set(40_001...40_010))
        #expect(throws: BindFailure.portTaken(40_003)) { try machine.bind(attemptsMax: 3) }
        #expect(machine.listens == 3)
        #expect(machine.open.isEmpty)
    }

    @Test func aFailureOtherThanATakenNumberIsThrownAtOnce() {
        let machine = FakeMachine(takenForUDP: [])
        machine.outOfDescriptors = true
        #expect(throws: BindFailure.noDescriptors) { try machine.bind(attemptsMax: 8) }
        #expect(machine.listens == 1)
        #expect(machine.open.isEmpty)
    }

    @Test func aFreeNumberTakesOneAttempt() throws {
        let machine = FakeMachine(takenForUDP: [])
        _ = try machine.bind(attemptsMax: NodeDriver.ephemeralLookupPortAttemptsMax)
        #expect(machine.listens == 1)
        #expect(machine.open == [40_001])
    }
}
