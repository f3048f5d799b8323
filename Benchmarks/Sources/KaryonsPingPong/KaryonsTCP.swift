#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import KaryonsNode
import PingPong

/// One TCP measurement on two reactors: a listener whose accepted connections echo frames, and a
/// client with `connections` connections, each with one ping frame in flight.
///
/// Setup (untimed) runs on the reactors: the client starts every connect at once and the listener
/// accepts them; the timed phase starts once both sides hold all of them. Teardown closes the
/// client side with a reset (as the C baseline's zero linger), so repeated runs leave no TIME_WAIT.
struct KaryonsTCPRun {
    /// How long setup (all connections made and accepted) may take.
    static let setupSecondsMax = 30.0

    let run: PingPongRun
    let connections: Int

    func measure(on reactors: ReactorPair) throws(PingPongError) -> PingPongResult {
        defer { reactors.stop() }
        try reactors.start(pinning: run.pinning)
        let outcome = Rendezvous<Result<PingPongResult, PingPongError>>()
        let frameSize = FrameAssembler.headerSize + run.workload.payloadSize
        let server = TCPEchoServer(connections: connections, frameSize: frameSize, outcome: outcome)
        let client = TCPPingClient(run: run, connections: connections, frameSize: frameSize, outcome: outcome)
        server.clientReactor = reactors.client
        server.client = LoopBound(object: client)
        let serverBox = LoopBound(object: server)
        let clientBox = LoopBound(object: client)
        defer {
            // Client connections first (reset), then the server's side and its listener.
            let closed = Rendezvous<Bool>()
            reactors.client.execute { clientBox.object.closeAll(); closed.complete(true) }
            _ = closed.wait(seconds: 10)
            reactors.server.execute { serverBox.object.closeAll() }
        }
        try connect(server: serverBox, client: clientBox, reactors: reactors)
        reactors.client.execute { clientBox.object.begin() }
        guard let result = outcome.wait(seconds: run.giveUpSeconds + 10) else {
            throw KaryonsPingPong.failure("the client did not report within the give-up limit")
        }
        return try result.get()
    }

    /// Listens, connects every client connection, and waits until both sides hold all of them.
    private func connect(
        server: LoopBound<TCPEchoServer>, client: LoopBound<TCPPingClient>, reactors: ReactorPair
    ) throws(PingPongError) {
        let listening = Rendezvous<Result<SocketAddress, PingPongError>>()
        reactors.server.execute { listening.complete(server.object.listen()) }
        guard let address = listening.wait(seconds: Self.setupSecondsMax) else {
            throw KaryonsPingPong.failure("the server did not start listening")
        }
        let serverAddress = try address.get()
        reactors.client.execute { client.object.connectAll(to: serverAddress) }
        for (side, ready) in [("client", client.object.ready), ("server", server.object.ready)] {
            guard let result = ready.wait(seconds: Self.setupSecondsMax) else {
                throw KaryonsPingPong.failure("the \(side) did not get all \(connections) connections in time")
            }
            try result.get()
        }
    }
}

/// Reassembles frames (a 4-byte big-endian length and a payload of a fixed size) per connection,
/// in memory allocated once for all connections, and hands each complete frame to a handler
/// without copying it when it arrived whole in one read. Any chunking of a connection's bytes yields
/// the same frames in the same order.
public struct FrameAssembler: ~Copyable {
    /// Bytes of the length prefix.
    public static let headerSize = 4

    /// Bytes of a whole frame, length prefix included.
    public let frameSize: Int
    private let buffers: UnsafeMutableRawPointer
    private let fills: UnsafeMutablePointer<Int>

    /// Room for one partial frame on each of `connections` connections.
    public init(connections: Int, frameSize: Int) {
        precondition(connections > 0 && frameSize > Self.headerSize, "BUG in Karyons benchmarks: FrameAssembler sizes")
        self.frameSize = frameSize
        buffers = .allocate(byteCount: connections * frameSize, alignment: 8)
        fills = .allocate(capacity: connections)
        fills.initialize(repeating: 0, count: connections)
    }

    deinit {
        buffers.deallocate()
        fills.deallocate()
    }

    /// Splits `bytes` received on connection `index` into frames and calls `handle` with each
    /// (header included); returns false at once if a length is wrong or `handle` returns false.
    @inline(__always)
    public func receive(
        _ bytes: UnsafeRawBufferPointer, on index: Int, _ handle: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        guard !bytes.isEmpty else { return true }
        var rest = bytes
        let partial = buffers + index * frameSize
        if fills[index] > 0 {
            let taken = min(frameSize - fills[index], rest.count)
            (partial + fills[index]).copyMemory(from: rest.baseAddress!, byteCount: taken)
            fills[index] += taken
            rest = UnsafeRawBufferPointer(rebasing: rest[taken...])
            if fills[index] < frameSize { return checkHeader(UnsafeRawBufferPointer(start: partial, count: fills[index])) }
            fills[index] = 0
            let frame = UnsafeRawBufferPointer(start: partial, count: frameSize)
            guard checkHeader(frame), handle(frame) else { return false }
        }
        while rest.count >= frameSize {
            let frame = UnsafeRawBufferPointer(rebasing: rest[..<frameSize])
            guard checkHeader(frame), handle(frame) else { return false }
            rest = UnsafeRawBufferPointer(rebasing: rest[frameSize...])
        }
        if !rest.isEmpty {
            partial.copyMemory(from: rest.baseAddress!, byteCount: rest.count)
            fills[index] = rest.count
            return checkHeader(rest)
        }
        return true
    }

    /// False if the (possibly partial) frame's length prefix is complete and not the payload size.
    @inline(__always)
    private func checkHeader(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard frame.count >= Self.headerSize else { return true }
        return UInt32(bigEndian: frame.loadUnaligned(as: UInt32.self)) == UInt32(frameSize - Self.headerSize)
    }
}

/// The server side: a listener and the connections it accepted, each echoing every frame whole.
final class TCPEchoServer: TCPListenerDelegate, TCPConnectionDelegate {
    let ready = Rendezvous<Result<Void, PingPongError>>()
    var clientReactor: Reactor?
    var client: LoopBound<TCPPingClient>?
    private let expected: Int
    private let assembler: FrameAssembler
    private let outcome: Rendezvous<Result<PingPongResult, PingPongError>>
    private var listener: TCPListener?
    private var accepted: [TCPConnection] = []
    private var closing = false
    private var failed = false

    init(connections: Int, frameSize: Int, outcome: Rendezvous<Result<PingPongResult, PingPongError>>) {
        expected = connections
        assembler = FrameAssembler(connections: connections, frameSize: frameSize)
        self.outcome = outcome
        accepted.reserveCapacity(connections)
    }

    func listen() -> Result<SocketAddress, PingPongError> {
        guard let reactor = Reactor.current else {
            return .failure(KaryonsPingPong.failure("listen() off a reactor thread"))
        }
        do {
            let listener = try TCPListener.listen(on: .ipv4Loopback(port: 0), reactor: reactor, delegate: self)
            self.listener = listener
            return .success(listener.localAddress)
        } catch {
            return .failure(KaryonsPingPong.failure("listen: \(error)"))
        }
    }

    func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection) {
        guard accepted.count < expected else { return }  // refused: left without a delegate
        connection.tag = accepted.count
        connection.delegate = self
        accepted.append(connection)
        if accepted.count == expected { ready.complete(.success(())) }
    }

    func tcpListener(_ listener: TCPListener, didPauseAcceptingAfter error: SystemError, retryAfter: Duration) {
        fail("accepting paused: \(error)")
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        let echoed = assembler.receive(bytes, on: connection.tag) { frame in
            do {
                try connection.send(frame)
                return true
            } catch {
                return false
            }
        }
        if !echoed { fail("a frame of unexpected length, or an echo refused") }
    }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        fail("a connection closed: \(reason)")
    }

    /// Closes the listener and every connection; later endings are expected, not failures.
    func closeAll() {
        closing = true
        listener?.close()
        for connection in accepted { connection.close() }
        accepted.removeAll()
    }

    private func fail(_ reason: String) {
        guard !closing, !failed else { return }
        failed = true
        let failure = KaryonsPingPong.failure("the server failed: \(reason)")
        ready.complete(.failure(failure))
        outcome.complete(.failure(failure))
        if let client {
            clientReactor?.execute { client.object.stop() }
        }
    }
}

/// The client side: `connections` connections, one ping frame in flight on each; every pong is
/// compared with the ping byte for byte before the next ping goes out on that connection.
final class TCPPingClient: TCPConnectionDelegate, ReactorTimerHandler {
    /// How often the client checks the stop condition and the give-up limit without a pong.
    static let checkInterval = Duration.milliseconds(50)

    let ready = Rendezvous<Result<Void, PingPongError>>()
    private let schedule: ClientSchedule
    private let expected: Int
    private let assembler: FrameAssembler
    private let frame: UnsafeMutableRawBufferPointer
    private let outcome: Rendezvous<Result<PingPongResult, PingPongError>>
    private var connections: [TCPConnection] = []
    private var connected = 0
    private var inFlight: UInt64 = 0
    private var completed: UInt64 = 0
    private var start = Instant.zero
    private var running = false
    private var closing = false
    private var watchdog: ReactorTimer?
    private var reactor: Reactor?

    init(run: PingPongRun, connections: Int, frameSize: Int, outcome: Rendezvous<Result<PingPongResult, PingPongError>>) {
        schedule = ClientSchedule(run)
        expected = connections
        assembler = FrameAssembler(connections: connections, frameSize: frameSize)
        self.outcome = outcome
        frame = .allocate(byteCount: frameSize, alignment: 8)
        frame.storeBytes(of: UInt32(frameSize - FrameAssembler.headerSize).bigEndian, as: UInt32.self)
        for index in FrameAssembler.headerSize..<frameSize {
            frame[index] = UInt8(truncatingIfNeeded: (index - FrameAssembler.headerSize) * 7 + 1)
        }
        self.connections.reserveCapacity(connections)
    }

    deinit {
        frame.deallocate()
    }

    /// Starts every connect at once (on the client's loop thread).
    func connectAll(to address: SocketAddress) {
        guard let reactor = Reactor.current else { return }
        self.reactor = reactor
        for index in 0..<expected {
            do {
                let connection = try TCPConnection.connect(to: address, on: reactor, delegate: self)
                connection.tag = index
                connections.append(connection)
            } catch {
                return setupFailed("connect: \(error)")
            }
        }
    }

    func tcpConnectionDidConnect(_ connection: TCPConnection) {
        connected += 1
        if connected == expected { ready.complete(.success(())) }
    }

    func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError) {
        setupFailed("connect: \(error)")
    }

    /// Starts the timed phase: one ping on every connection.
    func begin() {
        guard let reactor else { return }
        start = SystemClock.now()
        running = true
        watchdog = reactor.scheduleTimer(at: start + Self.checkInterval, handler: self)
        for connection in connections where schedule.maySend(completed: completed, inFlight: inFlight) {
            guard sendPing(on: connection) else { return }
        }
    }

    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        guard running else { return }
        let pingFrame = UnsafeRawBufferPointer(frame)
        let ok = assembler.receive(bytes, on: connection.tag) { pong in
            guard memcmp(pong.baseAddress!, pingFrame.baseAddress!, pingFrame.count) == 0 else { return false }
            inFlight -= 1
            completed += 1
            guard schedule.maySend(completed: completed, inFlight: inFlight) else { return true }
            return sendPing(on: connection)
        }
        guard ok else { return fail("a pong differs from its ping, or a send failed") }
        if schedule.isOver(completed: completed, start: start, now: connection.reactor.now) { finish() }
    }

    @inline(__always)
    private func sendPing(on connection: TCPConnection) -> Bool {
        do {
            try connection.send(UnsafeRawBufferPointer(frame))
        } catch {
            fail("send: \(error)")
            return false
        }
        inFlight += 1
        return true
    }

    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        guard !closing else { return }
        if running { fail("a connection closed: \(reason)") } else { setupFailed("a connection closed: \(reason)") }
    }

    /// Every 50 ms: the stop condition and the give-up limit.
    func reactorTimerFired(_ timer: ReactorTimer) {
        guard running, let reactor else { return }
        let now = SystemClock.now()
        if schedule.isOver(completed: completed, start: start, now: now) { return finish() }
        if now.nanoseconds - start.nanoseconds >= schedule.giveUpNanoseconds {
            return fail("gave up: the run took too long")
        }
        watchdog = reactor.scheduleTimer(at: now + Self.checkInterval, handler: self)
    }

    private func finish() {
        let elapsed = SystemClock.now().nanoseconds - start.nanoseconds
        stop()
        outcome.complete(.success(PingPongResult(roundTrips: completed, elapsedNanoseconds: elapsed)))
    }

    private func fail(_ reason: String) {
        stop()
        outcome.complete(.failure(KaryonsPingPong.failure(reason)))
    }

    private func setupFailed(_ reason: String) {
        ready.complete(.failure(KaryonsPingPong.failure(reason)))
    }

    /// Ends the timed phase: no more pings, no more checks.
    func stop() {
        running = false
        if let watchdog { reactor?.cancelTimer(watchdog) }
        watchdog = nil
    }

    /// Resets every connection (no TIME_WAIT left behind); later endings are expected.
    func closeAll() {
        stop()
        closing = true
        for connection in connections { connection.close(mode: .reset) }
        connections.removeAll()
    }
}
