import Logging
import KaryonsCore

/// A Karyons node: DHT discovery, a pool of connected peers, the PING keep-alive and your protocols,
/// as an actor that runs on its reactor's thread.
///
/// ```swift
/// let node = try Node(configuration: configuration)      // its own reactor thread
/// try await node.attach(ChatProtocol.self)
/// let events = await node.events                         // subscribe before start: miss nothing
/// try await node.start()
/// ...
/// await node.shutdown()
/// ```
///
/// The actor's executor is the reactor (`unownedExecutor`), so its methods run on the loop thread
/// with no lock, and calls from code already on that reactor do not hop. Many nodes may share one
/// reactor (pass it to `init`); a node created without one gets a reactor and thread of its own,
/// kept until the node is released (a stopped node answers calls, it just does nothing).
/// The engine logs through swift-log at `info` and below.
public actor Node {
    /// The node's identity.
    public nonisolated let id: PeerID
    /// The configuration the node was created with (attached protocols are added at start).
    public nonisolated let configuration: NodeConfiguration
    /// The reactor the node runs on.
    public nonisolated let reactor: Reactor
    /// Events buffered per `events` subscriber before the oldest unread ones are kept and newer dropped.
    public static let eventBufferMax = 65_536

    public nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }

    private enum State { case idle, running, stopped }

    private let ownsReactor: Bool
    private let seed: UInt64
    private let logger: Logger
    private var state = State.idle
    private var attached: [ProtocolID: AttachedProtocol] = [:]
    private var attachOrder: [ProtocolID] = []
    private var driver: NodeDriver?
    private var bridge: DriverBridge?
    private var listenFailure: NodeError?
    private var subscribers: [Int: AsyncStream<NodeEvent>.Continuation] = [:]
    private var nextSubscriber = 0
    private var protocolTasks: [PeerID: [Task<Void, Never>]] = [:]
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    /// Creates a node. With no `reactor`, the node starts one on a thread of its own. `id` defaults to
    /// a random ID and `seed` (every random choice the node makes) to one from the kernel.
    public init(
        id: PeerID? = nil, configuration: NodeConfiguration, reactor: Reactor? = nil, seed: UInt64? = nil,
        logger: Logger = Logger(label: "karyons.node")
    ) throws(NodeError) {
        let seed = seed ?? SystemEntropy.seed()
        var idSource = SplitMix64(seed: seed ^ 0x6B61_7279_6F6E_7321)
        self.id = id ?? PeerID.random(using: &idSource)
        self.configuration = configuration
        self.seed = seed
        self.logger = logger
        if let reactor {
            self.reactor = reactor
            ownsReactor = false
        } else {
            do {
                let reactor = try Reactor()
                try reactor.start()
                self.reactor = reactor
            } catch {
                throw .reactor(error)
            }
            ownsReactor = true
        }
    }

    deinit {
        if ownsReactor { reactor.shutdown() }
    }

    // MARK: Protocols

    /// Runs `type` on every peer connection that negotiates it. Before `start()` only.
    public func attach<P: PeerProtocol>(_ type: P.Type) throws(NodeError) {
        let version = try parseVersion(P.version, of: P.id)
        try register(AttachedProtocol(
            spec: .init(id: P.id, version: version, isMandatory: P.isMandatory),
            kind: .task { peer in P(peer: peer) }))
    }

    /// Runs a reactor-callback protocol: `makeHandler` builds one handler per peer that negotiates
    /// `id`, on the loop thread. Before `start()` only.
    public func attachHandler(
        id: ProtocolID, version: String, isMandatory: Bool = false,
        makeHandler: @escaping @Sendable (PeerHandle) -> any PeerMessageHandler
    ) throws(NodeError) {
        let parsed = try parseVersion(version, of: id)
        try register(AttachedProtocol(spec: .init(id: id, version: parsed, isMandatory: isMandatory),
                                      kind: .handler(makeHandler)))
    }

    // MARK: Life cycle

    /// Opens the listeners and starts discovery and dialing. Throws if a listener cannot be opened
    /// (the node is then stopped).
    public func start() throws(NodeError) {
        guard state == .idle else { throw .invalidState("the node was already started") }
        var configuration = configuration
        configuration.protocols = attachOrder.compactMap { attached[$0]?.spec }
        let core = NodeCore(id: id, configuration: configuration, seed: seed, now: reactor.now)
        let driver = NodeDriver(core: core, reactor: reactor)
        let bridge = DriverBridge(node: self, receiveQueueMessagesMax: configuration.peers.receiveQueueMessagesMax)
        driver.delegate = bridge
        self.driver = driver
        self.bridge = bridge
        state = .running
        logger.info("node \(id.shortDescription) starting", metadata: ["listen": "\(configuration.peerListener.map { "\($0)" } ?? "none")"])
        driver.start()
        if let listenFailure {
            driver.submit(.shutdown)
            throw listenFailure
        }
    }

    /// Starts the node (unless started) and returns once it has stopped.
    public func run() async throws(NodeError) {
        if state == .idle { try start() }
        guard state == .running else { return }
        await withCheckedContinuation { stopWaiters.append($0) }
    }

    /// Closes every connection gracefully (peers receive Shutdown), stops discovery, ends every
    /// protocol instance and event stream, and returns when all protocol tasks have finished.
    public func shutdown() async {
        switch state {
        case .idle: stopped()
        case .running: driver?.submit(.shutdown)
        case .stopped: break
        }
        let tasks = protocolTasks.values.flatMap { $0 }
        protocolTasks.removeAll()
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    // MARK: Queries and commands

    /// The peers in the pool.
    public var peers: [PeerInfo] { driver?.peers ?? [] }

    /// The routing table's entries (a snapshot).
    public var routingTable: RoutingTable? { driver?.routingTable }

    /// The node's counters.
    public var statistics: NodeStatistics? { driver?.statistics }

    /// The bound endpoint of one of the node's listeners.
    public func listeningEndpoint(_ kind: ListenerKind) -> Endpoint? { driver?.listeningEndpoint(kind) }

    /// Every event from now on: connection, pool and discovery. Subscribe before `start()` to see
    /// them all. Each subscriber gets every event (up to `eventBufferMax` unread); the stream ends
    /// when the node stops.
    public var events: AsyncStream<NodeEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: NodeEvent.self, bufferingPolicy: .bufferingOldest(Self.eventBufferMax))
        guard state != .stopped else {
            continuation.finish()
            return stream
        }
        let key = nextSubscriber
        nextSubscriber += 1
        subscribers[key] = continuation
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.unsubscribe(key) }
        }
        return stream
    }

    /// Sends `payload` on `protocolID` to one peer.
    public func send(_ payload: [UInt8], to peer: PeerID, protocolID: ProtocolID) throws(PeerError) {
        guard let driver, state == .running, driver.isConnected(to: peer) else {
            throw .disconnected
        }
        guard 1 + protocolID.encodedSize + payload.count <= configuration.frameSizeMax else {
            throw .payloadTooLarge(payload.count)
        }
        driver.submit(.send(to: peer, protocolID: protocolID, payload: payload))
    }

    /// Sends `payload` on `protocolID` to every peer that negotiated it.
    public func broadcast(_ payload: [UInt8], protocolID: ProtocolID) {
        guard state == .running else { return }
        driver?.submit(.broadcast(protocolID: protocolID, payload: payload))
    }

    /// Closes the connection to a peer.
    public func disconnect(_ peer: PeerID) {
        guard state == .running else { return }
        driver?.submit(.disconnect(peer, reason: .none))
    }

    /// Dials a data endpoint and keeps it connected.
    public func dial(_ endpoint: Endpoint) {
        guard state == .running else { return }
        driver?.submit(.dial(endpoint))
    }

    // MARK: Inboxes (async protocols)

    /// The next message for one protocol instance, or nil once its peer is gone.
    func nextMessage(from peer: PeerID, protocolID: ProtocolID) async -> [UInt8]? {
        let key = InboxKey(peer: peer, protocolID: protocolID)
        guard let inbox = bridge?.inboxes[key] else { return nil }
        if let message = inbox.pop() {
            resumeDeliveryIfDrained(inbox, of: peer)
            return message
        }
        guard !inbox.isFinished else { return nil }
        return await withCheckedContinuation { continuation in
            inbox.waiters.append(continuation)
        }
    }

    private func resumeDeliveryIfDrained(_ inbox: Inbox, of peer: PeerID) {
        guard inbox.isDeliveryPaused, inbox.count <= configuration.peers.receiveQueueMessagesMax / 2 else { return }
        inbox.isDeliveryPaused = false
        driver?.submit(.pauseDelivery(peer, paused: false))
    }

    // MARK: Driver callbacks (loop thread, via DriverBridge)

    fileprivate func peerConnected(_ info: PeerInfo) {
        guard let driver else { return }
        for protocolID in info.protocols {
            guard let attached = attached[protocolID] else { continue }
            let key = InboxKey(peer: info.id, protocolID: protocolID)
            switch attached.kind {
            case .handler(let makeHandler):
                let handle = PeerHandle(info: info, protocolID: protocolID, driver: driver)
                bridge?.handlers[key] = (makeHandler(handle), handle)
            case .task(let makeInstance):
                bridge?.inboxes[key] = Inbox()
                let instance = makeInstance(Peer(info: info, protocolID: protocolID, node: self))
                let logger = logger
                let task = Task(executorPreference: reactor.taskExecutor) { [weak self] in
                    do {
                        try await instance.run()
                    } catch {
                        logger.info("protocol \(protocolID) with \(info.id.shortDescription) failed: \(error)")
                        await self?.disconnect(info.id)
                    }
                }
                protocolTasks[info.id, default: []].append(task)
            }
        }
    }

    fileprivate func peerDisconnected(_ peer: PeerID, reason: PeerRemovalReason) {
        for key in bridge?.inboxes.keys.filter({ $0.peer == peer }) ?? [] { finishInbox(key) }
        for (key, entry) in bridge?.handlers ?? [:] where key.peer == peer {
            bridge?.handlers[key] = nil
            entry.handler.peerDisconnected(entry.handle, reason: reason)
        }
        protocolTasks[peer] = nil
    }

    fileprivate func publish(_ event: NodeEvent) {
        switch event {
        case .peerAdded, .peerRemoved, .listening, .listenFailed: logger.info("\(event)")
        default: logger.debug("\(event)")
        }
        if case .listenFailed(let kind, let endpoint, let reason) = event, listenFailure == nil {
            listenFailure = .listenFailed(kind, endpoint, reason: reason)
        }
        for continuation in subscribers.values { continuation.yield(event) }
    }

    fileprivate func stopped() {
        state = .stopped
        for key in bridge.map({ Array($0.inboxes.keys) }) ?? [] { finishInbox(key) }
        bridge?.handlers.removeAll()
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
        let waiters = stopWaiters
        stopWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
        logger.info("node \(id.shortDescription) stopped")
    }

    // MARK: Helpers

    private func unsubscribe(_ key: Int) { subscribers[key] = nil }

    private func finishInbox(_ key: InboxKey) {
        guard let inbox = bridge?.inboxes.removeValue(forKey: key) else { return }
        inbox.isFinished = true
        for waiter in inbox.waiters { waiter.resume(returning: nil) }
    }

    private func parseVersion(_ text: String, of id: ProtocolID) throws(NodeError) -> ProtocolVersion {
        do {
            return try ProtocolVersion(parsing: text)
        } catch {
            throw .invalidProtocolVersion(id, text)
        }
    }

    private func register(_ protocolToAttach: AttachedProtocol) throws(NodeError) {
        guard state == .idle else { throw .invalidState("protocols must be attached before start()") }
        let id = protocolToAttach.spec.id
        guard attached[id] == nil, id != ProtocolID.ping else { throw .protocolAlreadyAttached(id) }
        attached[id] = protocolToAttach
        attachOrder.append(id)
    }
}

/// An attached protocol: its handshake spec and how to run it on a peer.
private struct AttachedProtocol {
    enum Kind {
        case task(@Sendable (Peer) -> any PeerProtocol)
        case handler(@Sendable (PeerHandle) -> any PeerMessageHandler)
    }
    var spec: NodeConfiguration.ProtocolSpec
    var kind: Kind
}

private struct InboxKey: Hashable {
    var peer: PeerID
    var protocolID: ProtocolID
}

/// One protocol instance's queue of undelivered messages, and its waiting `next()` calls.
///
/// A class, so that delivering a message mutates it in place: a struct taken out of the dictionary
/// and written back would copy its arrays (copy-on-write) on every message.
private final class Inbox {
    private var messages: [[UInt8]] = []
    private var head = 0
    var waiters: [CheckedContinuation<[UInt8]?, Never>] = []
    var isFinished = false
    var isDeliveryPaused = false

    var count: Int { messages.count - head }

    func push(_ message: [UInt8]) { messages.append(message) }

    func pop() -> [UInt8]? {
        guard head < messages.count else { return nil }
        let message = messages[head]
        head += 1
        if head == messages.count {
            messages.removeAll(keepingCapacity: true)
            head = 0
        }
        return message
    }
}

/// Forwards a driver's callbacks (on the loop thread) into the node's isolation, and delivers
/// protocol messages itself.
///
/// Messages go to the reactor-callback protocols' handlers and the async protocols' inboxes
/// without entering the actor (`assumeIsolated` costs two heap allocations per call, and the
/// message path must cost none): both tables live here and the node maintains them in its
/// isolation, which runs on this same loop thread.
private final class DriverBridge: NodeDriverDelegate {
    unowned let node: Node
    let receiveQueueMessagesMax: Int
    /// The reactor-callback protocols' handlers by peer and protocol.
    var handlers: [InboxKey: (handler: any PeerMessageHandler, handle: PeerHandle)] = [:]
    /// The async protocol instances' message queues by peer and protocol.
    var inboxes: [InboxKey: Inbox] = [:]

    init(node: Node, receiveQueueMessagesMax: Int) {
        self.node = node
        self.receiveQueueMessagesMax = receiveQueueMessagesMax
    }

    func nodeDriver(_ driver: NodeDriver, peerConnected peer: PeerInfo) {
        node.assumeIsolated { $0.peerConnected(peer) }
    }

    func nodeDriver(_ driver: NodeDriver, peerDisconnected peer: PeerID, reason: PeerRemovalReason) {
        node.assumeIsolated { $0.peerDisconnected(peer, reason: reason) }
    }

    func nodeDriver(_ driver: NodeDriver, received payload: [UInt8], from peer: PeerID, protocolID: ProtocolID) {
        let key = InboxKey(peer: peer, protocolID: protocolID)
        if let entry = handlers[key] {
            entry.handler.received(payload, from: entry.handle)
            return
        }
        guard let inbox = inboxes[key], !inbox.isFinished else { return }
        if let waiter = inbox.waiters.first {
            inbox.waiters.removeFirst()
            waiter.resume(returning: payload)
            return
        }
        inbox.push(payload)
        guard !inbox.isDeliveryPaused, inbox.count >= receiveQueueMessagesMax else { return }
        inbox.isDeliveryPaused = true
        driver.submit(.pauseDelivery(peer, paused: true))
    }

    func nodeDriver(_ driver: NodeDriver, event: NodeEvent) {
        node.assumeIsolated { $0.publish(event) }
    }

    func nodeDriverDidStop(_ driver: NodeDriver) {
        node.assumeIsolated { $0.stopped() }
    }
}
