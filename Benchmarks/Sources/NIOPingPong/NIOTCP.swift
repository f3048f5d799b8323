import NIOCore
import NIOPosix
import PingPong

/// One TCP measurement: a listener, `connections` client channels, and the server's accepted ones.
/// Every connection is made (and accepted) before the timed phase starts.
struct TCPRun {
    let run: PingPongRun
    let connections: Int
    let loops: EventLoopPair

    func measure() throws -> PingPongResult {
        let accepted = loops.serverLoop.makePromise(of: Void.self)
        let finished = loops.clientLoop.makePromise(of: PingPongResult.self)
        do {
            return try measure(accepted: accepted, finished: finished)
        } catch {
            // NIO traps on a promise left unfulfilled; a completed one ignores this.
            accepted.fail(error)
            finished.fail(error)
            throw error
        }
    }

    private func measure(accepted: EventLoopPromise<Void>, finished: EventLoopPromise<PingPongResult>) throws -> PingPongResult {
        let payloadSize = run.workload.payloadSize
        let counter = try loops.serverLoop.submit { [connections] in
            NIOLoopBoundBox(AcceptCounter(expected: connections, accepted: accepted), eventLoop: loops.serverLoop)
        }.wait()
        let server = try ServerBootstrap(group: loops.serverGroup)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(FrameDecoder(payloadSize: payloadSize)),
                        TCPEchoServer(),
                    ])
                    counter.value.channelAccepted()
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        guard let serverAddress = server.localAddress else { throw NIORunFailure(description: "server has no address") }

        let plan = ClientPlan(run)
        let state = try loops.clientLoop.submit {
            NIOLoopBoundBox(TCPClientState(plan: plan, finished: finished), eventLoop: loops.clientLoop)
        }.wait()
        let bootstrap = ClientBootstrap(group: loops.clientGroup)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(FrameDecoder(payloadSize: payloadSize)),
                        TCPPingClient(state: state.value),
                    ])
                }
            }
        var clients: [Channel] = []
        defer { Self.reset(clients) }
        for _ in 0..<connections {
            clients.append(try bootstrap.connect(to: serverAddress).wait())
        }
        try accepted.futureResult.wait()
        loops.clientLoop.execute { state.value.begin() }
        return try finished.futureResult.wait()
    }

    /// Closes client channels with a zero linger (a reset), so repeated runs leave no TIME_WAIT.
    static func reset(_ channels: [Channel]) {
        let closed = channels.map { channel in
            let linger = (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
            return (linger ?? channel.eventLoop.makeSucceededVoidFuture()).flatMap { channel.close() }
        }
        for future in closed { try? future.wait() }
    }
}

/// Counts accepted connections on the server loop; succeeds `accepted` when all have arrived.
final class AcceptCounter {
    private let expected: Int
    private let accepted: EventLoopPromise<Void>
    private var count = 0

    init(expected: Int, accepted: EventLoopPromise<Void>) {
        self.expected = expected
        self.accepted = accepted
    }

    func channelAccepted() {
        count += 1
        if count == expected { accepted.succeed() }
    }
}

/// Splits the stream into frames (4-byte big-endian length, then the body), header included, and
/// rejects any length other than the workload's payload size.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    static let headerSize = 4
    let payloadSize: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length == payloadSize else { throw NIORunFailure(description: "frame of unexpected length \(length)") }
        guard let frame = buffer.readSlice(length: Self.headerSize + payloadSize) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}

/// Echoes every frame; flushes once per read.
final class TCPEchoServer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// The client side shared by all connections (they all live on the client loop).
final class TCPClientState {
    let plan: ClientPlan
    let ping: ByteBuffer
    private let finished: EventLoopPromise<PingPongResult>
    private(set) var isRunning = false
    private var isDone = false
    private var inFlight: UInt64 = 0
    private var completed: UInt64 = 0
    private var start = NIODeadline.now()
    private var connections: [TCPPingClient] = []
    private var giveUp: Scheduled<Void>?

    init(plan: ClientPlan, finished: EventLoopPromise<PingPongResult>) {
        self.plan = plan
        self.finished = finished
        var ping = ByteBufferAllocator().buffer(capacity: FrameDecoder.headerSize + plan.payloadSize)
        ping.writeInteger(UInt32(plan.payloadSize))
        for index in 0..<plan.payloadSize { ping.writeInteger(UInt8(truncatingIfNeeded: index &* 7 &+ 1)) }
        self.ping = ping
    }

    func register(_ connection: TCPPingClient) { connections.append(connection) }

    /// Starts the timed phase: one ping on every connection.
    func begin() {
        start = .now()
        isRunning = true
        let loop = finished.futureResult.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        giveUp = loop.scheduleTask(in: .nanoseconds(Int64(clamping: plan.giveUpNanoseconds))) {
            bound.value.fail("gave up: the run took too long")
        }
        for connection in connections where reserveSend() { connection.send(ping, flush: true) }
    }

    /// Counts one pong; true if the connection should send its next ping.
    func pongReceived() -> Bool {
        inFlight -= 1
        completed += 1
        if let limit = plan.roundTripsMax, completed >= limit {
            finish()
            return false
        }
        return reserveSend()
    }

    /// Ends the run in duration mode once the time is up (checked after each read).
    func checkDuration() {
        if isRunning && plan.isOver(elapsed: NIODeadline.nanoseconds(since: start)) { finish() }
    }

    func fail(_ reason: String) {
        guard !isDone else { return }
        isDone = true
        isRunning = false
        end()
        finished.fail(NIORunFailure(description: reason))
    }

    private func reserveSend() -> Bool {
        guard isRunning else { return false }
        if let limit = plan.roundTripsMax, completed + inFlight >= limit { return false }
        inFlight += 1
        return true
    }

    private func finish() {
        guard !isDone else { return }
        isDone = true
        isRunning = false
        end()
        finished.succeed(PingPongResult(roundTrips: completed, elapsedNanoseconds: NIODeadline.nanoseconds(since: start)))
    }

    private func end() {
        giveUp?.cancel()
        connections.removeAll()  // breaks the state <-> handler cycle
    }
}

/// One client connection: checks that each pong equals the ping, then sends the next one.
final class TCPPingClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let state: TCPClientState
    private var context: ChannelHandlerContext?
    private var needsFlush = false

    init(state: TCPClientState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        state.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(_ frame: ByteBuffer, flush: Bool) {
        guard let context else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
        if flush { context.flush() } else { needsFlush = true }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.isRunning else { return }
        guard unwrapInboundIn(data) == state.ping else { return state.fail("a pong differs from its ping") }
        if state.pongReceived() { send(state.ping, flush: false) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        state.checkDuration()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state.isRunning { state.fail("the server closed a connection") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { state.fail("\(error)") }
}
