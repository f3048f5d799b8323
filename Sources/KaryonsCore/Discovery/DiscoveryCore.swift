/// Discovery timers (one deadline each in the node's queue).
enum DiscoveryTimer: Hashable {
    /// The seeding backoff ended: seed again.
    case seeding
    /// The refresh machine's next deadline (round, probe timeout or retry, verification ping).
    case refresh
    /// The dialer's next deadline (a dial retry, a manual peer's redial).
    case dialer
    /// An outbound lookup exchange's deadline (a response timeout, a reconnect backoff).
    case exchange(SlotHandle)
}

/// The DHT half of a node: the routing table, lookups over TCP (both sides), refresh over UDP (both
/// sides), seeding, and the dialer that fills the outbound peer slots.
///
/// It composes I/O-free leaf machines — `LookupRequester` (one per outbound lookup connection),
/// `LookupSession` (a seeding pass through one endpoint), `LookupResponder` (one per inbound lookup
/// connection), `RefreshMachine`, `Seeding` and `Dialer` — and turns their actions into calls on
/// the `CoreContext` that `NodeCore` lends it for each event. After every event it lets the dialer
/// take free slots, plans seeding when the dialer is starved, and moves its timers to the machines'
/// deadlines.
///
/// Listening: a node with a data listener (`peerListener`) opens a lookup listener
/// (`lookupListener`, or port 0 on the data listener's host) and a refresh listener
/// (`refreshListener`, or the bound lookup host and port over UDP, so both planes share one port
/// number as `PeerRecord.discoveryPort` requires). Once the data and lookup listeners are bound,
/// lookups advertise our record: `externalAddress` (else the bound data address), the bound data
/// port and the bound lookup port. A node without a data listener is outbound-only: it opens no
/// discovery listener and never advertises itself.
///
/// Limits: at most `slots.lookupInbound` responders (more are refused with Shutdown(noFreeSlot)),
/// `slots.lookupOutbound` exchanges in flight (more wait in a queue), `slots.outbound` dials or
/// outbound peers. `checkInvariants` verifies these and that no state outlives its connection.
struct DiscoveryCore {
    /// An outbound lookup exchange and what it belongs to.
    struct Exchange: Summarized {
        var requester: LookupRequester
        var kind: ExchangeRequest.Kind
        var session: SlotHandle
        var connection: ConnectionID?

        /// What the invariant checks read of an exchange (kept beside it by the table).
        struct Summary {
            let isStarted: Bool
            let session: SlotHandle
            let connection: ConnectionID?
        }

        var summary: Summary { Summary(isStarted: requester.state != .idle, session: session, connection: connection) }
    }

    var table: RoutingTable
    var rng: SplitMix64
    let localID: PeerID
    let configuration: NodeConfiguration
    let requesterSettings: LookupRequester.Settings
    private(set) var isRunning = false

    // Lookup plane.
    var responders: [ConnectionID: LookupResponder] = [:]
    var exchanges = SummarizedSlotTable<Exchange>()
    var exchangeByConnection: [ConnectionID: SlotHandle] = [:]
    /// Exchanges waiting for a lookup slot, oldest first, from `exchangeQueueHead`.
    var exchangeQueue: [SlotHandle] = []
    var exchangeQueueHead = 0
    /// Exchanges holding a lookup slot (started, not finished).
    var activeExchanges = 0
    var sessions = SlotTable<LookupSession>()
    /// Bootstrap endpoints the running seeding pass tries next if its session fails, in order.
    var bootstrapFallbacks: [Endpoint] = []
    /// Further table entries the running seeding pass may try after a failed session.
    var entryFallbacksLeft = 0
    /// Nodes that introduced themselves to our responders lately, passed on in Peers replies.
    var introductions = Introductions()

    // Upkeep.
    var seeding: Seeding
    var refresh: RefreshMachine
    var dialer: Dialer
    var refreshActions: [RefreshAction] = []
    var dialerActions: [DialerAction] = []

    // Listeners, as bound.
    private(set) var boundPeerEndpoint: Endpoint?
    private(set) var boundLookupEndpoint: Endpoint?
    private(set) var boundRefreshEndpoint: Endpoint?

    init(configuration: NodeConfiguration, localID: PeerID, rng: SplitMix64) {
        table = RoutingTable(localID: localID, configuration: configuration.routingTable)
        self.rng = rng
        self.localID = localID
        self.configuration = configuration
        requesterSettings = LookupRequester.Settings(configuration)
        seeding = Seeding(configuration: configuration.discovery)
        refresh = RefreshMachine(settings: RefreshMachine.Settings(configuration.discovery))
        dialer = Dialer(settings: Dialer.Settings(configuration))
    }

    /// Our own record as advertised in Peer messages; nil until the data and lookup listeners are
    /// bound (and always for an outbound-only node).
    var selfRecord: PeerRecord? {
        guard let peer = boundPeerEndpoint, let lookup = boundLookupEndpoint else { return nil }
        return PeerRecord(id: localID, address: configuration.externalAddress ?? peer.address,
                          port: peer.port, discoveryPort: lookup.port)
    }

    // MARK: Lifecycle and listeners

    /// `.start`: open the lookup and refresh listeners (if any), start seeding, dial manual peers.
    mutating func start(_ cx: inout CoreContext) {
        guard !isRunning else { return }
        isRunning = true
        if let dataListener = configuration.peerListener {
            let lookup = configuration.lookupListener ?? .tcp(dataListener.address, 0)
            cx.emit(.listen(.lookup, .tcp(lookup.address, lookup.port)))
            // Without a configured refresh listener, it opens once the lookup port is known.
            if let refresh = configuration.refreshListener {
                cx.emit(.listen(.refresh, .udp(refresh.address, refresh.port)))
            }
        }
        refresh.start(now: cx.now)
        for endpoint in configuration.dialPeers { dialer.addManual(endpoint) }
        if seeding.beginPass() { runSeedingPass(&cx) }
        afterEvent(&cx)
    }

    /// A listener is open at `endpoint` (resolved port): what we advertise in Peer messages.
    mutating func listening(_ kind: ListenerKind, at endpoint: Endpoint, _ cx: inout CoreContext) {
        guard isRunning else { return }
        switch kind {
        case .peer: boundPeerEndpoint = endpoint
        case .lookup:
            boundLookupEndpoint = endpoint
            if configuration.refreshFollowsLookupListener {
                cx.emit(.listen(.refresh, .udp(endpoint.address, endpoint.port)))
            }
        case .refresh: boundRefreshEndpoint = endpoint
        }
    }

    /// Close every lookup connection and stop every timer.
    mutating func shutdown(_ cx: inout CoreContext) {
        guard isRunning else { return }
        isRunning = false
        for id in responders.keys.sorted() { cx.close(id, sending: .shuttingDown) }
        responders = [:]
        exchanges.forEach { handle, exchange in
            if let connection = exchange.connection { cx.close(connection, sending: .shuttingDown) }
            cx.deadlines.cancel(.discovery(.exchange(handle)))
        }
        sessions.forEach { _, session in
            cx.emit(.lookupFailed(session.endpoint, reason: "\(LookupFailure.shuttingDown)"))
        }
        exchanges = SummarizedSlotTable()
        exchangeByConnection = [:]
        exchangeQueue = []
        exchangeQueueHead = 0
        activeExchanges = 0
        sessions = SlotTable()
        for timer in [DiscoveryTimer.seeding, .refresh, .dialer] { cx.deadlines.cancel(.discovery(timer)) }
        refresh.stop()
        dialer.stop()
        introductions.removeAll()
        bootstrapFallbacks = []
        seeding = Seeding(configuration: configuration.discovery)
    }

    // MARK: Lookup connections (routed by NodeCore)

    /// An inbound lookup connection (responder side); refused with Shutdown(noFreeSlot) when all
    /// `slots.lookupInbound` are taken.
    mutating func accepted(_ id: ConnectionID, from remote: Endpoint, _ cx: inout CoreContext) {
        guard responders.count < configuration.slots.lookupInbound else {
            cx.emit(.refused(.lookup, remote, .noFreeSlot))
            cx.close(id, sending: .noFreeSlot)
            return
        }
        let responder = LookupResponder(
            remote: remote, accepted: cx.now, configuration: configuration, localID: localID)
        responders[id] = responder
        cx.schedule(id, at: responder.deadline)
    }

    /// An outbound lookup connection is established.
    mutating func connected(_ id: ConnectionID, _ cx: inout CoreContext) {
        guard let handle = exchangeByConnection[id] else { return }
        perform(handle, &cx) { requester, now, _ in requester.connected(now: now) }
        afterEvent(&cx)
    }

    /// An outbound lookup connection failed (the ID is already dead).
    mutating func connectFailed(
        _ id: ConnectionID, to remote: Endpoint, _ failure: ConnectFailure, _ cx: inout CoreContext
    ) {
        guard let handle = exchangeByConnection.removeValue(forKey: id) else { return }
        exchanges.modify(handle) { $0.connection = nil }
        let willRetry = exchanges[handle]?.requester.willRetryConnect ?? false
        cx.emit(.connectFailed(.lookup, remote, failure, willRetry: willRetry))
        perform(handle, &cx) { requester, now, rng in requester.connectFailed(failure, now: now, rng: &rng) }
        afterEvent(&cx)
    }

    /// A lookup-plane message arrived.
    mutating func received(_ message: LookupMessage, on id: ConnectionID, _ cx: inout CoreContext) {
        if responders[id] != nil {
            respond(to: message, on: id, &cx)
        } else if let handle = exchangeByConnection[id] {
            perform(handle, &cx) { requester, now, _ in requester.received(message, now: now) }
        } else {
            cx.close(id, sending: nil)  // Nobody owns it; cannot happen, but never leave it open.
        }
        afterEvent(&cx)
    }

    /// The connection sent an undecodable frame: close it with `.malformedMessage` and forget it.
    mutating func malformed(_ id: ConnectionID, _ error: WireError, _ cx: inout CoreContext) {
        if responders.removeValue(forKey: id) != nil {
            cx.close(id, sending: .malformedMessage)
        } else if let handle = exchangeByConnection[id] {
            perform(handle, &cx) { requester, _, _ in requester.abort(.malformed(error), closeWith: .malformedMessage) }
        } else {
            cx.close(id, sending: .malformedMessage)
        }
        afterEvent(&cx)
    }

    /// The remote closed or reset a lookup connection (the ID is already dead).
    mutating func connectionLost(_ id: ConnectionID, _ cause: CloseCause, _ cx: inout CoreContext) {
        if responders.removeValue(forKey: id) == nil, let handle = exchangeByConnection.removeValue(forKey: id) {
            exchanges.modify(handle) { $0.connection = nil }
            perform(handle, &cx) { requester, _, _ in requester.abort(.connectionLost(cause), closeWith: nil) }
        }
        afterEvent(&cx)
    }

    /// The deadline set with `cx.schedule(id, at:)` passed: a responder's lifespan. An early
    /// call changes nothing but re-arms the deadline.
    mutating func connectionTimeout(_ id: ConnectionID, _ cx: inout CoreContext) {
        guard let responder = responders[id] else { return }
        let action = responder.timeout(now: cx.now)
        if action == .wait { cx.schedule(id, at: responder.deadline) }
        apply(action, responder: id, &cx)
        afterEvent(&cx)
    }

    // MARK: Datagrams, timers, commands, signals

    /// A refresh datagram arrived on the UDP socket.
    mutating func datagram(_ datagram: RefreshDatagram, from source: Endpoint, _ cx: inout CoreContext) {
        guard isRunning else { return }
        refreshActions.removeAll(keepingCapacity: true)
        refresh.received(datagram, from: source, now: cx.now, table: &table, rng: &rng, actions: &refreshActions)
        applyRefreshActions(&cx)
        // Answering a ping changes nothing the dialer or the timers depend on: keep that path short.
        if case .pong = datagram { afterEvent(&cx) }
    }

    /// A discovery timer fired.
    mutating func timeout(_ timer: DiscoveryTimer, _ cx: inout CoreContext) {
        guard isRunning else { return }
        switch timer {
        case .seeding:
            if seeding.timeout(now: cx.now) { runSeedingPass(&cx) }
        case .refresh:
            refreshActions.removeAll(keepingCapacity: true)
            refresh.timeout(now: cx.now, table: &table, rng: &rng, actions: &refreshActions)
            applyRefreshActions(&cx)
        case .dialer:
            dialerActions.removeAll(keepingCapacity: true)
            dialer.timeout(now: cx.now, table: &table, actions: &dialerActions)
            signalDials(&cx)
        case .exchange(let handle):
            guard let exchange = exchanges[handle] else { break }
            if case .connecting = exchange.requester.state, exchange.requester.deadline.map({ $0 <= cx.now }) == true {
                // The driver never answered the connect: report it as timed out, as the driver would.
                let willRetry = exchange.requester.willRetryConnect
                cx.emit(.connectFailed(.lookup, exchange.requester.remote, .timedOut, willRetry: willRetry))
            }
            perform(handle, &cx) { requester, now, rng in requester.timeout(now: now, rng: &rng) }
        }
        afterEvent(&cx)
    }

    /// `.dial(endpoint)` from the application: a manual peer, kept connected.
    mutating func dialManually(_ endpoint: Endpoint, _ cx: inout CoreContext) {
        guard isRunning else { return }
        dialer.addManual(endpoint)
        afterEvent(&cx)
    }

    /// A signal from the peer half (`dialFailed`, `peerAdded`, `peerRemoved`).
    mutating func handle(_ signal: CoreSignal, _ cx: inout CoreContext) {
        guard isRunning else { return }
        switch signal {
        case .dial: preconditionFailure("BUG in Karyons: a dial signal was routed to discovery")
        case .dialFailed(let endpoint, let expected, let failure):
            cx.statistics.count(dialFailure: failure.kind)
            dialer.dialFailed(endpoint, expected: expected, failure, now: cx.now, table: &table, rng: &rng)
            if case .connectFailed(let connectFailure) = failure {
                let willRetry = dialer.willRedial(endpoint, expected: expected)
                cx.emit(.connectFailed(.peer, endpoint, connectFailure, willRetry: willRetry))
            }
        case .peerAdded(let peer, let dialled):
            if peer.direction == .outbound && dialled != nil {
                cx.statistics.dialsSucceeded += 1
                seeding.progressed(now: cx.now, rng: &rng)
            }
            dialer.peerAdded(peer, dialled: dialled, now: cx.now, table: &table)
        case .peerRemoved(let peer, let dialled):
            dialer.peerRemoved(peer, dialled: dialled, now: cx.now, table: &table, rng: &rng)
        }
        afterEvent(&cx)
    }
}
