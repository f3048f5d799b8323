import Testing

@testable import KaryonsNode

/// A lookup listener on an ephemeral port with its refresh socket on the same number
/// (`NodeDriver.bindPortPair`): when the number is taken for UDP, another port is tried.
@Suite struct PortPairTests {
    struct PortTaken: Error, Equatable { let port: Int }

    /// Fake sockets: listeners get ports 40001, 40002, …; the ports in `takenForUDP` refuse the
    /// second socket.
    final class FakeMachine {
        var nextPort = 40_001
        var takenForUDP: Set<Int>
        var open: Set<Int> = []
        var listens = 0
        init(takenForUDP: Set<Int>) { self.takenForUDP = takenForUDP }

        func bind(attemptsMax: Int) throws(PortTaken) -> (Int, Int) {
            try NodeDriver.bindPortPair(
                attemptsMax: attemptsMax,
                listen: { () throws(PortTaken) in
                    listens += 1
                    nextPort += 1
                    open.insert(nextPort - 1)
                    return nextPort - 1
                },
                bindBeside: { port throws(PortTaken) in
                    if takenForUDP.contains(port) { throw PortTaken(port: port) }
                    return port
                },
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
        #expect(throws: PortTaken(port: 40_003)) { try machine.bind(attemptsMax: 3) }
        #expect(machine.listens == 3)
        #expect(machine.open.isEmpty)
    }

    @Test func aFreeNumberTakesOneAttempt() throws {
        let machine = FakeMachine(takenForUDP: [])
        _ = try machine.bind(attemptsMax: NodeDriver.ephemeralLookupPortAttemptsMax)
        #expect(machine.listens == 1)
        #expect(machine.open == [40_001])
    }
}
