import KaryonsCore
import KaryonsNode
import PingPong

/// One UDP measurement on two reactors: an echo server socket and a client socket, each on its
/// own reactor, talking over 127.0.0.1.
///
/// Both sockets use `UDPSocket.Options.batchSizeMax = batchMax`: with 1, every datagram moves with
/// its own `recvfrom`/`recvmmsg` and `sendto` (as the C `send`/`recv` loop); with 16, in batches.
/// `receiveBatchesPerEventMax` is raised so one readiness event drains a whole window, as the C
/// loops drain to `EAGAIN` (the default bound exists for fairness between sources; each reactor
/// here serves one socket).
struct KaryonsUDPRun {
    let run: PingPongRun
    let window: Int
    let batchMax: Int

    func measure(on reactors: ReactorPair) throws(PingPongError) -> PingPongResult {
        var options = UDPSocket.Options()
        options.batchSizeMax = batchMax
        options.receiveBatchesPerEventMax = (window + batchMax - 1) / batchMax + 1
        let outcome = Rendezvous<Result<PingPongResult, PingPongError>>()
        let server = UDPEchoServer(outcome: outcome)
        let client = UDPPingClient(run: run, window: window, outcome: outcome)
        // Both sockets are made before the reactors run, which the transports allow for setup.
        do {
            let loopback = SocketAddress.ipv4Loopback(port: 0)
            server.socket = try UDPSocket.bind(to: loopback, reactor: reactors.server, options: options, delegate: server)
            client.socket = try UDPSocket.bind(to: loopback, reactor: reactors.client, options: options, delegate: client)
            client.serverAddress = server.socket!.localAddress
        } catch {
            reactors.client.shutdown()
            reactors.server.shutdown()
            throw KaryonsPingPong.failure("UDP socket: \(error)")
        }
        server.clientReactor = reactors.client
        server.client = LoopBound(object: client)
        defer { reactors.stop() }
        try reactors.start(pinning: run.pinning)
        let box = LoopBound(object: client)
        reactors.client.execute { box.object.begin() }
        guard let result = outcome.wait(seconds: run.giveUpSeconds + 10) else {
            throw KaryonsPingPong.failure("the client did not report within the give-up limit")
        }
        return try result.get()
    }
}

/// Echoes every datagram to its sender. A datagram the socket cannot queue (its send buffer full
/// and a batch waiting) is dropped, as the C server drops on `EAGAIN`; the client recovers.
final class UDPEchoServer: UDPSocketDelegate {
    var socket: UDPSocket?
    var clientReactor: Reactor?
    var client: LoopBound<UDPPingClient>?
    private let outcome: Rendezvous<Result<PingPongResult, PingPongError>>
    private var failed = false

    init(outcome: Rendezvous<Result<PingPongResult, PingPongError>>) {
        self.outcome = outcome
    }

    func udpSocket(_ socket: UDPSocket, didReceive datagram: UnsafeRawBufferPointer, from sender: SocketAddress) {
        do {
            try socket.send(datagram, to: sender)
        } catch {
            switch error {
            case .wouldBlock: break
            case .closed, .datagramTooLarge, .addressFamilyMismatch: fail("echo: \(error)")
            }
        }
    }

    func udpSocket(_ socket: UDPSocket, didFailToSend error: SystemError, to destination: SocketAddress) {
        fail("sendto: \(error)")
    }

    /// Reports the failure and tells the client, which fails at once instead of at its give-up limit.
    private func fail(_ reason: String) {
        guard !failed else { return }
        failed = true
        outcome.complete(.failure(KaryonsPingPong.failure("the server failed: \(reason)")))
        if let client {
            clientReactor?.execute { client.object.stop() }
        }
    }
}

/// Keeps `window` pings in flight and counts pongs, with the C client's rules: the first 4 bytes of
/// a ping carry an epoch; after 50 ms without a pong the window is assumed lost, the epoch moves on
/// and the window is refilled; pongs of an older epoch are ignored.
final class UDPPingClient: UDPSocketDelegate, ReactorTimerHandler {
    /// How long a silence lasts before the window is assumed lost (the C client's `CBASELINE_RECOVERY_MS`).
    static let recoveryInterval = Duration.milliseconds(50)

    var socket: UDPSocket?
    var serverAddress = SocketAddress.ipv4Loopback(port: 0)
    private let schedule: ClientSchedule
    private let window: UInt64
    private let payloadSize: Int
    private let outcome: Rendezvous<Result<PingPongResult, PingPongError>>
    private let ping: UnsafeMutableRawBufferPointer
    private var epoch: UInt32 = 0
    private var inFlight: UInt64 = 0
    private var completed: UInt64 = 0
    private var completedAtLastCheck: UInt64 = 0
    private var recoveries: UInt64 = 0
    private var start = Instant.zero
    private var running = false
    private var watchdog: ReactorTimer?

    init(run: PingPongRun, window: Int, outcome: Rendezvous<Result<PingPongResult, PingPongError>>) {
        schedule = ClientSchedule(run)
        self.window = UInt64(window)
        payloadSize = run.workload.payloadSize
        self.outcome = outcome
        ping = .allocate(byteCount: payloadSize, alignment: 8)
        ping.initializeMemory(as: UInt8.self, repeating: 0xA5)
        ping.storeBytes(of: epoch, as: UInt32.self)
    }

    deinit {
        ping.deallocate()
    }

    /// Starts the timed phase (on the client's loop thread).
    func begin() {
        guard let socket else { return }
        start = SystemClock.now()
        running = true
        watchdog = socket.reactor.scheduleTimer(at: start + Self.recoveryInterval, handler: self)
        refill(socket)
    }

    func udpSocket(_ socket: UDPSocket, didReceive datagram: UnsafeRawBufferPointer, from sender: SocketAddress) {
        guard running else { return }
        guard datagram.count == payloadSize else { return fail("pong of unexpected size \(datagram.count)") }
        guard datagram.loadUnaligned(as: UInt32.self) == epoch else { return }  // a window given up for lost
        guard inFlight > 0 else { return fail("more pongs than pings") }
        inFlight -= 1
        completed += 1
        if schedule.isOver(completed: completed, start: start, now: socket.reactor.now) { return finish() }
        refill(socket)
    }

    /// Sends pings until the window is full; a full socket queue leaves the rest for the next pong.
    /// (The socket comes as an argument: reading the optional property would retain it per pong.)
    private func refill(_ socket: UDPSocket) {
        while inFlight < window && schedule.maySend(completed: completed, inFlight: inFlight) {
            do {
                try socket.send(UnsafeRawBufferPointer(ping), to: serverAddress)
            } catch {
                switch error {
                case .wouldBlock: return
                case .closed, .datagramTooLarge, .addressFamilyMismatch: return fail("send: \(error)")
                }
            }
            inFlight += 1
        }
    }

    /// Every 50 ms: the stop condition, the give-up limit, and window recovery after a silence.
    func reactorTimerFired(_ timer: ReactorTimer) {
        guard running, let socket else { return }
        let now = SystemClock.now()
        let elapsed = now.nanoseconds - start.nanoseconds
        if schedule.isOver(completed: completed, start: start, now: now) { return finish() }
        if elapsed >= schedule.giveUpNanoseconds { return fail("gave up: the run took too long") }
        if completed == completedAtLastCheck && inFlight > 0 {
            recoveries += 1
            epoch &+= 1
            ping.storeBytes(of: epoch, as: UInt32.self)
            inFlight = 0
            refill(socket)
        }
        completedAtLastCheck = completed
        watchdog = socket.reactor.scheduleTimer(at: now + Self.recoveryInterval, handler: self)
    }

    private func finish() {
        let elapsed = SystemClock.now().nanoseconds - start.nanoseconds
        stop()
        outcome.complete(.success(PingPongResult(roundTrips: completed, elapsedNanoseconds: elapsed, recoveries: recoveries)))
    }

    private func fail(_ reason: String) {
        stop()
        outcome.complete(.failure(KaryonsPingPong.failure(reason)))
    }

    /// Ends the timed phase: no more pings, no more checks.
    func stop() {
        running = false
        if let watchdog { socket?.reactor.cancelTimer(watchdog) }
        watchdog = nil
    }
}
