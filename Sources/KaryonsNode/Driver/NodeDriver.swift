#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore

/// Receives what a `NodeDriver`'s core produces for the application, on the reactor's loop thread.
///
/// This is the reactor-callback path: no task hop, no allocation beyond the payload itself.
public protocol NodeDriverDelegate: AnyObject {
    /// A peer completed its handshake.
    func nodeDriver(_ driver: NodeDriver, peerConnected peer: PeerInfo)
    /// A peer left the pool.
    func nodeDriver(_ driver: NodeDriver, peerDisconnected peer: PeerID, reason: PeerRemovalReason)
    /// A protocol message arrived from a peer.
    func nodeDriver(_ driver: NodeDriver, received payload: [UInt8], from peer: PeerID, protocolID: ProtocolID)
    /// A monitor event.
    func nodeDriver(_ driver: NodeDriver, event: NodeEvent)
    /// The node stopped: every connection and listener is closed.
    func nodeDriverDidStop(_ driver: NodeDriver)
}

/// Runs a `NodeCore` on a `Reactor`: feeds it socket events, the clock and timeouts, and carries out
/// its outputs with the TCP and UDP transports.
///
/// The driver owns every socket its node uses (listeners, connections, the refresh socket) and one
/// reactor timer for the core's `nextDeadline`. It drains the core after every input, in the same
/// callback, so an answer goes out in the tick its question arrived. Many drivers may share one
/// reactor. Loop thread only: create it and call it on the reactor's thread (or before it runs).
public final class NodeDriver {
    /// The reactor this node runs on.
    public let reactor: Reactor
    /// Receives peers, messages and events.
    public weak var delegate: (any NodeDriverDelegate)?

    private var core: NodeCore
    private var connections: [ConnectionID: TCPConnection] = [:]
    private var listeners: [ListenerKind: TCPListener] = [:]
    /// Refresh sockets by address family: the refresh listener, or an ephemeral socket bound on first use.
    private var datagramSockets: [SocketAddress.Family: UDPSocket] = [:]
    /// The refresh socket bound beside a lookup listener on an ephemeral port, until the core asks
    /// for it (`listenOnEphemeralLookupPort`).
    private var reservedRefreshSocket: UDPSocket?
    private var timer: ReactorTimer?
    private var armedDeadline: Instant?
    private var isDraining = false
    private var isStopped = false
    /// A reusable buffer for encoding one refresh datagram.
    private var datagramBuffer = ByteWriter(capacity: RefreshDatagram.size)
    /// The local address outgoing connections and the ephemeral refresh socket bind to (nil: the kernel's choice).
    private let sourceAddress: IPAddress?

    /// Wraps `core`; nothing happens until `start()`.
    ///
    /// `sourceAddress`, when given, is the local address of every connection the node opens and of
    /// its ephemeral datagram socket (for destinations of the same family). Many nodes on distinct
    /// loopback addresses need it: the kernel would otherwise send from 127.0.0.1, and remotes
    /// would record that address for every node.
    public init(core: NodeCore, reactor: Reactor, sourceAddress: IPAddress? = nil) {
        self.core = core
        self.reactor = reactor
        self.sourceAddress = sourceAddress
    }

    /// The node's identity.
    public var id: PeerID { core.id }

    /// The node's routing table (read-only snapshot).
    public var routingTable: RoutingTable { core.routingTable }

    /// The peers in the node's pool.
    public var peers: [PeerInfo] { core.peers }

    /// Whether `peer` is in the node's pool.
    public func isConnected(to peer: PeerID) -> Bool { core.isConnected(to: peer) }

    /// The node's counters.
    public var statistics: NodeStatistics { core.statistics }

    /// The core's safety problems (`NodeCore.checkInvariants()`; empty when all is well).
    public func checkInvariants() -> [String] { core.checkInvariants() }

    /// The bound endpoint of a listener, once open.
    public func listeningEndpoint(_ kind: ListenerKind) -> Endpoint? {
        switch kind {
        case .peer, .lookup: return listeners[kind]?.localAddress.endpoint(.tcp)
        case .refresh: return nil
        }
    }

    /// Opens the listeners and starts discovery and dialing.
    public func start() { submit(.start) }

    /// Hands the core an application command (send, broadcast, disconnect, dial, shutdown …).
    public func submit(_ command: NodeCommand) {
        guard !isStopped else { return }
        core.handle(.command(command), now: reactor.now)
        drain()
    }

    // MARK: Outputs

    /// Carries out every output the core has, then re-arms the timer. Inputs fed while draining
    /// (listening, immediate failures) append outputs that the same loop picks up.
    private func drain() {
        guard !isDraining else { return }
        isDraining = true
        defer { isDraining = false }
        while let output = core.poll() {
            perform(output)
        }
        rearmTimer()
    }

    private func perform(_ output: NodeOutput) {
        switch output {
        case .listen(let kind, let endpoint): listen(kind, at: endpoint)
        case .connect(let id, _, let endpoint, let timeout): connect(id, to: endpoint, timeout: timeout)
        case .transmit(let id): transmit(id)
        case .close(let id): close(id)
        case .pauseReading(let id, let paused):
            if paused { connections[id]?.pauseReading() } else { connections[id]?.resumeReading() }
        case .sendDatagram(let datagram, let endpoint): send(datagram, to: endpoint)
        case .peerConnected(let info): delegate?.nodeDriver(self, peerConnected: info)
        case .peerDisconnected(let id, let reason): delegate?.nodeDriver(self, peerDisconnected: id, reason: reason)
        case .deliver(let peer, let protocolID, let payload):
            delegate?.nodeDriver(self, received: payload, from: peer, protocolID: protocolID)
        case .event(let event): delegate?.nodeDriver(self, event: event)
        case .stopped: stop()
        }
    }

    private func listen(_ kind: ListenerKind, at endpoint: Endpoint) {
        let address = SocketAddress(endpoint)
        do {
            switch kind {
            case .peer, .lookup:
                let listener = kind == .lookup && address.port == 0 && core.configuration.refreshFollowsLookupListener
                    ? try listenOnEphemeralLookupPort(address)
                    : try TCPListener.listen(on: address, reactor: reactor, delegate: self)
                listeners[kind] = listener
                core.handle(.listening(kind, listener.localAddress.endpoint(.tcp)), now: reactor.now)
            case .refresh:
                let socket: UDPSocket
                if let reserved = reservedRefreshSocket, reserved.localAddress == address {
                    socket = reserved
                    reservedRefreshSocket = nil
                } else {
                    socket = try UDPSocket.bind(to: address, reactor: reactor, delegate: self)
                }
                datagramSockets[address.family] = socket
                core.handle(.listening(kind, socket.localAddress.endpoint(.udp)), now: reactor.now)
            }
        } catch {
            core.handle(.listenFailed(kind, endpoint, reason: "\(error)"), now: reactor.now)
        }
    }

    /// How many ephemeral ports a lookup listener tries before its listen fails.
    static let ephemeralLookupPortAttemptsMax = 8

    /// A lookup listener on a port the kernel picks, with the refresh socket bound at once on the
    /// same number, which is where the core opens it (peers send refresh datagrams to the lookup
    /// port). The kernel picks TCP ports without looking at UDP ones, so that number may be taken
    /// for UDP by another socket on the machine: then another port is tried, rather than a start
    /// failing on a port the node never chose. (Only where the core opens the refresh listener
    /// there: `NodeConfiguration.refreshFollowsLookupListener`; a socket the core never asks for
    /// would be closed at `stop`.)
    private func listenOnEphemeralLookupPort(_ address: SocketAddress) throws(ReactorError) -> TCPListener {
        let (listener, refresh) = try Self.bindPortPair(
            attemptsMax: Self.ephemeralLookupPortAttemptsMax,
            listen: { () throws(ReactorError) in try TCPListener.listen(on: address, reactor: reactor, delegate: self) },
            bindBeside: { listener throws(ReactorError) in
                try UDPSocket.bind(to: listener.localAddress, reactor: reactor, delegate: self)
            },
            isNumberTaken: { error in
                guard case .system(let failure) = error else { return false }
                return failure.code == EADDRINUSE
            },
            close: { $0.close() })
        reservedRefreshSocket = refresh
        return listener
    }

    /// Opens a listener (`listen`), then a second socket beside it (`bindBeside`). When the second
    /// fails because its number is taken (`isNumberTaken`), closes the listener and starts over,
    /// `attemptsMax` times in all; any other failure, or the last, is thrown at once. Nothing stays
    /// open after a throw.
    static func bindPortPair<Listener, Beside, Failure: Error>(
        attemptsMax: Int, listen: () throws(Failure) -> Listener, bindBeside: (Listener) throws(Failure) -> Beside,
        isNumberTaken: (Failure) -> Bool, close: (Listener) -> Void
    ) throws(Failure) -> (Listener, Beside) {
        var attempt = 1
        while true {
            let listener = try listen()
            do {
                return (listener, try bindBeside(listener))
            } catch {
                close(listener)
                guard attempt < attemptsMax, isNumberTaken(error) else { throw error }
                attempt += 1
            }
        }
    }

    private func connect(_ id: ConnectionID, to endpoint: Endpoint, timeout: Duration) {
        var options = TCPConnection.Options()
        options.connectTimeout = timeout
        let destination = SocketAddress(endpoint)
        options.localAddress = sourceSocketAddress(for: destination.family)
        do {
            let connection = try TCPConnection.connect(to: destination, on: reactor, options: options,
                                                       delegate: self)
            connection.tag = Int(truncatingIfNeeded: id.rawValue)
            connections[id] = connection
        } catch {
            core.handle(.connectFailed(id, .failed("\(error)")), now: reactor.now)
        }
    }

    private func transmit(_ id: ConnectionID) {
        guard let connection = connections[id] else {
            _ = core.withOutgoing(id) { _ in }
            return
        }
        let failure = core.withOutgoing(id) { bytes -> TCPSendError? in
            do throws(TCPSendError) {
                try connection.send(bytes)
                return nil
            } catch {
                return error
            }
        }
        guard case .some(.some(let error)) = failure else { return }
        switch error {
        case .closed:
            return  // The connection's own ending event tells the core.
        case .outboundBufferFull:
            // The remote does not read and the queue is at its bound: drop the connection.
            connections[id] = nil
            connection.delegate = nil
            connection.close(mode: .reset)
            core.handle(.closed(id, .failed("send queue full")), now: reactor.now)
        }
    }

    private func close(_ id: ConnectionID) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        connection.delegate = nil
        connection.close(mode: .afterFlush)
    }

    private func send(_ datagram: RefreshDatagram, to endpoint: Endpoint) {
        let destination = SocketAddress(endpoint)
        guard let socket = datagramSocket(for: destination.family) else { return }
        datagramBuffer.removeAll()
        datagram.encode(into: &datagramBuffer)
        // UDP is lossy by design: a full send queue drops the datagram and the refresh retry covers it.
        datagramBuffer.bytes.withUnsafeBytes { bytes in
            do throws(UDPSendError) {
                try socket.send(bytes, to: destination)
            } catch {
                return
            }
        }
    }

    /// The socket that sends datagrams of `family`: the refresh listener's, or an ephemeral one.
    private func datagramSocket(for family: SocketAddress.Family) -> UDPSocket? {
        if let socket = datagramSockets[family], !socket.isClosed { return socket }
        let any = family == .ipv4 ? SocketAddress.ipv4Any(port: 0) : SocketAddress.ipv6Any(port: 0)
        let local = sourceSocketAddress(for: family) ?? any
        guard let socket = try? UDPSocket.bind(to: local, reactor: reactor, delegate: self) else { return nil }
        datagramSockets[family] = socket
        return socket
    }

    /// `sourceAddress` with port 0, when it is of `family`.
    private func sourceSocketAddress(for family: SocketAddress.Family) -> SocketAddress? {
        guard let sourceAddress else { return nil }
        let address = SocketAddress(Endpoint(.tcp, address: sourceAddress, port: 0))
        return address.family == family ? address : nil
    }

    private func stop() {
        isStopped = true
        for listener in listeners.values { listener.close() }
        listeners.removeAll()
        for socket in datagramSockets.values { socket.close() }
        datagramSockets.removeAll()
        reservedRefreshSocket?.close()
        reservedRefreshSocket = nil
        if let timer { _ = reactor.cancelTimer(timer) }
        timer = nil
        armedDeadline = nil
        delegate?.nodeDriverDidStop(self)
    }

    // MARK: Time

    private func rearmTimer() {
        guard !isStopped else { return }
        let deadline = core.nextDeadline
        guard deadline != armedDeadline else { return }
        if let timer { _ = reactor.cancelTimer(timer) }
        timer = deadline.map { reactor.scheduleTimer(at: $0, handler: self) }
        armedDeadline = deadline
    }

    private func connectionID(of connection: TCPConnection) -> ConnectionID {
        ConnectionID(rawValue: UInt64(truncatingIfNeeded: connection.tag))
    }
}

extension NodeDriver: ReactorTimerHandler {
    public func reactorTimerFired(_ timer: ReactorTimer) {
        guard timer == self.timer else { return }
        self.timer = nil
        armedDeadline = nil
        core.handleTimeout(now: reactor.now)
        drain()
    }
}

extension NodeDriver: TCPListenerDelegate {
    public func tcpListener(_ listener: TCPListener, didAccept connection: TCPConnection) {
        let kind: ListenerKind = listener === listeners[.lookup] ? .lookup : .peer
        let id = core.accept(kind, from: connection.remoteAddress.endpoint(.tcp), now: reactor.now)
        connection.tag = Int(truncatingIfNeeded: id.rawValue)
        connection.delegate = self
        connections[id] = connection
        drain()
    }
}

extension NodeDriver: TCPConnectionDelegate {
    public func tcpConnectionDidConnect(_ connection: TCPConnection) {
        core.handle(.connected(connectionID(of: connection)), now: reactor.now)
        drain()
    }

    public func tcpConnection(_ connection: TCPConnection, didFailToConnect error: TCPConnectError) {
        let id = connectionID(of: connection)
        connections[id] = nil
        let failure: ConnectFailure
        switch error {
        case .refused: failure = .refused
        case .timedOut: failure = .timedOut
        case .failed(let systemError): failure = .failed("\(systemError)")
        }
        core.handle(.connectFailed(id, failure), now: reactor.now)
        drain()
    }

    public func tcpConnection(_ connection: TCPConnection, didRead bytes: UnsafeRawBufferPointer) {
        core.receive(bytes, on: connectionID(of: connection), now: reactor.now)
        drain()
    }

    public func tcpConnection(_ connection: TCPConnection, didChangeWritability isWritable: Bool) {
        core.handle(.sendQueue(connectionID(of: connection), isAboveHighWatermark: !isWritable), now: reactor.now)
        drain()
    }

    public func tcpConnection(_ connection: TCPConnection, didClose reason: TCPCloseReason) {
        let id = connectionID(of: connection)
        connections[id] = nil
        let cause: CloseCause
        switch reason {
        case .peerClosed: cause = .closedByPeer
        case .reset: cause = .reset
        case .failed(let systemError): cause = .failed("\(systemError)")
        }
        core.handle(.closed(id, cause), now: reactor.now)
        drain()
    }
}

extension NodeDriver: UDPSocketDelegate {
    public func udpSocket(_ socket: UDPSocket, didReceive datagram: UnsafeRawBufferPointer, from sender: SocketAddress) {
        core.receiveDatagram(datagram, from: sender.endpoint(.udp), now: reactor.now)
        drain()
    }
}
