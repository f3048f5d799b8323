#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// Receives the events of a `TCPListener`, on the reactor's loop thread.
public protocol TCPListenerDelegate: AnyObject {
    /// A connection was accepted: set `connection.delegate` here (before sending on it). A connection
    /// left without a delegate when this returns is refused: it is closed at once.
    func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection)

    /// Accepting failed for lack of resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, or an
    /// unexpected error): the listener stops accepting for `retryAfter`, then tries again. Pending
    /// connections wait in the kernel's backlog meanwhile.
    func tcpListener(_ listener: TCPListener, didPauseAcceptingAfter error: SystemError, retryAfter: Duration)

    /// Accepting resumed after a pause.
    func tcpListenerDidResumeAccepting(_ listener: TCPListener)

    /// One incoming connection failed before it was accepted (for example `ECONNABORTED`); the
    /// listener carries on.
    func tcpListener(_ listener: TCPListener, didFailToAccept error: SystemError)
}

extension TCPListenerDelegate {
    public func tcpListener(_ listener: TCPListener, didPauseAcceptingAfter error: SystemError, retryAfter: Duration) {}
    public func tcpListenerDidResumeAccepting(_ listener: TCPListener) {}
    public func tcpListener(_ listener: TCPListener, didFailToAccept error: SystemError) {}
}

/// A listening TCP socket on a reactor (IPv4 or IPv6): accepts non-blocking connections with
/// `accept4` and hands each to its delegate as a `TCPConnection`.
///
/// Accept errors never stop it for good. Running out of descriptors or memory pauses accepting
/// with an exponential backoff timer (`acceptBackoffInitial` doubling up to `acceptBackoffMax`,
/// reset by the next successful accept), so a level-triggered listener can never spin on `EMFILE`;
/// per-connection errors are reported and skipped. Each readiness event accepts at most
/// `acceptsPerEventMax` connections, so a connection flood cannot starve established peers.
///
/// Loop thread only (or before the reactor runs).
public final class TCPListener: ReactorClient {
    /// Tunables of a listener. Each is named and tested.
    public struct Options: Sendable, Hashable {
        /// The kernel's queue of connections waiting for `accept` (capped by `somaxconn`).
        public var backlog: Int32 = 1_024
        /// Connections accepted per readiness event.
        public var acceptsPerEventMax = 64
        /// The first pause after a resource error.
        public var acceptBackoffInitial: Duration = .milliseconds(10)
        /// The longest pause; the backoff doubles up to it.
        public var acceptBackoffMax: Duration = .seconds(1)
        /// `SO_REUSEADDR`, so a restarted node can bind while old connections linger in TIME_WAIT.
        public var reuseAddress = true
        /// Options for every accepted connection.
        public var connectionOptions = TCPConnection.Options()

        /// The defaults.
        public init() {}
    }

    /// Counters of the listener's work.
    public struct Statistics: Sendable, Hashable {
        /// Connections accepted.
        public var accepted: UInt64 = 0
        /// Connections the delegate refused.
        public var refused: UInt64 = 0
        /// Pauses after resource errors.
        public var pauses: UInt64 = 0
        /// `accept` calls that failed (any errno but `EAGAIN`).
        public var acceptErrors: UInt64 = 0
    }

    /// The reactor that drives this listener.
    public let reactor: Reactor
    /// The options the listener was created with.
    public let options: Options
    /// The bound address, with the actual port when port 0 was asked for.
    public let localAddress: SocketAddress
    /// Receives accepted connections and accept problems; held strongly until the listener closes.
    public var delegate: (any TCPListenerDelegate)?
    /// Counters of the listener's work.
    public private(set) var statistics = Statistics()

    private var registration: ReactorRegistration
    private var closed = false
    private var backoff: Duration
    private var resumeTimer: ReactorTimer?

    /// Binds to `address` and listens. Port 0 picks a free port (see `localAddress`).
    public static func listen(
        on address: SocketAddress, reactor: Reactor, options: Options = Options(),
        delegate: any TCPListenerDelegate
    ) throws(ReactorError) -> TCPListener {
        reactor.preconditionLoopThread()
        let descriptor: FileDescriptor
        let boundAddress: SocketAddress
        do {
            descriptor = try Sys.socket(address.family, type: CEPOLL_SOCK_STREAM)
        } catch {
            throw .system(error)
        }
        do {
            if options.reuseAddress {
                try Sys.setOption(descriptor, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            }
            try Sys.bind(descriptor, to: address)
            try Sys.listen(descriptor, backlog: options.backlog)
            boundAddress = try Sys.localAddress(descriptor)
        } catch {
            Sys.close(descriptor)
            throw .system(error)
        }
        do {
            return try TCPListener(reactor: reactor, descriptor: descriptor, localAddress: boundAddress,
                                   options: options, delegate: delegate)
        } catch {
            Sys.close(descriptor)
            throw error
        }
    }

    private init(reactor: Reactor, descriptor: FileDescriptor, localAddress: SocketAddress, options: Options,
                 delegate: any TCPListenerDelegate) throws(ReactorError) {
        precondition(options.acceptsPerEventMax > 0 && options.acceptBackoffInitial > .zero
            && options.acceptBackoffInitial <= options.acceptBackoffMax,
            "BUG in Karyons: inconsistent TCPListener.Options \(options)")
        self.reactor = reactor
        self.options = options
        self.localAddress = localAddress
        self.delegate = delegate
        backoff = options.acceptBackoffInitial
        registration = ReactorRegistration(descriptor: descriptor, slot: .max, generation: 0)
        registration = try reactor.register(descriptor, interest: .readable, client: self)
    }

    /// Whether accepting is paused after a resource error (a timer will resume it).
    public var isAcceptingPaused: Bool { resumeTimer != nil }

    /// Whether the listener is closed.
    public var isClosed: Bool { closed }

    /// Stops listening and closes the socket. Accepted connections are not affected.
    public func close() {
        reactor.preconditionLoopThread()
        guard !closed else { return }
        closed = true
        if let resumeTimer {
            reactor.cancelTimer(resumeTimer)
            self.resumeTimer = nil
        }
        reactor.deregister(registration)
        delegate = nil
    }

    // MARK: - Reactor events

    func handleIOEvents(_ events: IOEvents) {
        var peer = sockaddr_storage()
        var peerLength = socklen_t(0)
        for _ in 0..<options.acceptsPerEventMax {
            guard !closed && resumeTimer == nil else { return }
            let result: IOResult<FileDescriptor>
            do {
                result = try Sys.accept(registration.descriptor, peer: &peer, peerLength: &peerLength)
            } catch {
                statistics.acceptErrors &+= 1
                handleAcceptError(error)
                continue
            }
            guard case .processed(let descriptor) = result else { return }
            backoff = options.acceptBackoffInitial
            adopt(descriptor, peer: SocketAddress(reading: &peer, length: peerLength))
        }
    }

    /// Wraps an accepted descriptor in a connection and asks the delegate for its delegate.
    private func adopt(_ descriptor: FileDescriptor, peer: SocketAddress?) {
        guard let peer else {
            // Not IPv4/IPv6: cannot happen on an IP listener; refuse rather than trust it.
            Sys.close(descriptor)
            return
        }
        do {
            if options.connectionOptions.noDelay {
                try Sys.setOption(descriptor, level: CEPOLL_IPPROTO_TCP, name: CEPOLL_TCP_NODELAY, value: 1)
            }
        } catch {
            Sys.close(descriptor)
            statistics.acceptErrors &+= 1
            delegate?.tcpListener(self, didFailToAccept: error)
            return
        }
        let connection: TCPConnection
        do {
            connection = try TCPConnection(reactor: reactor, descriptor: descriptor, remoteAddress: peer.unmappingIPv4,
                                           options: options.connectionOptions, state: .open, interest: .readable)
        } catch {
            Sys.close(descriptor)
            statistics.acceptErrors &+= 1
            switch error {
            case .system(let systemError): delegate?.tcpListener(self, didFailToAccept: systemError)
            case .shutDown: break
            }
            return
        }
        statistics.accepted &+= 1
        delegate?.tcpListener(self, didAccept: connection)
        if connection.delegate == nil && !connection.isClosed {
            statistics.refused &+= 1
            connection.close()
        }
    }

    private func handleAcceptError(_ error: SystemError) {
        switch error.code {
        case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
             ENETUNREACH:
            // The pending connection died before we took it (accept(2) passes such errors on); skip it.
            delegate?.tcpListener(self, didFailToAccept: error)
        default:
            // EMFILE, ENFILE, ENOBUFS, ENOMEM, or unknown: retrying now would fail again (and a
            // level-triggered listener would spin), so stop listening for readiness for a while.
            pause(after: error)
        }
    }

    private func pause(after error: SystemError) {
        let delay = backoff
        backoff = min(backoff * 2, options.acceptBackoffMax)
        statistics.pauses &+= 1
        try? reactor.setInterest([], for: registration)
        resumeTimer = reactor.scheduleTimer(at: SystemClock.now() + delay, client: self)
        delegate?.tcpListener(self, didPauseAcceptingAfter: error, retryAfter: delay)
    }

    func handleTimer(_ timer: ReactorTimer) {
        guard timer == resumeTimer, !closed else { return }
        resumeTimer = nil
        do {
            try reactor.setInterest(.readable, for: registration)
        } catch {
            // Could not re-arm (out of memory in epoll_ctl): try again after the next backoff.
            if case .system(let systemError) = error {
                pause(after: systemError)
            }
            return
        }
        delegate?.tcpListenerDidResumeAccepting(self)
    }

    func handleFlush() {}

    func handleReactorShutdown() {
        closed = true
        resumeTimer = nil
        delegate = nil
    }
}

@available(*, unavailable)
extension TCPListener: Sendable {}
