/// A whole Karyons node as an I/O-free state machine: the DHT (discovery) and the peer pool
/// (handshakes, keep-alive, protocol dispatch), composed behind one driving contract.
///
/// The contract (DESIGN.md, "The driving contract"); every call takes the current time, which must
/// never go backwards:
/// 1. Feed one event with `handle(_:now:)`, or `accept(_:from:now:)` for a connection a listener
///    accepted, or `receive(_:on:now:)` for bytes read (the zero-copy form of `.received`), or
///    `handleTimeout(now:)` once `nextDeadline` has passed.
/// 2. Drain `poll()` until it returns nil and carry out every output, in order. For `.transmit(id)`,
///    take the connection's bytes with `withOutgoing(_:_:)` (or `takeOutgoing(_:)`) and write them.
/// 3. Sleep until `nextDeadline` or the next event, whichever comes first.
///
/// The node never reads a clock or a system RNG (it is seeded at construction) and never touches a
/// socket, so the same value runs on the epoll reactor (KaryonsNode) and on the simulator's virtual
/// network (KaryonsSimulation), and one seed reproduces a run. Connections are named by
/// `ConnectionID`s with generations: an event about a connection the core already forgot is dropped
/// and counted in `statistics.staleEvents`.
public struct NodeCore {
    private enum Lifecycle { case idle, running, stopped }

    private var cx: CoreContext
    private var discovery: DiscoveryCore
    private var pool: PeerCore
    private var lifecycle = Lifecycle.idle
    /// What `checkInvariantsInPlace` last found sound: the routing table's structure version, and
    /// the pool's version with the number of peer links. Unchanged since, they are not rechecked.
    private var soundTableVersion: UInt64?
    private var soundPool: PoolCheckState?

    /// Creates a node with identity `id`; `seed` fixes every random choice it will make.
    public init(id: PeerID, configuration: NodeConfiguration, seed: UInt64, now: Instant) {
        cx = CoreContext(localID: id, configuration: configuration, seed: seed, now: now)
        discovery = DiscoveryCore(configuration: configuration, localID: id, rng: cx.rng.split())
        pool = PeerCore(configuration: configuration, localID: id)
    }

    /// This node's identity.
    public var id: PeerID { cx.localID }

    /// This node's configuration.
    public var configuration: NodeConfiguration { cx.configuration }

    /// The routing table, read-only.
    public var routingTable: RoutingTable { discovery.table }

    /// The peers in the pool (handshake complete).
    public var peers: [PeerInfo] { pool.connectedPeers }

    /// Calls `body` with the ID and direction of each peer in the pool (handshake complete), in the
    /// order of `peers`, without building that array or copying any peer's state.
    public func forEachPeer(_ body: (PeerID, Direction) -> Void) { pool.links.forEachEstablished(body) }

    /// Whether `peer` is in the pool (handshake complete), without building the `peers` array.
    public func isConnected(to peer: PeerID) -> Bool { pool.connection(of: peer) != nil }

    /// Counters for monitors and metrics.
    public var statistics: NodeStatistics { cx.statistics }

    /// The discovery half, read-only, for tests of its machines (pending dials, slots, probes).
    var testsOnly_discovery: DiscoveryCore { discovery }

    /// The number of open TCP connections of each plane (handshaking ones included).
    public func connectionCount(_ plane: Plane) -> Int {
        var count = 0
        cx.connections.forEach { _, connection in if connection.plane == plane && !connection.isClosing { count += 1 } }
        return count
    }

    // MARK: Driving contract

    /// Feeds one event.
    public mutating func handle(_ input: NodeInput, now: Instant) {
        advance(to: now)
        guard lifecycle != .stopped else {
            cx.statistics.staleEvents += 1
            return
        }
        switch input {
        case .connected(let id): connected(id)
        case .connectFailed(let id, let failure): connectFailed(id, failure)
        case .received(let id, let bytes): bytes.withUnsafeBytes { receiveBytes($0, on: id) }
        case .closed(let id, let cause): closed(id, cause)
        case .sendQueue(let id, let isHigh): sendQueueChanged(id, isHigh: isHigh)
        case .datagram(let source, let bytes): bytes.withUnsafeBytes { datagram($0, from: source) }
        case .listening(let kind, let endpoint):
            cx.emit(.listening(kind, endpoint))
            discovery.listening(kind, at: endpoint, &cx)
        case .listenFailed(let kind, let endpoint, let reason):
            cx.emit(.listenFailed(kind, endpoint, reason: reason))
        case .command(let command): run(command)
        }
        routeSignals()
    }

    /// Bytes read from a connection (zero-copy form of `handle(.received(id, bytes))`). The buffer is
    /// only read during the call.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, on id: ConnectionID, now: Instant) {
        advance(to: now)
        guard lifecycle != .stopped else { return }
        receiveBytes(bytes, on: id)
        routeSignals()
    }

    /// A UDP datagram from the refresh socket (zero-copy form of `handle(.datagram(from:bytes))`).
    /// The buffer is only read during the call.
    public mutating func receiveDatagram(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Instant) {
        advance(to: now)
        guard lifecycle != .stopped else { return }
        datagram(bytes, from: source)
        routeSignals()
    }

    /// Takes on a connection accepted by our `.peer` or `.lookup` listener and returns its ID.
    /// The core may refuse it at once (no free slot, subnet cap): then `poll()` yields a Shutdown
    /// frame to transmit and `.close` for it.
    public mutating func accept(_ listener: ListenerKind, from remote: Endpoint, now: Instant) -> ConnectionID {
        advance(to: now)
        let plane: Plane
        switch listener {
        case .peer: plane = .peer
        case .lookup: plane = .lookup
        case .refresh: preconditionFailure("BUG in Karyons: the refresh listener is UDP; it accepts no connections")
        }
        let id = cx.adopt(plane, from: remote)
        guard lifecycle == .running else {
            cx.emit(.refused(plane, remote, .shuttingDown))
            cx.close(id, sending: .shuttingDown)
            return id
        }
        cx.emit(.accepted(plane, remote))
        switch plane {
        case .lookup: discovery.accepted(id, from: remote, &cx)
        case .peer: pool.accepted(id, from: remote, &cx)
        }
        routeSignals()
        return id
    }

    /// Runs every timer that is due at `now`. Spurious calls are harmless.
    public mutating func handleTimeout(now: Instant) {
        advance(to: now)
        var fired = 0
        while let timer = cx.deadlines.popDue(now: now) {
            fired += 1
            precondition(fired <= 1_000_000, "BUG in Karyons: a timer keeps rescheduling itself at \(now)")
            switch timer {
            case .connection(let id):
                // The summary, not the connection: copying a connection retains its buffers.
                guard let connection = cx.connections.summary(of: id), !connection.isClosing else { continue }
                switch connection.plane {
                case .lookup: discovery.connectionTimeout(id, &cx)
                case .peer: pool.connectionTimeout(id, &cx)
                }
            case .discovery(let timer): discovery.timeout(timer, &cx)
            case .peers(let timer): pool.timeout(timer, &cx)
            }
            routeSignals()
        }
    }

    /// The next effect to carry out, or nil when there is nothing left to do.
    public mutating func poll() -> NodeOutput? { cx.nextOutput() }

    /// When the node next wants `handleTimeout(now:)`.
    public var nextDeadline: Instant? {
        mutating get { cx.deadlines.nextDeadline }
    }

    /// Lends the bytes waiting for `id` to `body` (which writes them), then empties the outbox.
    /// Returns nil for a connection the core no longer knows.
    public mutating func withOutgoing<Result>(_ id: ConnectionID, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        let result = cx.connections.modify(id) { connection -> (Result, Bool) in
            let result = connection.outbox.bytes.withUnsafeBytes(body)
            connection.outbox.removeAll()
            return (result, connection.isClosing)
        }
        guard let (value, isClosing) = result else { return nil }
        if isClosing { cx.connections.remove(id) }
        return value
    }

    /// Appends the bytes waiting for `id` to `buffer`, then empties the outbox; returns how many
    /// (nil for a connection the core no longer knows). `withOutgoing` for a driver in another
    /// module: a generic call across modules is not specialized and looks up type metadata on
    /// every call, which the simulator would pay for every segment.
    public mutating func moveOutgoing(_ id: ConnectionID, appendingTo buffer: inout [UInt8]) -> Int? {
        let moved = cx.connections.modify(id) { connection -> (Int, Bool) in
            let count = connection.outbox.count
            connection.outbox.bytes.withUnsafeBytes { buffer.append(contentsOf: $0) }
            connection.outbox.removeAll()
            return (count, connection.isClosing)
        }
        guard let (count, isClosing) = moved else { return nil }
        if isClosing { cx.connections.remove(id) }
        return count
    }

    /// The bytes waiting for `id` (empty for an unknown connection), as a new array.
    public mutating func takeOutgoing(_ id: ConnectionID) -> [UInt8] {
        withOutgoing(id) { Array($0) } ?? []
    }

    // MARK: Inputs

    private mutating func advance(to now: Instant) {
        precondition(now >= cx.now, "BUG in Karyons: time went backwards from \(cx.now) to \(now)")
        cx.now = now
    }

    private mutating func run(_ command: NodeCommand) {
        switch command {
        case .start:
            guard lifecycle == .idle else { return }
            lifecycle = .running
            if let endpoint = cx.configuration.peerListener { cx.emit(.listen(.peer, endpoint)) }
            discovery.start(&cx)
        case .send, .broadcast, .disconnect, .pauseDelivery:
            guard lifecycle == .running else { return }
            pool.command(command, &cx)
            if case .pauseDelivery(let peer, false) = command, let id = pool.connection(of: peer) {
                deliverBufferedFrames(on: id)
            }
        case .dial(let endpoint):
            guard lifecycle == .running else { return }
            discovery.dialManually(endpoint, &cx)
        case .shutdown:
            guard lifecycle == .running || lifecycle == .idle else { return }
            lifecycle = .stopped
            discovery.shutdown(&cx)
            pool.shutdown(&cx)
            cx.emit(.stopped)
        }
    }

    private mutating func connected(_ id: ConnectionID) {
        guard let connection = cx.connections.summary(of: id), !connection.isEstablished, !connection.isClosing else {
            cx.statistics.staleEvents += 1
            return
        }
        let remote = cx.connections.modify(id) { connection -> Endpoint in
            connection.isEstablished = true
            return connection.remote
        }!
        cx.emit(.connected(connection.plane, remote))
        switch connection.plane {
        case .lookup: discovery.connected(id, &cx)
        case .peer: pool.connected(id, &cx)
        }
        if let pending = cx.connections.summary(of: id), pending.outboxBytes > 0, !pending.isClosing { cx.emit(.transmit(id)) }
    }

    private mutating func connectFailed(_ id: ConnectionID, _ failure: ConnectFailure) {
        guard let connection = cx.connections[id], !connection.isEstablished else {
            cx.statistics.staleEvents += 1
            return
        }
        cx.connections.remove(id)
        cx.deadlines.cancel(.connection(id))
        if connection.isClosing { return }
        switch connection.plane {
        case .lookup: discovery.connectFailed(id, to: connection.remote, failure, &cx)
        case .peer: pool.connectFailed(id, to: connection.remote, failure, &cx)
        }
    }

    private mutating func closed(_ id: ConnectionID, _ cause: CloseCause) {
        guard let connection = cx.connections.remove(id) else {
            cx.statistics.staleEvents += 1
            return
        }
        cx.deadlines.cancel(.connection(id))
        if connection.isClosing { return }
        cx.emit(.disconnected(connection.plane, connection.remote))
        switch connection.plane {
        case .lookup: discovery.connectionLost(id, cause, &cx)
        case .peer: pool.connectionLost(id, cause, &cx)
        }
    }

    private mutating func sendQueueChanged(_ id: ConnectionID, isHigh: Bool) {
        guard let connection = cx.connections[id], !connection.isClosing else {
            cx.statistics.staleEvents += 1
            return
        }
        cx.connections.modify(id) { $0.isSendQueueHigh = isHigh }
        if connection.plane == .peer { pool.sendQueueChanged(id, isHigh: isHigh, &cx) }
    }

    private mutating func datagram(_ bytes: UnsafeRawBufferPointer, from source: Endpoint) {
        do {
            let datagram = try RefreshDatagram(parsing: bytes)
            discovery.datagram(datagram, from: source, &cx)
        } catch {
            cx.statistics.datagramsDropped += 1
            cx.emit(.datagramDropped(from: source, reason: "\(error)"))
        }
    }

    private mutating func receiveBytes(_ bytes: UnsafeRawBufferPointer, on id: ConnectionID) {
        if let keepAlive = PingPayload(wholeFrame: bytes), receiveKeepAlive(keepAlive, on: id) { return }
        guard cx.connections.modify(id, { connection -> Bool in
            guard connection.isEstablished, !connection.isClosing else { return false }
            connection.decoder.feed(bytes)
            return true
        }) == true else {
            cx.statistics.staleEvents += 1
            return
        }
        deliverBufferedFrames(on: id)
    }

    /// The shortcut for a chunk that is exactly one Ping-protocol frame, on an established peer
    /// connection that reads and has nothing buffered: the payload goes to the peer half as the
    /// decoder would have handed it over, without being copied into the decoder's buffer (a cache
    /// miss per keep-alive frame on a node with many connections) or into an array. False, with
    /// nothing done, where the general path must read the bytes.
    private mutating func receiveKeepAlive(_ payload: PingPayload, on id: ConnectionID) -> Bool {
        guard let connection = cx.connections.summary(of: id), connection.plane == .peer, connection.isEstablished,
            !connection.isClosing, !connection.isReadingPaused, !connection.hasBufferedInput
        else { return false }
        return pool.receivedPing(payload, on: id, &cx)
    }

    /// Decodes and dispatches every complete frame buffered for `id`, until the connection closes or
    /// its owner pauses delivery (application backpressure).
    private mutating func deliverBufferedFrames(on id: ConnectionID) {
        // Only the plane is kept: a copy of the connection held across the loop body would share its
        // outbox, so the reply the body appends there (a PONG) would copy the whole buffer.
        while let plane = cx.connections.summary(of: id).flatMap({ $0.isClosing || $0.isReadingPaused ? nil : $0.plane }) {
            switch plane {
            case .lookup:
                let decoded = cx.connections.modify(id) { connection in
                    Result { () throws(WireError) in try connection.decoder.nextLookupMessage() }
                }
                guard case .some(let result) = decoded else { return }
                switch result {
                case .success(nil): return
                case .success(let message?): discovery.received(message, on: id, &cx)
                case .failure(let error):
                    cx.statistics.protocolViolations += 1
                    discovery.malformed(id, error, &cx)
                }
            case .peer:
                let decoded = cx.connections.modify(id) { connection in
                    Result { () throws(WireError) in try connection.decoder.nextPeerMessage() }
                }
                guard case .some(let result) = decoded else { return }
                switch result {
                case .success(nil): return
                case .success(let message?): pool.received(message, on: id, &cx)
                case .failure(let error):
                    cx.statistics.protocolViolations += 1
                    pool.malformed(id, error, &cx)
                }
            }
        }
    }

    /// Hands the signals one half left for the other to their recipients, until none are left.
    private mutating func routeSignals() {
        var routed = 0
        while cx.hasSignals {
            for signal in cx.takeSignals() {
                routed += 1
                precondition(routed <= 100_000, "BUG in Karyons: the node's halves keep signalling each other")
                switch signal {
                case .dial: pool.handle(signal, &cx)
                case .dialFailed, .peerAdded, .peerRemoved: discovery.handle(signal, &cx)
                }
            }
        }
    }

    /// Tests only: gives the peer half a dial as discovery would (`CoreSignal.dial`), so the peer half
    /// can be tested apart from discovery's dialing policy.
    mutating func testsOnly_dial(_ endpoint: Endpoint, expected: PeerID?, now: Instant) {
        advance(to: now)
        guard lifecycle == .running else { return }
        cx.signal(.dial(endpoint, expected: expected))
        routeSignals()
    }

    /// Tests only: how many deadlines the node has scheduled (connections, exchanges, timers).
    var testsOnly_scheduledDeadlines: Int { cx.deadlines.count }

    /// Tests only: ways to break the node's state on purpose, so that tests see the invariant
    /// checks catch each one.
    enum TestsOnlyCorruption: CaseIterable {
        /// The pool frees an established peer's slot while its link stays.
        case releasePoolSlot
        /// An established peer's keep-alive deadline vanishes from the queue.
        case cancelPeerDeadline
        /// The connection under an established peer is forgotten while its link stays.
        case dropPeerConnection
    }

    /// Tests only: applies `corruption` to the first established peer; false if there is none.
    mutating func testsOnly_corrupt(_ corruption: TestsOnlyCorruption) -> Bool {
        var target: ConnectionID?
        pool.links.forEachFacts { link in if target == nil && link.stage == .established { target = link.id } }
        guard let id = target else { return false }
        switch corruption {
        case .releasePoolSlot: pool.pool.release(id)
        case .cancelPeerDeadline: cx.deadlines.cancel(.connection(id))
        case .dropPeerConnection: cx.connections.remove(id)
        }
        return true
    }

    // MARK: Invariants

    /// Problems with the node's internal consistency (empty when all is well), for the simulator's
    /// safety checks after every event.
    public func checkInvariants() -> [String] {
        var node = self
        return node.checkInvariantsInPlace()
    }

    /// `checkInvariants()` for a caller that holds the node mutably (the simulator, after every
    /// event): the state is read in place, where the non-mutating form copies the halves and the
    /// connection table first. Changes nothing.
    public mutating func checkInvariantsInPlace() -> [String] {
        var problems: [String] = []
        let tableVersion = discovery.table.structureVersion
        if tableVersion != soundTableVersion {
            problems = discovery.table.checkInvariants()
            soundTableVersion = problems.isEmpty ? tableVersion : nil
        }
        let poolState = PoolCheckState(version: pool.pool.version, links: pool.links.count)
        let peerProblems = pool.checkInvariantsInPlace(&cx, poolKnownSound: soundPool == poolState)
        // Stored only on a change: the simulator checks on a second thread, and a store would take
        // this cache line from the simulating core after every event.
        let soundNow = peerProblems.isEmpty ? poolState : nil
        if soundPool != soundNow { soundPool = soundNow }
        problems += peerProblems
        problems += discovery.checkInvariantsInPlace(&cx)
        problems += signalContractProblems()
        return problems
    }

    /// The signal contract between the halves, between events: each `.dial` is answered by exactly
    /// one `.dialFailed` or `.peerAdded`, and each outbound peer's end by one `.peerRemoved`. So every
    /// dial the dialer waits on is an outbound connection the peer half is opening or handshaking,
    /// and every outbound peer it counts is one in the pool; a lost answer would hold a slot forever.
    /// (The peer half may hold more: tests dial it directly.)
    private mutating func signalContractProblems() -> [String] {
        var waiting = 0
        var counted = 0
        // Read in place (a copy of the dialer would copy its sets and arrays after every event).
        for dial in discovery.dialer.tableDials where dial.retryAt == nil {
            if dial.isConnected { counted += 1 } else { waiting += 1 }
        }
        for manual in discovery.dialer.manualPeers {
            switch manual.state {
            case .dialling: waiting += 1
            case .connected: counted += 1
            case .ready, .waiting: break
            }
        }
        var opening = 0
        var established = 0
        pool.links.forEachFacts { link in
            guard link.direction == .outbound else { return }
            switch link.stage {
            case .connecting, .handshaking: opening += 1
            case .established: established += 1
            }
        }
        var problems: [String] = []
        if waiting > opening { problems.append("dialer waits on \(waiting) dials, peer half opens \(opening)") }
        if counted > established { problems.append("dialer counts \(counted) outbound peers, pool has \(established)") }
        return problems
    }
}

/// The pool's version and number of peer links when the node's invariant check last found the pool
/// sound: while both are unchanged, the pool's own bookkeeping is not checked again.
private struct PoolCheckState: Equatable {
    var version: UInt64
    var links: Int
}
