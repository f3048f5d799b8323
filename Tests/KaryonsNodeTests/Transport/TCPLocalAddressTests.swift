import KaryonsCore
import Testing
@testable import KaryonsNode

/// `TCPConnection.Options.localAddress`: many nodes on distinct loopback addresses in one process
/// (the loopback simulation) need their connections to come from their own address, where the
/// kernel would pick 127.0.0.1.
@Suite struct TCPLocalAddressTests {
    @Test func aBoundConnectionComesFromItsLocalAddress() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        let client = EchoClient(message: [1, 2, 3])
        var options = TCPConnection.Options()
        options.localAddress = SocketAddress(ipv4: 127, 0, 3, 7, port: 0)
        let connection = try await loop.run { () -> TCPConnection in
            let listener = try TCPListener.listen(on: SocketAddress(ipv4: 127, 0, 3, 8, port: 0), reactor: loop.reactor, delegate: server)
            return try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, options: options, delegate: client)
        }
        #expect(await client.echoed.wait())
        let (local, seenByServer) = try await loop.run { (connection.localAddress, server.accepted.first?.remoteAddress) }
        #expect(local?.host == "127.0.3.7")
        #expect(local?.port != 0)
        #expect(seenByServer == local)
    }

    @Test func anUnboundConnectionToAnotherLoopbackAddressComesFrom127001() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        let client = EchoClient(message: [4])
        try await loop.run {
            let listener = try TCPListener.listen(on: SocketAddress(ipv4: 127, 0, 3, 9, port: 0), reactor: loop.reactor, delegate: server)
            _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
        }
        #expect(await client.echoed.wait())
        let seenByServer = try await loop.run { server.accepted.first?.remoteAddress }
        #expect(seenByServer?.host == "127.0.0.1")
    }

    @Test func aLocalAddressThatCannotBeBoundThrowsBeforeConnecting() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let client = EchoClient(message: [])
        var options = TCPConnection.Options()
        options.localAddress = SocketAddress(ipv4: 192, 0, 2, 1, port: 0)  // TEST-NET-1: not an address of this host
        let outcome = try await loop.run { () -> ReactorError? in
            do throws(ReactorError) {
                _ = try TCPConnection.connect(
                    to: .ipv4Loopback(port: 9), on: loop.reactor, options: options, delegate: client)
                return nil
            } catch {
                return error
            }
        }
        guard case .system(let error)? = outcome else {
            Issue.record("expected a bind error, got \(String(describing: outcome))")
            return
        }
        #expect(error.call == "bind")
    }
}
