/// Peer-pool timers. There are none: every peer timer is its connection's deadline (handshake,
/// keep-alive, send stall), and dial retries belong to discovery.
enum PeerTimer: Hashable {}

/// The connection half of a node: peer connections, handshakes, the pool and its slots, the core
/// PING protocol, and dispatch of protocol frames to the application.
///
/// Composes the leaf machines — `HandshakeMachine` per handshaking connection, `PeerMachine` (with its
/// `PingMachine`) per established peer, and one `PeerPool` for slots and membership — and turns their
/// actions into `CoreContext` calls. `NodeCore` calls it; every method handles one event and returns.
///
/// Life of a connection: outbound, a `.dial` signal from discovery takes an outbound slot and starts a
/// TCP connect (`connecting`); inbound, an accepted connection takes an inbound slot or is refused at
/// once with Shutdown(noFreeSlot). Then the handshake runs (`handshaking`, `handshakeTimeout`), the
/// pool admits the peer (duplicates and the simultaneous-open tie-break, see `PeerPool`), and the peer
/// is established until either side closes, it stops answering pings, breaks the protocol, or stalls.
///
/// Tells the application `.peerConnected` / `.peerDisconnected` / `.deliver`; tells discovery
/// `.peerAdded` / `.peerRemoved` / `.dialFailed` (a dial that produced no peer: connect failure,
/// handshake failure, or another ID than expected); emits a monitor event for each step. Whenever it
/// closes a connection it forgets it at once (`cx.close`).
struct PeerCore {
    let identity: HandshakeIdentity
    let handshakeTimeout: Duration
    let connectTimeout: Duration
    let peerSettings: PeerMachine.Settings
    var pool: PeerPool
    var links = PeerLinks()
    /// Set by `shutdown`: nothing is signalled to discovery any more.
    var isStopped = false

    init(configuration: NodeConfiguration, localID: PeerID) {
        identity = HandshakeIdentity(configuration: configuration, localID: localID)
        handshakeTimeout = configuration.peers.handshakeTimeout
        connectTimeout = configuration.peers.connectTimeout
        peerSettings = PeerMachine.Settings(configuration.peers)
        pool = PeerPool(limits: PeerPool.Limits(configuration.slots), localID: localID)
    }

    /// The peers whose handshake completed, in connection-slot order.
    var connectedPeers: [PeerInfo] {
        var peers: [PeerInfo] = []
        links.forEach { link in if link.stage == .established, let peer = link.peer { peers.append(peer.info) } }
        return peers
    }

    /// The connection of a connected peer.
    func connection(of peer: PeerID) -> ConnectionID? { establishedConnection(of: peer) }

    /// The connection of a peer whose handshake is over on both sides (a listener's pool member
    /// waiting for the dialler's confirmation is not one yet).
    func establishedConnection(of peer: PeerID) -> ConnectionID? {
        guard let id = pool.connection(of: peer), links.stage(of: id) == .established else { return nil }
        return id
    }

    // MARK: Connections

    /// An inbound peer connection: start the listener's handshake, or refuse (slots, subnet cap).
    mutating func accepted(_ id: ConnectionID, from remote: Endpoint, _ cx: inout CoreContext) {
        if pool.openInbound(id, from: remote.address) != nil {
            cx.emit(.refused(.peer, remote, .noFreeSlot))
            cx.close(id, sending: .noFreeSlot)
            return
        }
        let machine = HandshakeMachine(listeningAt: cx.now, identity: identity, timeout: handshakeTimeout)
        links.insert(
            PeerLink(id: id, direction: .inbound, remote: remote, expected: nil, handshake: machine)
        )
        cx.schedule(id, at: machine.deadline)
    }

    /// A signal from discovery (`dial`).
    mutating func handle(_ signal: CoreSignal, _ cx: inout CoreContext) {
        switch signal {
        case .dial(let endpoint, let expected):
            dial(endpoint, expected: expected, &cx)
        case .dialFailed, .peerAdded, .peerRemoved:
            preconditionFailure("BUG in Karyons: the peer half got its own signal \(signal)")
        }
    }

    /// Starts a dial, or answers `.dialFailed` at once (self, already connected, no outbound slot).
    private mutating func dial(_ endpoint: Endpoint, expected: PeerID?, _ cx: inout CoreContext) {
        guard !isStopped else { return }
        var refusal: DialFailure?
        if expected == identity.id {
            refusal = .selfConnection
        } else if let expected, establishedConnection(of: expected) != nil {
            // (A listener's handshake with it that still waits for confirmation does not count: the
            // pool's tie-break settles that one during our handshake, so discovery never redraws
            // an entry refused at once for a peer it has not heard of.)
            refusal = .duplicatePeer
        } else if !pool.hasFreeOutboundSlot {
            refusal = .noFreeSlot
        }
        if let refusal {
            cx.signal(.dialFailed(endpoint, expected: expected, reason: refusal))
            return
        }
        let id = cx.connect(.peer, to: endpoint, timeout: connectTimeout)
        pool.openOutbound(id)
        links.insert(PeerLink(id: id, direction: .outbound, remote: endpoint, expected: expected))
    }

    /// An outbound peer connection is established: send Version.
    mutating func connected(_ id: ConnectionID, _ cx: inout CoreContext) {
        guard let link = links[id], link.stage == .connecting else {
            preconditionFailure("BUG in Karyons: peer connection \(id) connected without a dial in flight")
        }
        var machine = HandshakeMachine(dialling: link.expected, identity: identity, timeout: handshakeTimeout)
        let action = machine.start(now: cx.now)
        links.modify(id) { $0.startHandshake(machine) }
        cx.schedule(id, at: machine.deadline)
        apply(action, on: id, &cx)
    }

    /// An outbound peer connection failed (the ID is already dead).
    mutating func connectFailed(
        _ id: ConnectionID,
        to remote: Endpoint,
        _ failure: ConnectFailure,
        _ cx: inout CoreContext
    ) {
        guard let link = links.remove(id) else { return }
        pool.release(id)
        // Discovery owns retries: it reports the failure (`.connectFailed`) once it knows whether
        // it will dial again.
        if isStopped {
            cx.emit(.connectFailed(.peer, remote, failure, willRetry: false))
        } else {
            cx.signal(.dialFailed(remote, expected: link.expected, reason: .connectFailed(failure)))
        }
    }

    /// A peer-plane message arrived.
    mutating func received(_ message: PeerMessage, on id: ConnectionID, _ cx: inout CoreContext) {
        guard let stage = links.stage(of: id) else {
            preconditionFailure("BUG in Karyons: a message on peer connection \(id), which the peer half closed")
        }
        switch stage {
        case .handshaking:
            if let action = links.modifyHandshake(id, { $0.received(message) }) { apply(action, on: id, &cx) }
        case .established:
            let now = cx.now
            if let action = links.modifyPeer(id, { $0.received(message, now: now) }) { apply(action, on: id, &cx) }
        case .connecting:
            preconditionFailure("BUG in Karyons: a message on peer connection \(id) before it connected")
        }
    }

    /// A Ping-protocol payload that came as one whole frame, decoded without the frame decoder
    /// (`NodeCore`'s keep-alive shortcut): handled exactly as `received(.protocol(.ping, payload))`
    /// on an established link. False, with nothing done, on a link in any other stage: there a
    /// PING frame takes the general path.
    mutating func receivedPing(_ payload: PingPayload, on id: ConnectionID, _ cx: inout CoreContext) -> Bool {
        guard links.stage(of: id) == .established else { return false }
        let now = cx.now
        if let action = links.modifyPeer(id, { $0.received(ping: payload, now: now) }) { apply(action, on: id, &cx) }
        return true
    }

    /// The connection sent an undecodable frame: close it with `.malformedMessage` and forget it.
    mutating func malformed(_ id: ConnectionID, _ error: WireError, _ cx: inout CoreContext) {
        guard let stage = links.stage(of: id) else { return }
        switch stage {
        case .handshaking:
            if let action = links.modifyHandshake(id, { $0.malformed(error) }) { apply(action, on: id, &cx) }
        case .established:
            removePeer(id, .protocolViolation("malformed frame: \(error)"), sending: .malformedMessage, &cx)
        case .connecting:
            preconditionFailure("BUG in Karyons: a frame on peer connection \(id) before it connected")
        }
    }

    /// The remote closed or reset the connection (the ID is already dead).
    mutating func connectionLost(_ id: ConnectionID, _ cause: CloseCause, _ cx: inout CoreContext) {
        guard let link = links[id] else { return }
        switch link.stage {
        case .connecting:
            connectFailed(id, to: link.remote, .failed("\(cause)"), &cx)
        case .handshaking:
            failHandshake(id, .connectionLost(cause), sending: nil, &cx)
        case .established:
            removePeer(id, .connectionLost(cause), sending: nil, &cx)
        }
    }

    /// The deadline set with `cx.schedule(id, at:)` passed (handshake, ping, stall). Idempotent: what
    /// is due is recomputed from `cx.now`.
    mutating func connectionTimeout(_ id: ConnectionID, _ cx: inout CoreContext) {
        guard let stage = links.stage(of: id) else { return }
        switch stage {
        case .handshaking:
            let now = cx.now
            let deadline = links.facts(of: id)?.deadline
            guard let action = links.modifyHandshake(id, { $0.timeout(now: now) }) else { return }
            apply(action, on: id, &cx)
            // A call before the deadline changes nothing; keep the deadline it consumed.
            if action == .wait { cx.schedule(id, at: deadline) }
        case .established:
            let now = cx.now
            if let action = links.modifyPeer(id, { $0.timeout(now: now, rng: &cx.rng) }) {
                apply(action, on: id, &cx)
            }
        case .connecting:
            // A dial has no deadline of ours: the driver reports the connect timeout.
            break
        }
    }

    /// The driver's send queue crossed a watermark.
    mutating func sendQueueChanged(_ id: ConnectionID, isHigh: Bool, _ cx: inout CoreContext) {
        let now = cx.now
        guard links.modifyPeer(id, { $0.sendQueueChanged(isHigh: isHigh, now: now) }) != nil else { return }
        reschedule(id, &cx)
    }

    /// A pool timer fired (there are none: `PeerTimer` has no cases, so this is never called).
    mutating func timeout(_ timer: PeerTimer, _ cx: inout CoreContext) {}

    /// Sends Shutdown(shuttingDown) to every peer and handshaking connection, cancels every dial and
    /// forgets every connection (their deadlines go with them). Discovery hears nothing more.
    mutating func shutdown(_ cx: inout CoreContext) {
        isStopped = true
        for id in links.ids {
            guard let link = links.remove(id) else { continue }
            pool.release(id)
            switch link.stage {
            case .connecting:
                cx.close(id, sending: nil)
            case .handshaking:
                cx.close(id, sending: .shuttingDown)
            case .established:
                cx.close(id, sending: .shuttingDown)
                if let peer = link.peer {
                    announceRemoval(of: peer.info, dialled: link.dialled, .localShutdown(.shuttingDown), &cx)
                }
            }
        }
    }
}
