import NIOCore
import NIOPosix
import PingPong

/// One UDP measurement: an echo server channel and a connected client channel.
struct UDPRun {
    /// Receive space per datagram: larger than any payload, so a wrong size is seen, not truncated.
    static let datagramCapacity = 2048

    let run: PingPongRun
    let window: Int
    let batchMax: Int
    let loops: EventLoopPair

    func measure() throws -> PingPongResult {
        let batchMax = self.batchMax
        var serverBootstrap = DatagramBootstrap(group: loops.serverGroup)
        var clientBootstrap = DatagramBootstrap(group: loops.clientGroup)
        if batchMax > 1 {
            // recvmmsg of up to batchMax datagrams per read. NIO splits one receive buffer evenly
            // between the messages, so the buffer must grow with the batch: 2 KiB per datagram,
            // as the C baseline and NIO's own unbatched default.
            let allocator = FixedSizeRecvByteBufferAllocator(capacity: batchMax * Self.datagramCapacity)
            serverBootstrap = serverBootstrap.channelOption(.datagramVectorReadMessageCount, value: batchMax)
                .channelOption(.recvAllocator, value: allocator)
            clientBootstrap = clientBootstrap.channelOption(.datagramVectorReadMessageCount, value: batchMax)
                .channelOption(.recvAllocator, value: allocator)
        }
        let server = try serverBootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(UDPEchoServer(batchMax: batchMax))
            }
        }.bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        guard let serverAddress = server.localAddress else { throw NIORunFailure(description: "server has no address") }

        let finished = loops.clientLoop.makePromise(of: PingPongResult.self)
        do {
            return try runClient(bootstrap: clientBootstrap, serverAddress: serverAddress, finished: finished)
        } catch {
            finished.fail(error)  // NIO traps on a promise left unfulfilled; a completed one ignores this
            throw error
        }
    }

    private func runClient(
        bootstrap: DatagramBootstrap,
        serverAddress: SocketAddress,
        finished: EventLoopPromise<PingPongResult>
    ) throws -> PingPongResult {
        let plan = ClientPlan(run)
        let window = self.window
        let batchMax = self.batchMax
        let client = try bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let handler = UDPPingClient(plan: plan, window: window, batchMax: batchMax, finished: finished)
                try channel.pipeline.syncOperations.addHandler(handler)
            }
        }.connect(to: serverAddress).wait()
        defer { try? client.close().wait() }
        client.pipeline.fireUserInboundEventTriggered(StartSignal())
        return try finished.futureResult.wait()
    }
}

/// Echoes every datagram to its sender. With batchMax 1 each echo is flushed at once (one sendmsg
/// each, like the C server); otherwise echoes are flushed every batchMax datagrams and at the end
/// of each read, which NIO turns into sendmmsg.
final class UDPEchoServer: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let batchMax: Int
    private var unflushed = 0

    init(batchMax: Int) { self.batchMax = batchMax }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: envelope.data)), promise: nil)
        unflushed += 1
        if unflushed >= batchMax { flush(context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed > 0 { flush(context) }
    }

    private func flush(_ context: ChannelHandlerContext) {
        unflushed = 0
        context.flush()
    }
}

/// Keeps `window` pings in flight and counts pongs, with the C client's rules: the first 4 bytes of
/// a ping carry an epoch; after a silence the window is assumed lost, the epoch moves on, and pongs
/// of an older epoch are ignored. Writes are flushed one by one (batchMax 1) or every batchMax.
final class UDPPingClient: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = ByteBuffer

    /// How often the client looks for a silence (and for the give-up limit).
    static let recoveryIntervalMilliseconds: Int64 = 50

    private let plan: ClientPlan
    private let window: Int
    private let batchMax: Int
    private let finished: EventLoopPromise<PingPongResult>
    private var ping = ByteBuffer()
    private var epoch: UInt32 = 0
    private var inFlight = 0
    private var completed: UInt64 = 0
    private var completedAtLastCheck: UInt64 = 0
    private var recoveries: UInt64 = 0
    private var start = NIODeadline.now()
    private var isRunning = false
    private var isDone = false
    private var watchdog: RepeatedTask?

    init(plan: ClientPlan, window: Int, batchMax: Int, finished: EventLoopPromise<PingPongResult>) {
        self.plan = plan
        self.window = window
        self.batchMax = batchMax
        self.finished = finished
    }

    func handlerAdded(context: ChannelHandlerContext) {
        ping = context.channel.allocator.buffer(repeating: 0xA5, count: plan.payloadSize)
        ping.setInteger(epoch, at: ping.readerIndex, endianness: .little)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is StartSignal else { return context.fireUserInboundEventTriggered(event) }
        start = .now()
        isRunning = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let interval = TimeAmount.milliseconds(Self.recoveryIntervalMilliseconds)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.0.checkProgress(context: bound.value.1)
        }
        refill(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard isRunning else { return }
        let pong = unwrapInboundIn(data).data
        guard pong.readableBytes == plan.payloadSize,
            let pongEpoch = pong.getInteger(at: pong.readerIndex, endianness: .little, as: UInt32.self)
        else { return fail("pong of unexpected size") }
        guard pongEpoch == epoch else { return }  // a late pong of a window given up for lost
        inFlight -= 1
        completed += 1
        if let limit = plan.roundTripsMax, completed >= limit { finish() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard isRunning else { return }
        if plan.isOver(elapsed: NIODeadline.nanoseconds(since: start)) { return finish() }
        refill(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { fail("\(error)") }

    private func refill(_ context: ChannelHandlerContext) {
        var wanted = window - inFlight
        if let limit = plan.roundTripsMax {
            wanted = min(wanted, Int(clamping: limit &- min(limit, completed + UInt64(inFlight))))
        }
        guard wanted > 0 else { return }
        var unflushed = 0
        for _ in 0..<wanted {
            context.write(wrapOutboundOut(ping), promise: nil)
            unflushed += 1
            if unflushed >= batchMax {
                context.flush()
                unflushed = 0
            }
        }
        if unflushed > 0 { context.flush() }
        inFlight += wanted
    }

    private func checkProgress(context: ChannelHandlerContext) {
        guard isRunning else { return }
        let elapsed = NIODeadline.nanoseconds(since: start)
        if plan.isOver(elapsed: elapsed) { return finish() }
        if elapsed >= plan.giveUpNanoseconds { return fail("gave up: the run took too long") }
        if completed == completedAtLastCheck && inFlight > 0 {
            recoveries += 1
            epoch &+= 1
            ping.setInteger(epoch, at: ping.readerIndex, endianness: .little)
            inFlight = 0
            refill(context)
        }
        completedAtLastCheck = completed
    }

    private func finish() {
        guard !isDone else { return }
        isDone = true
        isRunning = false
        watchdog?.cancel()
        let result = PingPongResult(
            roundTrips: completed,
            elapsedNanoseconds: NIODeadline.nanoseconds(since: start),
            recoveries: recoveries
        )
        finished.succeed(result)
    }

    private func fail(_ reason: String) {
        guard !isDone else { return }
        isDone = true
        isRunning = false
        watchdog?.cancel()
        finished.fail(NIORunFailure(description: reason))
    }
}
