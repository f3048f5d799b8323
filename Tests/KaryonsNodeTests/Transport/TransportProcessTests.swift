#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

/// Tests that change or count process-wide state (the descriptor limit, the descriptor table). Each
/// runs in a child process of its own (a Swift Testing exit test), so no other test can open or close
/// descriptors meanwhile, and a lowered limit cannot leak into them.
@Suite struct TransportProcessTests {
    /// Running out of descriptors pauses accepting with a backoff (one accept attempt per pause,
    /// never a spin), the reactor keeps serving an existing connection, and accepting resumes once
    /// descriptors are available again.
    @Test func emfilePausesAcceptingAndItResumes() async {
        await #expect(processExitsWith: .success) {
            try await TransportProcessTests.emfileScenario()
        }
    }

    static func emfileScenario() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var options = TCPListener.Options()
        options.acceptBackoffInitial = .milliseconds(2)
        options.acceptBackoffMax = .milliseconds(10)
        let server = EchoServer(expectedConnections: 1 + 5, expectedPauses: 4)
        let existing = EchoClient(message: Array("before".utf8))
        let (listener, connection) = try await loop.run { () -> (TCPListener, TCPConnection) in
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, options: options,
                                                  delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: existing)
            return (listener, connection)
        }
        #expect(await existing.echoed.wait(), "the existing connection never echoed")
        // Client sockets are created before the limit drops (connect itself needs no descriptor).
        let flood = try (0..<5).map { _ in try Sys.socket(.ipv4, type: Int32(SOCK_STREAM.rawValue)) }
        let original = lowerDescriptorLimitToZero()
        for socket in flood {
            _ = try Sys.connect(socket, to: listener.localAddress)
        }
        // While the limit is lowered, waits expire on the reactor's timers (which need no descriptor).
        #expect(await server.paused.wait(expiringOn: loop.reactor), "accepting never paused 4 times")
        // The existing connection is still served while accepting is paused.
        let echoedAgain = Signal()
        try await loop.run {
            existing.received = []
            existing.onEchoedAgain = { echoedAgain.fire() }
            try connection.send(existing.message)
        }
        #expect(await echoedAgain.wait(expiringOn: loop.reactor), "no echo while accepting was paused")
        let (errors, pauses, accepted) = try await loop.run {
            (listener.statistics.acceptErrors, listener.statistics.pauses, listener.statistics.accepted)
        }
        #expect(accepted == 1, "accepted \(accepted) while out of descriptors")
        #expect(pauses >= 4, "\(pauses) pauses")
        // One failed accept per pause: the listener never spins on a level-triggered EMFILE.
        #expect(errors == pauses, "\(errors) accept errors for \(pauses) pauses")
        var limit = original
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(await server.acceptedCount.wait(), "accepting did not resume")
        let (reasons, resumed, pauseErrors) = try await loop.run {
            (server.closeReasons, server.resumes, server.pauses.map(\.0.code))
        }
        #expect(reasons.isEmpty)
        #expect(resumed >= 1)
        #expect(pauseErrors.allSatisfy { $0 == EMFILE })
        for socket in flood { Sys.close(socket) }
    }

    /// Sets the soft descriptor limit to zero, so every descriptor the process tries to open fails
    /// with EMFILE while the open ones keep working (the limit bounds new descriptor numbers only).
    /// Zero, rather than the current use, so a descriptor another thread closes meanwhile cannot
    /// leave a hole below the limit for `accept4` to fill. Returns the previous limit.
    static func lowerDescriptorLimitToZero() -> rlimit {
        var original = rlimit()
        precondition(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original) == 0)
        var lowered = original
        lowered.rlim_cur = 0
        precondition(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered) == 0)
        return original
    }

    /// After a busy reactor (listeners, connections in every state, UDP sockets, timers) shuts down,
    /// the process has exactly the descriptors it had before.
    @Test func shutdownReturnsEveryDescriptor() async {
        await #expect(processExitsWith: .success) {
            // A first round warms up what the harness opens lazily, so the second round's before and
            // after see the same process apart from the reactor.
            try await TransportProcessTests.busyReactorThenShutdown()
            let before = TransportProcessTests.reactorKindDescriptors()
            try await TransportProcessTests.busyReactorThenShutdown()
            let after = TransportProcessTests.reactorKindDescriptors()
            #expect(after == before, "before: \(before)\nafter: \(after)")
            #expect(openDescriptorCount() >= before.count)
        }
    }

    /// The open descriptors of the kinds a reactor creates (sockets, epoll instances, eventfds), as
    /// "number=target" lines. The concurrency runtime behind `Signal.wait` (Task.sleep) opens
    /// timerfds lazily on its own threads; the reactor never opens one, so they are left out.
    static func reactorKindDescriptors() -> [String] {
        openDescriptors().filter { !$0.hasSuffix("anon_inode:[timerfd]") }
    }

    static func busyReactorThenShutdown() async throws {
        let (reserved, closedPort) = try reserveClosedPort()
        defer { Sys.close(reserved) }
        let loop = try LoopThread()
        let server = EchoServer(expectedConnections: 4)
        let clients = (0..<4).map { EchoClient(message: Array("client \($0)".utf8)) }
        let datagrams = DatagramCollector(expected: 2)
        datagrams.echoes = true
        let echoes = DatagramCollector(expected: 2)
        try await loop.run {
            let four = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: server)
            let six = try TCPListener.listen(on: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: server)
            for (index, client) in clients.enumerated() {
                let target = index.isMultiple(of: 2) ? four.localAddress : six.localAddress
                _ = try TCPConnection.connect(to: target, on: loop.reactor, delegate: client)
            }
            _ = try TCPConnection.connect(to: closedPort, on: loop.reactor, delegate: EchoClient(message: []))
            let udpServer = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: datagrams)
            let udpClient = try UDPSocket.bind(to: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: echoes)
            try udpClient.send([1, 2, 3], to: udpServer.localAddress)
            try udpClient.send([4, 5, 6], to: udpServer.localAddress)
            for _ in 0..<100 { loop.reactor.scheduleTimer(after: .seconds(3_600)) {} }
        }
        for client in clients { #expect(await client.echoed.wait()) }
        #expect(await echoes.count.wait())
        loop.stop()
    }
}
