#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

/// Node shutdown counted against the process's descriptor table, in a child process of its own
/// (a Swift Testing exit test) so no other test opens or closes descriptors meanwhile.
@Suite struct NodeProcessTests {
    /// Two nodes exchanging messages plus a connection stuck in its handshake: shutting both nodes
    /// down returns promptly, and once their reactor stops the process holds exactly the descriptors
    /// it held before.
    @Test func shutdownDuringHandshakesAndTrafficLeavesNoDescriptorBehind() async {
        await #expect(processExitsWith: .success) {
            try await NodeProcessTests.nodesThenShutdown()  // warms up what the runtime opens lazily
            let before = TransportProcessTests.reactorKindDescriptors()
            let shutdownTook = try await NodeProcessTests.nodesThenShutdown()
            #expect(TransportProcessTests.reactorKindDescriptors() == before)
            #expect(shutdownTook < .seconds(2))
        }
    }

    /// Returns how long the two `shutdown()` calls took.
    @discardableResult
    static func nodesThenShutdown() async throws -> Duration {
        let reactor = try Reactor()
        try reactor.start()
        let listener = try Node(configuration: loopbackConfiguration(), reactor: reactor, seed: 50)
        try await listener.attach(GreeterProtocol.self)
        let mail = Mailboxes.shared.open(for: listener.id)
        try await listener.start()
        let endpoint = try #require(await listener.listeningEndpoint(.peer))
        let dialler = try Node(configuration: outboundConfiguration(dialPeers: [endpoint]), reactor: reactor, seed: 51)
        try await dialler.attach(GreeterProtocol.self)
        try await dialler.start()
        #expect(await first(mail) { $0.from == dialler.id } != nil)
        // A raw connection that never sends its Version: a handshake in progress at shutdown.
        let silent = try Sys.socket(.ipv4, type: Int32(SOCK_STREAM.rawValue))
        _ = try Sys.connect(silent, to: SocketAddress(endpoint))
        await dialler.broadcast(Array("traffic".utf8), protocolID: GreeterProtocol.id)
        let start = SystemClock.now()
        await dialler.shutdown()
        await listener.shutdown()
        let took = SystemClock.now().duration(since: start)
        Sys.close(silent)
        reactor.shutdown()
        reactor.waitUntilStopped()
        return took
    }
}
