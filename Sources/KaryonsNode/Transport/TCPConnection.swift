#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// Receives the events of a `TCPConnection`, on the reactor's loop thread.
///
/// Every method but `didRead` and `didClose` has a default that does nothing. The connection holds
/// its delegate strongly until the connection ends (after `didClose`/`didFailToConnect`, or when the
/// application calls `close`), which breaks the usual connection ⇄ delegate cycle.
///
/// Exactly one of these ends a connection: `didFailToConnect` (it never opened), `didClose` (it
/// opened, and something other than the application ended it), or the application's own `close`
/// (after which no method is called). No method is called after the reactor shut down.
public protocol TCPConnectionDelegate: AnyObject {
    /// The outbound connection is established; bytes sent while connecting are now being written.
    func tcpConnectionDidConnect(_ connection: TCPConnection)

    /// The outbound connection could not be established; the connection is closed.
    func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError)

    /// Bytes arrived. `bytes` lives in the reactor's shared read buffer and is valid only during
    /// this call: copy what must outlive it.
    func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer)

    /// The outbound queue crossed a watermark: `false` when it grew above the high watermark (stop
    /// producing), `true` when it drained below the low watermark (resume). May be called from
    /// within `send`.
    func tcpConnection(_ connection: TCPConnection, didChangeWritability isWritable: Bool)

    /// The peer shut down its sending side (half-close) and `allowHalfClose` is on: nothing more
    /// will be read, but the connection can still send. `shutdownOutput()` or `close()` finishes it.
    func tcpConnectionDidReadEOF(_ connection: TCPConnection)

    /// The connection ended for `reason`; it is closed and its descriptor released.
    func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason)
}

extension TCPConnectionDelegate {
    public func tcpConnectionDidConnect(_ connection: TCPConnection) {}
    public func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError) {}
    public func tcpConnection(_ connection: TCPConnection, didChangeWritability isWritable: Bool) {}
    public func tcpConnectionDidReadEOF(_ connection: TCPConnection) {}
}

/// Why an outbound connection could not be established.
public enum TCPConnectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer answered with a reset: nothing listens on that port (`ECONNREFUSED`).
    case refused
    /// No answer within the connect timeout (for example, the peer's accept backlog is full).
    case timedOut
    /// Any other failure (unreachable network or host, ...).
    case failed(SystemError)

    public var description: String {
        switch self {
        case .refused: return "connection refused"
        case .timedOut: return "connect timed out"
        case .failed(let error): return error.description
        }
    }
}

/// Why an established connection ended, when the application did not end it.
public enum TCPCloseReason: Hashable, Sendable, CustomStringConvertible {
    /// The peer closed in order (FIN): end of input, with half-close off, or once both sides finished.
    case peerClosed
    /// The peer reset the connection (`ECONNRESET`, or `EPIPE` when writing).
    case reset
    /// Any other socket error.
    case failed(SystemError)

    public var description: String {
        switch self {
        case .peerClosed: return "closed by the peer"
        case .reset: return "reset by the peer"
        case .failed(let error): return error.description
        }
    }
}

/// Why `TCPConnection.send` refused bytes (the connection itself is unaffected).
public enum TCPSendError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The connection is closed, closing, or its output was shut down.
    case closed
    /// The bytes would push the outbound queue past `outboundBytesMax`: the reader is too slow and
    /// the sender ignored backpressure. Nothing was queued.
    case outboundBufferFull

    public var description: String {
        switch self {
        case .closed: return "the connection is closed for sending"
        case .outboundBufferFull: return "the connection's outbound buffer is full"
        }
    }
}

/// A non-blocking TCP connection driven by a reactor (IPv4 or IPv6).
///
/// **Reading.** While reading is not paused, each readiness event reads into the reactor's shared
/// buffer until the socket is drained (a short read, or `EAGAIN`) or `readsPerEventMax` reads were
/// done (the rest comes next tick: level-triggered), and hands each chunk to `didRead` — no
/// allocation per read. `pauseReading()` stops reading (the kernel's window then pushes back on
/// the peer).
///
/// **Writing.** `send` writes at once when nothing is queued (no copy); what the kernel does not take
/// is queued, and written with `writev`-style gathering when the socket becomes writable. `EPOLLOUT`
/// is armed only while bytes wait. The queue's size drives backpressure: above
/// `outboundBytesHighWatermark` `isWritable` turns false (and the delegate hears of it), below
/// `outboundBytesLowWatermark` it turns true again; past `outboundBytesMax` `send` refuses bytes, so
/// a slow reader cannot grow memory without bound. Writes never interleave: bytes go out in `send`
/// order.
///
/// **Ending.** Peer close (orderly FIN), reset, half-close (with `allowHalfClose`) and errors are
/// distinct delegate events; see `TCPConnectionDelegate` for the exactly-one-ending rule.
/// `TCP_NODELAY` is on by default.
///
/// Loop thread only (or before the reactor runs).
public final class TCPConnection: ReactorClient {
    /// Tunables of one connection. Each is named and tested.
    public struct Options: Sendable, Hashable {
        /// How long an outbound connect may take before it fails with `.timedOut`.
        public var connectTimeout: Duration = .seconds(10)
        /// Queued bytes above which the connection reports itself not writable.
        public var outboundBytesHighWatermark = 256 * 1_024
        /// Queued bytes at or below which a not-writable connection becomes writable again.
        public var outboundBytesLowWatermark = 64 * 1_024
        /// Queued bytes `send` never exceeds (it throws `.outboundBufferFull` instead).
        public var outboundBytesMax = 4 * 1_024 * 1_024
        /// Reads per readiness event before yielding to other connections.
        public var readsPerEventMax = 16
        /// Whether end of input leaves the connection open for sending (`didReadEOF`) instead of
        /// closing it (`didClose(.peerClosed)`).
        public var allowHalfClose = false
        /// `TCP_NODELAY`: send small writes at once instead of waiting to coalesce them (Nagle).
        public var noDelay = true
        /// How long `close(mode: .afterFlush)` may wait for the peer to take the queued bytes
        /// before the connection is reset.
        public var closeFlushTimeout: Duration = .seconds(10)
        /// The local address an outbound connection binds to before connecting (port 0: any free
        /// port); nil lets the kernel choose. On loopback the kernel picks 127.0.0.1 as the source of
        /// every 127.x.y.z destination, so many nodes on distinct loopback addresses bind their own.
        public var localAddress: SocketAddress?

        /// The defaults.
        public init() {}
    }

    /// How `close` treats bytes still queued.
    public enum CloseMode: Hashable, Sendable {
        /// Close now; queued bytes are dropped.
        case immediately
        /// Stop reading, write the queued bytes, then close (reset after `closeFlushTimeout`).
        case afterFlush
        /// Close now with a reset (RST) instead of an orderly FIN; queued bytes are dropped.
        case reset
    }

    enum State {
        /// The three-way handshake is under way.
        case connecting
        /// Established (possibly half-closed in either direction).
        case open
        /// Closed; the descriptor is released.
        case closed
    }

    /// The reactor that drives this connection.
    public let reactor: Reactor
    /// The options the connection was created with.
    public let options: Options
    /// The peer's address.
    public let remoteAddress: SocketAddress
    /// The receiver of this connection's events; held strongly until the connection ends.
    public var delegate: (any TCPConnectionDelegate)?
    /// Free for the owner's use, for example an index into its own table of connections.
    public var tag = 0

    private(set) var state: State
    private(set) var registration: ReactorRegistration
    private var outbound = OutboundBuffer()
    private var timer: ReactorTimer?
    /// End of input was read.
    private var inputEnded = false
    /// `shutdownOutput()` was called: no more sends; FIN once the queue is written.
    private var outputShutdownRequested = false
    private var outputShut = false
    private var closingAfterFlush = false
    private var readingPaused = false
    private var writable = true
    /// An ending found inside `send` or `connect`, delivered at the end of the tick (never re-entrantly).
    private var pendingEnding: Ending?
    private var flushScheduled = false

    /// An ending to report to the delegate.
    enum Ending {
        case connectFailed(TCPConnectError)
        case closed(TCPCloseReason)
    }

    // MARK: - Creating

    /// Starts connecting to `address`; the outcome arrives as `didConnect` or `didFailToConnect`
    /// (also for failures the kernel reports at once, such as a refused loopback connect).
    ///
    /// Throws only when no attempt could start: no socket (for example `EMFILE`),
    /// `options.localAddress` cannot be bound, or the reactor has shut down. Bytes may be sent at
    /// once; they are written when the connection opens.
    public static func connect(
        to address: SocketAddress, on reactor: Reactor, options: Options = Options(),
        delegate: any TCPConnectionDelegate
    ) throws(ReactorError) -> TCPConnection {
        reactor.preconditionLoopThread()
        let descriptor: FileDescriptor
        do {
            descriptor = try Sys.socket(address.family, type: CEPOLL_SOCK_STREAM)
        } catch {
            throw .system(error)
        }
        if let local = options.localAddress {
            do {
                // The port is picked at connect, per destination, instead of one per bind (which
                // would exhaust a source address's ports far sooner). Best effort: an old kernel
                // without the option still binds.
                if local.port == 0 {
                    try? Sys.setOption(descriptor, level: Int32(IPPROTO_IP), name: IP_BIND_ADDRESS_NO_PORT, value: 1)
                }
                try Sys.bind(descriptor, to: local)
            } catch {
                Sys.close(descriptor)
                throw .system(error)
            }
        }
        var immediateFailure: SystemError?
        do {
            if options.noDelay {
                try Sys.setOption(descriptor, level: CEPOLL_IPPROTO_TCP, name: CEPOLL_TCP_NODELAY, value: 1)
            }
            _ = try Sys.connect(descriptor, to: address)
        } catch {
            immediateFailure = error
        }
        let connection: TCPConnection
        do {
            // A connect the kernel refused at once waits, silent, for its ending at the end of the tick.
            connection = try TCPConnection(reactor: reactor, descriptor: descriptor, remoteAddress: address,
                                           options: options, state: .connecting,
                                           interest: immediateFailure == nil ? .writable : [])
        } catch {
            Sys.close(descriptor)
            throw error
        }
        connection.delegate = delegate
        if let immediateFailure {
            connection.endLater(.connectFailed(Self.connectError(immediateFailure.code, call: "connect")))
        } else {
            connection.timer = reactor.scheduleTimer(at: SystemClock.now() + options.connectTimeout, client: connection)
        }
        return connection
    }

    /// Wraps a descriptor (connected or connecting) and registers it with the reactor for `interest`.
    /// On failure the descriptor stays the caller's.
    init(reactor: Reactor, descriptor: FileDescriptor, remoteAddress: SocketAddress, options: Options,
         state: State, interest: IOEvents) throws(ReactorError) {
        precondition(options.outboundBytesLowWatermark <= options.outboundBytesHighWatermark
            && options.outboundBytesHighWatermark <= options.outboundBytesMax && options.readsPerEventMax > 0,
            "BUG in Karyons: inconsistent TCPConnection.Options \(options)")
        self.reactor = reactor
        self.options = options
        self.remoteAddress = remoteAddress
        self.state = state
        // Never live; replaced by the real registration below, once `self` can be its target.
        registration = ReactorRegistration(descriptor: descriptor, slot: .max, generation: 0)
        registration = try reactor.register(descriptor, interest: interest, client: self)
    }

    // MARK: - Public state

    /// Whether the handshake of an outbound connection is still under way.
    public var isConnecting: Bool { state == .connecting }

    /// Whether the connection is closed (by either side, or by the reactor's shutdown).
    public var isClosed: Bool { state == .closed }

    /// False while the outbound queue is above the high watermark (and until it drains to the low one).
    public var isWritable: Bool { writable }

    /// Bytes accepted by `send` but not yet taken by the kernel.
    public var outboundBytes: Int { outbound.count }

    /// Whether reading is paused by `pauseReading()`.
    public var isReadingPaused: Bool { readingPaused }

    /// The local address of the socket; nil once closed.
    public var localAddress: SocketAddress? {
        guard state != .closed, reactor.isRegistered(registration) else { return nil }
        return try? Sys.localAddress(registration.descriptor)
    }

    // MARK: - Sending

    /// Sends `bytes`, after any bytes already queued. Writes at once when nothing is queued; queues
    /// (copies) whatever the kernel does not take. A write error found here ends the connection at
    /// the end of the tick (`didClose`), never from inside this call.
    public func send(_ bytes: UnsafeRawBufferPointer) throws(TCPSendError) {
        try send(bytes, UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Sends `bytes` (a convenience over the buffer form).
    public func send(_ bytes: [UInt8]) throws(TCPSendError) {
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(TCPSendError) in try send(buffer) } }
        try result.get()
    }

    /// Sends `head` then `body` with one gathering write (a frame header and its payload without
    /// concatenating them). Both are queued or neither.
    public func send(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) throws(TCPSendError) {
        reactor.preconditionLoopThread()
        guard state != .closed, !outputShutdownRequested, !closingAfterFlush, pendingEnding == nil else {
            throw .closed
        }
        let total = head.count + body.count
        guard total > 0 else { return }
        guard outbound.count + total <= options.outboundBytesMax else { throw .outboundBufferFull }
        var written = 0
        if outbound.isEmpty && state == .open {
            guard let count = writeDirectly(head, body) else { return }
            written = count
        }
        guard written < total else { return }
        if written < head.count {
            outbound.append(UnsafeRawBufferPointer(rebasing: head[written...]))
            outbound.append(body)
        } else {
            outbound.append(UnsafeRawBufferPointer(rebasing: body[(written - head.count)...]))
        }
        if state == .open {
            updateInterest()
        }
        if writable && outbound.count > options.outboundBytesHighWatermark {
            writable = false
            delegate?.tcpConnection(self, didChangeWritability: false)
        }
    }

    /// Writes straight from the caller's buffers; returns the bytes written, or nil if the connection
    /// failed (the ending is then scheduled).
    private func writeDirectly(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> Int? {
        do {
            let result: IOResult<Int>
            if body.isEmpty {
                result = try Sys.send(registration.descriptor, head)
            } else {
                var vectors = (
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)
                )
                result = try withUnsafeMutablePointer(to: &vectors) { (pointer) throws(SystemError) in
                    try pointer.withMemoryRebound(to: iovec.self, capacity: 2) { (first) throws(SystemError) in
                        try Sys.sendVector(registration.descriptor, first, count: 2)
                    }
                }
            }
            switch result {
            case .processed(let count): return count
            case .wouldBlock: return 0
            }
        } catch {
            endLater(.closed(Self.closeReason(error)))
            return nil
        }
    }

    /// Writes queued bytes until the queue is empty or the kernel's buffer is full.
    private func flushOutbound() {
        var vectors = (iovec(), iovec())
        while !outbound.isEmpty {
            let requested = outbound.count
            let result: IOResult<Int>
            do {
                result = try withUnsafeMutablePointer(to: &vectors) { (pointer) throws(SystemError) in
                    try pointer.withMemoryRebound(to: iovec.self, capacity: 2) { (first) throws(SystemError) in
                        try Sys.sendVector(registration.descriptor, first, count: outbound.fill(first))
                    }
                }
            } catch {
                end(.closed(Self.closeReason(error)))
                return
            }
            guard case .processed(let count) = result else { break }
            outbound.consume(count)
            if count < requested { break }
        }
        outboundDrained()
    }

    /// After a flush: finish a requested close or output shutdown, update interest and writability.
    private func outboundDrained() {
        if outbound.isEmpty {
            if closingAfterFlush {
                closeNow(reset: false)
                return
            }
            if outputShutdownRequested && !outputShut {
                shutOutput()
            }
        }
        updateInterest()
        if !writable && outbound.count <= options.outboundBytesLowWatermark {
            writable = true
            delegate?.tcpConnection(self, didChangeWritability: true)
        }
    }

    // MARK: - Reading control

    /// Stops reading until `resumeReading()`; unread bytes wait in the kernel, whose window then
    /// slows the peer down.
    public func pauseReading() {
        reactor.preconditionLoopThread()
        guard !readingPaused else { return }
        readingPaused = true
        if state == .open { updateInterest() }
    }

    /// Resumes reading after `pauseReading()`.
    public func resumeReading() {
        reactor.preconditionLoopThread()
        guard readingPaused else { return }
        readingPaused = false
        if state == .open { updateInterest() }
    }

    // MARK: - Ending

    /// Half-closes: once the queued bytes are written, sends FIN. Reading continues; with
    /// `allowHalfClose`, the connection ends (`didClose(.peerClosed)`) when the peer's FIN arrives too.
    public func shutdownOutput() {
        reactor.preconditionLoopThread()
        guard state != .closed, !outputShutdownRequested else { return }
        outputShutdownRequested = true
        if state == .open && outbound.isEmpty {
            shutOutput()
        }
    }

    /// Closes the connection (see `CloseMode`). No delegate method is called afterwards.
    public func close(mode: CloseMode = .immediately) {
        reactor.preconditionLoopThread()
        guard state != .closed else { return }
        switch mode {
        case .immediately:
            closeNow(reset: false)
        case .reset:
            closeNow(reset: true)
        case .afterFlush:
            guard !outbound.isEmpty && pendingEnding == nil else {
                closeNow(reset: false)
                return
            }
            closingAfterFlush = true
            delegate = nil
            if let timer { reactor.cancelTimer(timer) }
            timer = reactor.scheduleTimer(at: SystemClock.now() + options.closeFlushTimeout, client: self)
            if state == .open { updateInterest() }
        }
    }

    /// Sends FIN. Both directions finished ends the connection (reported at the end of the tick,
    /// since this may run inside `shutdownOutput()`).
    private func shutOutput() {
        do {
            try Sys.shutdown(registration.descriptor, how: CEPOLL_SHUT_WR)
            outputShut = true
            if inputEnded {
                endLater(.closed(.peerClosed))
            }
        } catch {
            endLater(.closed(Self.closeReason(error)))
        }
    }

    /// Closes without telling the delegate (the application asked, or it already heard).
    private func closeNow(reset: Bool) {
        if reset && state != .closed {
            try? Sys.setLinger(registration.descriptor, seconds: 0)
        }
        state = .closed
        if let timer {
            reactor.cancelTimer(timer)
            self.timer = nil
        }
        reactor.deregister(registration)
        outbound.removeAll()
        delegate = nil
        pendingEnding = nil
    }

    /// Closes and tells the delegate why (once).
    private func end(_ ending: Ending) {
        guard state != .closed else { return }
        let delegate = self.delegate
        closeNow(reset: false)
        switch ending {
        case .connectFailed(let error): delegate?.tcpConnection(self, didFailToConnect: error)
        case .closed(let reason): delegate?.tcpConnection(self, didClose: reason)
        }
    }

    /// Schedules `ending` for the end of the tick, so no delegate method runs inside `send`/`connect`.
    private func endLater(_ ending: Ending) {
        guard pendingEnding == nil else { return }
        pendingEnding = ending
        if !flushScheduled {
            flushScheduled = true
            reactor.scheduleFlush(client: self)
        }
    }

    // MARK: - Reactor events

    func handleIOEvents(_ events: IOEvents) {
        // An ending is already decided and will be delivered at the end of the tick.
        guard pendingEnding == nil else { return }
        switch state {
        case .connecting:
            finishConnecting()
        case .open:
            handleOpenEvents(events)
        case .closed:
            break
        }
    }

    private func handleOpenEvents(_ events: IOEvents) {
        let failed = events.contains(.error) || events.contains(.hangup)
        if events.contains(.readable) || (failed && !readingPaused && !inputEnded) {
            readAvailable()
            guard state == .open else { return }
        }
        if events.contains(.writable) || (failed && !outbound.isEmpty) {
            flushOutbound()
            guard state == .open else { return }
        }
        if events.contains(.error) {
            // Neither reading nor writing surfaced the error (reading paused, nothing queued). Reading
            // SO_ERROR also clears it, so a level-triggered EPOLLERR cannot repeat forever.
            let code = (try? Sys.socketError(registration.descriptor)) ?? 0
            if code != 0 {
                end(.closed(Self.closeReason(SystemError(call: "connection", code: code))))
            }
        }
    }

    /// Reads until drained or the per-event budget is spent.
    private func readAvailable() {
        let buffer = reactor.readBuffer
        for _ in 0..<options.readsPerEventMax {
            let result: IOResult<Int>
            do {
                result = try Sys.read(registration.descriptor, into: buffer)
            } catch {
                end(.closed(Self.closeReason(error)))
                return
            }
            guard case .processed(let count) = result else { return }
            guard count > 0 else {
                readEOF()
                return
            }
            delegate?.tcpConnection(self, didRead: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            // The delegate may have closed or paused us (or a send failed); a short read means the
            // socket is drained, and level-triggered readiness brings anything that arrives later.
            guard state == .open, !readingPaused, pendingEnding == nil, count == buffer.count else { return }
        }
    }

    private func readEOF() {
        inputEnded = true
        guard options.allowHalfClose && !outputShut else {
            end(.closed(.peerClosed))
            return
        }
        updateInterest()
        delegate?.tcpConnectionDidReadEOF(self)
    }

    private func finishConnecting() {
        let code: Int32
        do {
            code = try Sys.socketError(registration.descriptor)
        } catch {
            end(.connectFailed(.failed(error)))
            return
        }
        guard code == 0 else {
            end(.connectFailed(Self.connectError(code, call: "connect")))
            return
        }
        state = .open
        if let timer {
            reactor.cancelTimer(timer)
            self.timer = nil
        }
        if !closingAfterFlush {
            delegate?.tcpConnectionDidConnect(self)
            guard state == .open else { return }
        }
        if outbound.isEmpty && outputShutdownRequested {
            shutOutput()
        }
        if outbound.isEmpty && closingAfterFlush {
            closeNow(reset: false)
            return
        }
        flushOutbound()
    }

    func handleTimer(_ timer: ReactorTimer) {
        guard timer == self.timer else { return }
        self.timer = nil
        switch state {
        case .connecting where !closingAfterFlush:
            end(.connectFailed(.timedOut))
        case .connecting, .open:
            // `close(mode: .afterFlush)` waited too long for a peer that does not read.
            closeNow(reset: true)
        case .closed:
            break
        }
    }

    func handleFlush() {
        flushScheduled = false
        guard let ending = pendingEnding else { return }
        pendingEnding = nil
        end(ending)
    }

    func handleReactorShutdown() {
        state = .closed
        timer = nil
        outbound.removeAll()
        delegate = nil
        pendingEnding = nil
    }

    // MARK: - Helpers

    /// The epoll interest that matches the state: read unless paused or ended, write while bytes wait.
    private func updateInterest() {
        var interest: IOEvents = []
        if !readingPaused && !inputEnded && !closingAfterFlush {
            interest.insert(.readable)
        }
        if !outbound.isEmpty {
            interest.insert(.writable)
        }
        do {
            try reactor.setInterest(interest, for: registration)
        } catch {
            switch error {
            case .system(let systemError): endLater(.closed(.failed(systemError)))
            case .shutDown: break
            }
        }
    }

    static func closeReason(_ error: SystemError) -> TCPCloseReason {
        switch error.code {
        case ECONNRESET, EPIPE: return .reset
        default: return .failed(error)
        }
    }

    static func connectError(_ code: Int32, call: StaticString) -> TCPConnectError {
        switch code {
        case ECONNREFUSED: return .refused
        case ETIMEDOUT: return .timedOut
        default: return .failed(SystemError(call: call, code: code))
        }
    }
}

@available(*, unavailable)
extension TCPConnection: Sendable {}
