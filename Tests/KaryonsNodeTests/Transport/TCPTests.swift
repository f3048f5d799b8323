#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore
import Testing
@testable import KaryonsNode

@Suite struct TCPTests {
    static let families: [SocketAddress] = [.ipv4Loopback(port: 0), .ipv6Loopback(port: 0)]

    @Test(arguments: families)
    func echoes(over loopback: SocketAddress) async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        let client = EchoClient(message: patternBytes(from: 0, count: 100_000))
        let (listener, connection) = try await loop.run { () -> (TCPListener, TCPConnection) in
            let listener = try TCPListener.listen(on: loopback, reactor: loop.reactor, delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            return (listener, connection)
        }
        #expect(await client.echoed.wait())
        let (received, local, remote, serverSide) = try await loop.run {
            (client.received, connection.localAddress, connection.remoteAddress, server.accepted.first?.remoteAddress)
        }
        #expect(received == client.message)
        #expect(listener.localAddress.family == loopback.family)
        #expect(listener.localAddress.port != 0)
        #expect(remote == listener.localAddress)
        #expect(local?.family == loopback.family)
        #expect(serverSide == local)
    }

    @Test func noDelayIsOnForAcceptedAndConnectedSockets() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        let client = EchoClient(message: [7])
        let connection = try await loop.run { () -> TCPConnection in
            let listener = try TCPListener.listen(on: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: server)
            return try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
        }
        #expect(await client.echoed.wait())
        let flags = try await loop.run { () -> [Int32] in
            [connection, server.accepted[0]].map { connection in
                var value: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(connection.registration.descriptor.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length)
                return value
            }
        }
        #expect(flags == [1, 1])
    }

    @Test func thousandConcurrentConnectionsOnOneReactorAreAllEchoed() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let count = 1_000
        let server = EchoServer(expectedConnections: count)
        let allEchoed = CountdownSignal(target: count)
        let clients = (0..<count).map { index in
            EchoClient(message: Array("connection \(index) says hello".utf8) + patternBytes(from: index, count: 64))
        }
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: server)
            for client in clients {
                client.onEchoed = { allEchoed.add() }
                _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            }
        }
        #expect(await allEchoed.wait(seconds: 60))
        let (mismatches, accepted) = try await loop.run {
            (clients.filter { $0.received != $0.message }.count, server.accepted.count)
        }
        #expect(mismatches == 0)
        #expect(accepted == count)
    }

    /// 16 MiB through a connection whose reader takes at most 256 KiB per millisecond: every byte
    /// arrives in order, the sender's queue stays bounded, and backpressure is reported both ways.
    @Test func sixteenMebibytesThroughASlowReaderStayBounded() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let sender = BulkSender(total: 16 * 1_024 * 1_024, chunk: 64 * 1_024)
        let reader = SlowReader(total: sender.total, perSlot: 256 * 1_024)
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: sender)
            _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: reader)
        }
        #expect(await reader.done.wait(seconds: 60))
        let (received, mismatch, outboundMax, offEvents, onEvents, slots) = try await loop.run {
            (reader.received, reader.firstMismatch, sender.outboundMax, sender.notWritableEvents,
             sender.writableEvents, reader.slots)
        }
        let options = TCPConnection.Options()
        #expect(received == sender.total)
        #expect(mismatch == nil)
        #expect(offEvents >= 1)
        #expect(onEvents == offEvents)
        #expect(outboundMax > options.outboundBytesHighWatermark)
        #expect(outboundMax <= options.outboundBytesHighWatermark + sender.chunk)
        #expect(slots >= 16)
    }

    @Test func connectingToAClosedPortIsRefused() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let (reserved, address) = try reserveClosedPort()
        defer { Sys.close(reserved) }
        let client = EchoClient(message: [])
        try await loop.run { _ = try TCPConnection.connect(to: address, on: loop.reactor, delegate: client) }
        #expect(await client.ended.wait())
        let (error, connected) = try await loop.run { (client.connectError, client.connectedCount) }
        #expect(error == .refused)
        #expect(connected == 0)
    }

    /// The listener's backlog is full and it never accepts, so the SYN goes unanswered.
    @Test func connectingToAFullBacklogTimesOut() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let listening = try Sys.socket(.ipv4, type: CEPOLL_SOCK_STREAM)
        defer { Sys.close(listening) }
        try Sys.bind(listening, to: .ipv4Loopback(port: 0))
        try Sys.listen(listening, backlog: 0)
        let address = try Sys.localAddress(listening)
        let filler = EchoClient(message: [])
        try await loop.run { _ = try TCPConnection.connect(to: address, on: loop.reactor, delegate: filler) }
        #expect(await filler.connected.wait())
        var options = TCPConnection.Options()
        options.connectTimeout = .milliseconds(200)
        let victim = EchoClient(message: [])
        let started = SystemClock.now()
        try await loop.run {
            _ = try TCPConnection.connect(to: address, on: loop.reactor, options: options, delegate: victim)
        }
        #expect(await victim.ended.wait())
        let elapsed = SystemClock.now().duration(since: started)
        let error = try await loop.run { victim.connectError }
        #expect(error == .timedOut)
        #expect(elapsed >= .milliseconds(200))
    }

    @Test func peerCloseResetAndHalfCloseAreDistinctEvents() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        // Orderly close by the client.
        let (closingServer, closingClient) = (EchoServer(), EchoClient(message: Array("bye".utf8)))
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: closingServer)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: closingClient)
            closingClient.onEchoed = { connection.close() }
        }
        // Reset by the client.
        let (resetServer, resetClient) = (EchoServer(), EchoClient(message: Array("rst".utf8)))
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: resetServer)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: resetClient)
            resetClient.onEchoed = { connection.close(mode: .reset) }
        }
        #expect(await closingServer.closed.wait())
        #expect(await resetServer.closed.wait())
        let (closedReasons, resetReasons, clientReasons) = try await loop.run {
            (closingServer.closeReasons, resetServer.closeReasons, [closingClient.closeReason, resetClient.closeReason])
        }
        #expect(closedReasons == [.peerClosed])
        #expect(resetReasons == [.reset])
        // The application closed those itself: its delegate hears nothing.
        #expect(clientReasons == [nil, nil])
    }

    @Test func halfCloseLetsTheOtherSideFinishSending() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var serverOptions = TCPListener.Options()
        serverOptions.connectionOptions.allowHalfClose = true
        let server = EchoServer()
        server.echoes = false
        server.onEOF = { [unowned server] connection in
            // The request is complete: answer, then finish our side too.
            try! connection.send(Array("answer to ".utf8) + server.received)
            connection.shutdownOutput()
        }
        let client = EchoClient(message: [])
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor,
                                                  options: serverOptions, delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            try connection.send(Array("question".utf8))
            connection.shutdownOutput()
            #expect(throws: TCPSendError.closed) { try connection.send([1]) }
        }
        #expect(await client.ended.wait())
        #expect(await server.closed.wait())
        let (answer, clientReason, serverReasons, eofs) = try await loop.run {
            (client.received, client.closeReason, server.closeReasons, server.eofs)
        }
        #expect(answer == Array("answer to question".utf8))
        #expect(clientReason == .peerClosed)
        #expect(eofs == 1)
        #expect(serverReasons == [.peerClosed])
    }

    @Test func bytesSentWhileConnectingGoOutOnceConnected() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        let client = EchoClient(message: [])
        let message = patternBytes(from: 5, count: 10_000)
        let echoed = CountdownSignal(target: message.count)
        server.onRead = { _, bytes in echoed.add(bytes.count) }
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv6Loopback(port: 0), reactor: loop.reactor, delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            #expect(connection.isConnecting)
            try connection.send(message)
            #expect(connection.outboundBytes == message.count)
        }
        #expect(await echoed.wait())
        #expect(try await loop.run { server.received } == message)
    }

    @Test func closeAfterFlushDeliversEveryQueuedByte() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let payload = patternBytes(from: 0, count: 1_024 * 1_024)
        let server = EchoServer()
        server.echoes = false
        server.onAccept = { connection in
            try! connection.send(payload)
            connection.close(mode: .afterFlush)
            #expect(throws: TCPSendError.closed) { try connection.send([1]) }
        }
        let client = EchoClient(message: [])
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: server)
            _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
        }
        #expect(await client.ended.wait())
        let (received, reason, serverReasons) = try await loop.run { (client.received, client.closeReason, server.closeReasons) }
        #expect(received.count == payload.count)
        #expect(received == payload)
        #expect(reason == .peerClosed)
        #expect(serverReasons.isEmpty)
    }

    @Test func outboundBytesMaxRefusesWhatWouldExceedIt() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var options = TCPListener.Options()
        options.connectionOptions.outboundBytesHighWatermark = 64 * 1_024
        options.connectionOptions.outboundBytesLowWatermark = 16 * 1_024
        options.connectionOptions.outboundBytesMax = 128 * 1_024
        let server = EchoServer()
        server.echoes = false
        let outcome = Unchecked<(queued: Int, refusedAt: Int, error: TCPSendError?)>((0, 0, nil))
        let refused = Signal()
        server.onAccept = { connection in
            // The peer never reads: fill the kernel buffers, then the queue up to its maximum.
            let chunk = [UInt8](repeating: 0xAB, count: 8 * 1_024)
            for attempt in 0..<10_000 {
                do throws(TCPSendError) {
                    try connection.send(chunk)
                } catch {
                    outcome.value = (connection.outboundBytes, attempt, error)
                    break
                }
            }
            refused.fire()
        }
        let client = EchoClient(message: [])
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, options: options,
                                                  delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            connection.pauseReading()
        }
        #expect(await refused.wait())
        let result = try await loop.run { outcome.value }
        #expect(result.error == .outboundBufferFull)
        #expect(result.queued <= 128 * 1_024)
        #expect(result.queued > 120 * 1_024)
    }

    @Test func aListenerDelegateCanRefuseConnections() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let server = EchoServer()
        server.refuses = true
        let client = EchoClient(message: Array("hello?".utf8))
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, delegate: server)
            _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
        }
        #expect(await client.ended.wait())
        let (reason, accepted, received) = try await loop.run {
            (client.closeReason, server.accepted.map(\.isClosed), server.received)
        }
        #expect(reason == .peerClosed || reason == .reset)
        #expect(accepted == [true])
        #expect(received.isEmpty)
    }

    @Test func acceptsPerEventAreBounded() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        var options = TCPListener.Options()
        options.acceptsPerEventMax = 2
        let server = EchoServer(expectedConnections: 10)
        let clients = (0..<10).map { _ in EchoClient(message: []) }
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, options: options,
                                                  delegate: server)
            for client in clients {
                _ = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            }
        }
        #expect(await server.acceptedCount.wait())
        let perTick = try await loop.run { Dictionary(grouping: server.acceptTicks, by: { $0 }).values.map(\.count) }
        #expect(perTick.reduce(0, +) == 10)
        #expect(perTick.max()! <= 2)
    }

    @Test func readsPerEventAreBounded() async throws {
        var limits = Reactor.Limits()
        limits.readBufferBytes = 1_024
        let loop = try LoopThread(limits: limits)
        defer { loop.stop() }
        var options = TCPListener.Options()
        options.connectionOptions.readsPerEventMax = 2
        let server = EchoServer()
        server.echoes = false
        let readTicks = Unchecked<[(tick: UInt64, count: Int)]>([])
        let received = CountdownSignal(target: 64 * 1_024)
        server.onRead = { connection, bytes in
            readTicks.value.append((connection.reactor.counters.ticks, bytes.count))
            received.add(bytes.count)
        }
        let client = EchoClient(message: [])
        try await loop.run {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: loop.reactor, options: options,
                                                  delegate: server)
            let connection = try TCPConnection.connect(to: listener.localAddress, on: loop.reactor, delegate: client)
            try connection.send(patternBytes(from: 0, count: 64 * 1_024))
        }
        #expect(await received.wait())
        let reads = try await loop.run { readTicks.value }
        #expect(reads.allSatisfy { $0.count <= 1_024 })
        #expect(Dictionary(grouping: reads, by: \.tick).values.allSatisfy { $0.count <= 2 })
        #expect(try await loop.run { server.received } == patternBytes(from: 0, count: 64 * 1_024))
    }
}

/// Accepts one connection and pushes `total` pattern bytes through it, honouring backpressure.
final class BulkSender: TCPListenerDelegate, TCPConnectionDelegate {
    let total: Int
    let chunk: Int
    var sent = 0
    var outboundMax = 0
    var notWritableEvents = 0
    var writableEvents = 0

    init(total: Int, chunk: Int) {
        self.total = total
        self.chunk = chunk
    }

    func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection) {
        connection.delegate = self
        pump(connection)
    }

    func pump(_ connection: TCPConnection) {
        while sent < total && connection.isWritable {
            let size = min(chunk, total - sent)
            try! connection.send(patternBytes(from: sent, count: size))
            sent += size
            outboundMax = max(outboundMax, connection.outboundBytes)
        }
    }

    func tcpConnection(_ connection: TCPConnection, didChangeWritability isWritable: Bool) {
        if isWritable {
            writableEvents += 1
            pump(connection)
        } else {
            notWritableEvents += 1
        }
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {}
    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {}
}

/// Reads at most `perSlot` bytes per millisecond timer slot, pausing in between; checks every byte.
final class SlowReader: TCPConnectionDelegate {
    let total: Int
    let perSlot: Int
    var received = 0
    var inSlot = 0
    var slots = 0
    var firstMismatch: Int?
    let done = Signal()

    init(total: Int, perSlot: Int) {
        self.total = total
        self.perSlot = perSlot
    }

    func tcpConnectionDidConnect(_ connection: TCPConnection) {
        connection.pauseReading()
        scheduleSlot(connection)
    }

    func scheduleSlot(_ connection: TCPConnection) {
        connection.reactor.scheduleTimer(after: .milliseconds(1)) { [self] in
            slots += 1
            inSlot = 0
            connection.resumeReading()
        }
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        if firstMismatch == nil && !Pattern.matches(bytes, at: received) {
            firstMismatch = received
        }
        received += bytes.count
        inSlot += bytes.count
        if received >= total {
            done.fire()
        } else if inSlot >= perSlot {
            connection.pauseReading()
            scheduleSlot(connection)
        }
    }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {}
}
