import KaryonsCore

/// Settings of a virtual network that stay fixed for a run.
public struct NetworkConfiguration: Hashable, Sendable {
    /// Seeds the network's own random choices (latency per link, loss, partition sides, churn).
    public var seed: UInt64
    /// Latency, loss, duplication and reordering of every link.
    public var link: LinkConditions
    /// Partitions, each healing at its end.
    public var partitions: [Partition]
    /// Random churn (nil: none; explicit churn through `leave`, `crash`, `restart` is always available).
    public var churn: ChurnConfiguration?
    /// Check every node's own invariants after each event it handles (the network's checks, slot
    /// counts included, always run: they cost next to nothing).
    public var checksInvariants: Bool
    /// Run the node checks on a second thread while the network goes on with the next events
    /// (`ConcurrentInvariantChecker`). The run and its violations are the same bit for bit; only a
    /// violation that stops the run (`stopsAtFirstViolation`) stops it later, at the end of the
    /// batch of checks it is found in, or of the `run(until:)` call if that comes first.
    public var checksConcurrently: Bool
    /// Stop `run(until:)` at the first violation (the state stays as it was, for inspection).
    public var stopsAtFirstViolation: Bool
    /// Unread bytes toward a reader above which the writer is told its send queue is high.
    public var sendQueueHighWatermark: Int
    /// Unread bytes below which the writer is told its send queue is low again.
    public var sendQueueLowWatermark: Int
    /// Violations kept at most (the count goes on).
    public var violationsKeptMax: Int

    public init(
        seed: UInt64,
        link: LinkConditions = LinkConditions(),
        partitions: [Partition] = [],
        churn: ChurnConfiguration? = nil,
        checksInvariants: Bool = true,
        checksConcurrently: Bool = false,
        stopsAtFirstViolation: Bool = true,
        sendQueueHighWatermark: Int = 1 << 20,
        sendQueueLowWatermark: Int = 256 << 10,
        violationsKeptMax: Int = 100
    ) {
        self.seed = seed
        self.link = link
        self.partitions = partitions
        self.churn = churn
        self.checksInvariants = checksInvariants
        self.checksConcurrently = checksConcurrently
        self.stopsAtFirstViolation = stopsAtFirstViolation
        self.sendQueueHighWatermark = sendQueueHighWatermark
        self.sendQueueLowWatermark = sendQueueLowWatermark
        self.violationsKeptMax = violationsKeptMax
    }
}

/// Random churn: hosts go down (gracefully or by crashing) and come back after a while, with the
/// same identity or a fresh one.
public struct ChurnConfiguration: Hashable, Sendable {
    /// The share of eligible hosts that go down per virtual minute (0.1: a tenth of them each minute).
    public var rate: Double
    /// The share of departures that are graceful (`.shutdown`); the rest crash (connections reset).
    public var gracefulShare: Double
    /// How long a departed host stays down before it restarts.
    public var downtime: ClosedRange<Duration>
    /// The share of restarts that come back with a fresh identity (the rest keep theirs).
    public var freshIdentityShare: Double
    /// Hosts `0..<protectedHosts` never churn (the seed nodes).
    public var protectedHosts: Int
    /// When churn begins.
    public var start: Instant

    public init(
        rate: Double,
        gracefulShare: Double = 0.5,
        downtime: ClosedRange<Duration> = .seconds(10)...Duration.seconds(60),
        freshIdentityShare: Double = 0.5,
        protectedHosts: Int = 0,
        start: Instant = .zero
    ) {
        self.rate = rate
        self.gracefulShare = gracefulShare
        self.downtime = downtime
        self.freshIdentityShare = freshIdentityShare
        self.protectedHosts = protectedHosts
        self.start = start
    }
}

/// What a node factory is told when the network boots a node on a host.
public struct NodeBoot: Hashable, Sendable {
    /// The host's index.
    public var host: Int
    /// The host's IP address (its listeners bind there).
    public var address: IPAddress
    /// How many times this host has booted before (0 at the first start).
    public var incarnation: Int
    /// Which identity to use: 0 first, plus one for every restart with a fresh identity.
    public var identity: Int
    /// The boot time.
    public var now: Instant
}

/// A deterministic virtual network running many nodes in one process, on one virtual clock.
///
/// Hosts have IPv4 addresses (one node each); nodes open listeners with `.listen`, connect with
/// `.connect`, write with `.transmit`, close with `.close` and send datagrams, exactly as on the
/// reactor. The network models TCP (an ordered, reliable byte stream per direction; connect, refuse
/// when nothing listens, reset, connect timeout, FIN after the last byte, data held during a
/// partition and delivered after it heals) and UDP (datagrams lost, duplicated, reordered, dropped
/// at partitions), with per-link latency (`LinkConditions`), partitions that heal, and churn (start,
/// graceful leave, crash, restart with the same or a fresh identity).
///
/// The scheduler always processes the earliest event, ties in scheduling order. All randomness
/// comes from `NetworkConfiguration.seed`, the nodes' own seeds come from the factory, and nothing
/// iterates a Dictionary, so the same seed and configuration give the same run bit for bit
/// (`digest()`). After every event a node handles, its invariants are checked; network-level
/// violations (bytes written to a closed connection, a node that stops with connections open) are
/// recorded the same way.
///
/// The hot stored properties are `@exclusivity(unchecked)`: the network is single-threaded and
/// never lends one of them while a method it calls reaches it again (nodes are driven through
/// `step`, which touches only the node), and the runtime's per-access bookkeeping cost about 5% of a
/// large run. The compiler's static exclusivity checks still apply.
public final class VirtualNetwork<Node: SimulatedNode> {
    public let configuration: NetworkConfiguration
    let makeNode: (NodeBoot) -> Node
    let links: LinkModel

    /// The virtual time of the event being processed (or of the last `run(until:)` deadline).
    @exclusivity(unchecked) public internal(set) var now = Instant.zero
    /// What the network did so far.
    @exclusivity(unchecked) public internal(set) var counters = NetworkCounters()
    /// What the nodes reported so far.
    @exclusivity(unchecked) public internal(set) var nodeEvents = NodeEventCounts()
    /// Safety violations found (at most `violationsKeptMax`; `violationCount` has them all).
    public var violations: [Violation] {
        collectChecks()
        return recordedViolations
    }
    /// Every violation found.
    public var violationCount: Int {
        collectChecks()
        return recordedViolationCount
    }
    /// The violations recorded so far (concurrent checks not yet collected are not among them).
    var recordedViolations: [Violation] = []
    var recordedViolationCount = 0
    /// Called for every monitor event a node emits (tracing; the network counts them anyway).
    public var onNodeEvent: ((_ host: Int, _ time: Instant, _ event: NodeEvent) -> Void)?
    /// Called just before a node is dropped (crash, or after `.stopped`), e.g. to keep its counters.
    public var onNodeRetiring: ((_ host: Int, _ node: Node) -> Void)?

    @exclusivity(unchecked) var queue = EventQueue<NetworkAction>(capacity: 1024)
    @exclusivity(unchecked) var hosts: [Host] = []
    /// The node running on each host.
    @exclusivity(unchecked) var nodes: [Node?] = []
    /// For each host, the network connection behind each of its node's connection IDs (by ID slot).
    @exclusivity(unchecked) var endBindings: [[EndBinding]] = []
    /// For each host, the keys of its TCP listeners.
    var listenerKeys: [[UInt64]] = []
    var hostByAddress: [UInt32: Int] = [:]
    @exclusivity(unchecked) var connections = ConnectionTable()
    var tcpListeners: [UInt64: TCPListener] = [:]
    var udpSockets: [UInt64: Int] = [:]
    @exclusivity(unchecked) var datagramsInFlight = Slab<DatagramInFlight>()
    @exclusivity(unchecked) var pendingInputs = Slab<PendingInput>()
    @exclusivity(unchecked) var rng: SplitMix64
    @exclusivity(unchecked) var trace = StableHasher()
    /// The bytes of each connection pipe, indexed by connection slot × 2 + pipe.
    @exclusivity(unchecked) var pipeBuffers: [[UInt8]] = []
    @exclusivity(unchecked) var datagramScratch: [UInt8] = []
    /// Runs the node checks on a second thread (`checksConcurrently`).
    let checker: ConcurrentInvariantChecker<Node>?

    /// Creates an empty network; `makeNode` builds the node a host runs each time it boots.
    public init(configuration: NetworkConfiguration, makeNode: @escaping (NodeBoot) -> Node) {
        self.configuration = configuration
        self.makeNode = makeNode
        links = LinkModel(seed: configuration.seed, conditions: configuration.link, partitions: configuration.partitions)
        rng = SplitMix64(seed: mix64(configuration.seed ^ 0x6E65_7477_6F72_6B))
        datagramScratch.reserveCapacity(RefreshDatagram.size)
        if let churn = configuration.churn, churn.rate > 0 { queue.push(.churnTick, at: churn.start) }
        checker = configuration.checksInvariants && configuration.checksConcurrently ? ConcurrentInvariantChecker() : nil
    }

    deinit {
        // The checker's thread holds the checker (and reads the nodes) until it stops.
        checker?.stop()
    }

    // MARK: Hosts

    /// Adds a host with an IPv4 address (no node runs on it until `start`); returns its index.
    @discardableResult
    public func addHost(address: IPAddress) -> Int {
        guard case .v4(let value) = address.unmapped else {
            preconditionFailure("BUG in Karyons: simulated hosts have IPv4 addresses, not \(address)")
        }
        precondition(hostByAddress[value] == nil, "BUG in Karyons: two simulated hosts at \(address)")
        let index = hosts.count
        collectChecks()  // appending may move every node
        hosts.append(Host(address: value))
        nodes.append(nil)
        endBindings.append([])
        listenerKeys.append([])
        hostByAddress[value] = index
        return index
    }

    /// Makes room for `count` hosts in all, so that adding them moves no node (a large network's
    /// nodes are hundreds of megabytes, copied at every growth of the array).
    public func reserveHosts(_ count: Int) {
        collectChecks()  // reserving may move every node
        hosts.reserveCapacity(count)
        nodes.reserveCapacity(count)
        endBindings.reserveCapacity(count)
        listenerKeys.reserveCapacity(count)
    }

    /// The number of hosts.
    public var hostCount: Int { hosts.count }

    /// The host's address.
    public func address(of host: Int) -> IPAddress { .v4(hosts[host].address) }

    /// The host at `address`, if any.
    public func host(at address: IPAddress) -> Int? {
        guard case .v4(let value) = address.unmapped else { return nil }
        return hostByAddress[value]
    }

    /// True while a node runs on the host (including while it shuts down gracefully).
    public func isUp(_ host: Int) -> Bool { hosts[host].isRunning }

    /// The node running on the host (a copy of its state), if any.
    public func node(_ host: Int) -> Node? {
        checker?.awaitChecks(of: host)
        return nodes[host]
    }

    /// Lends the host's running node to `body` in place, for reading (`node(_:)` copies all of its
    /// state); nil while the host is down.
    public func withNode<Result>(_ host: Int, _ body: (Node) -> Result) -> Result? {
        guard hosts[host].isRunning else { return nil }
        return inPlace(host) { body($0) }
    }

    /// When the host's running node booted (nil while it is down).
    public func bootTime(of host: Int) -> Instant? { !hosts[host].isRunning ? nil : hosts[host].bootedAt }

    /// How many times the host has booted.
    public func incarnation(of host: Int) -> Int { Int(hosts[host].incarnation) }

    /// True when a partition separates the two hosts at `time`.
    public func areSeparated(_ a: Int, _ b: Int, at time: Instant) -> Bool { links.isCut(a, b, at: time) }

    /// The one-way base latency of the link between two hosts.
    public func linkLatency(_ a: Int, _ b: Int) -> Duration { latency(a, b) }

    /// The number of TCP connections the network is carrying (either end still open).
    public var connectionCount: Int { connections.count }

    /// Events waiting in the scheduler.
    public var pendingEventCount: Int { queue.count }

    /// True when a violation stopped the run (`stopsAtFirstViolation`).
    public var isHalted: Bool {
        collectChecks()
        return hasHalted
    }

    /// `isHalted` as far as the violations recorded so far tell (what the event loop asks: it
    /// must not wait for the concurrent checks after every event).
    var hasHalted: Bool { configuration.stopsAtFirstViolation && recordedViolationCount > 0 }

    // MARK: Scheduling from outside

    /// Boots the host's node at `time` and sends it `.start`.
    public func start(_ host: Int, at time: Instant) { schedule(.control(host: checked(host), .start), at: time) }

    /// Asks the host's node to shut down gracefully at `time`; it goes down after `.stopped`.
    public func leave(_ host: Int, at time: Instant) { schedule(.control(host: checked(host), .leave), at: time) }

    /// Crashes the host at `time`: its node is dropped and every connection of it is reset.
    public func crash(_ host: Int, at time: Instant) { schedule(.control(host: checked(host), .crash), at: time) }

    /// Boots the host again at `time` (crashing it first if it still runs), with its previous
    /// identity or a fresh one.
    public func restart(_ host: Int, at time: Instant, freshIdentity: Bool) {
        schedule(.control(host: checked(host), freshIdentity ? .restartFresh : .restartSame), at: time)
    }

    /// Feeds `.command(command)` to the host's node at `time` (dropped if the node is down then).
    public func send(_ command: NodeCommand, to host: Int, at time: Instant) {
        let slot = pendingInputs.insert(PendingInput(host: checked(host), incarnation: nil, input: .command(command)))
        schedule(.input(slot), at: time)
    }

    /// Runs `body` on the host's node at the current virtual time, as an application calling into
    /// it would, then carries out the node's outputs. Returns nil (without calling `body`) when no
    /// node runs on the host.
    @discardableResult
    public func interact<Result>(with host: Int, _ body: (inout Node) -> Result) -> Result? {
        guard hosts[host].isRunning else { return nil }
        let result = inPlace(host, body)
        afterStep(host)
        return result
    }

    private func checked(_ host: Int) -> UInt32 {
        precondition(hosts.indices.contains(host), "BUG in Karyons: no simulated host \(host)")
        return UInt32(host)
    }

    func schedule(_ action: NetworkAction, at time: Instant) {
        precondition(time >= now, "BUG in Karyons: an event scheduled in the past (\(time) < \(now))")
        queue.push(action, at: time)
    }

    /// Schedules `input` for the host's current node at `now` (after the events already due now).
    func enqueueInput(_ input: NodeInput, for host: Int) {
        let slot = pendingInputs.insert(PendingInput(host: UInt32(host), incarnation: hosts[host].incarnation, input: input))
        queue.push(.input(slot), at: now)
    }

    // MARK: Running

    /// Processes every event up to and including `deadline`, then sets the clock to `deadline`.
    /// Returns false if it stopped early: after `eventBudget` events (call again to go on), or at a
    /// violation when `stopsAtFirstViolation` is set.
    @discardableResult
    public func run(until deadline: Instant, eventBudget: Int = .max) -> Bool {
        var processed = 0
        while let time = queue.nextTime, time <= deadline {
            if hasHalted || processed >= eventBudget { return false }
            let entry = queue.pop()!
            now = entry.time
            processed += 1
            counters.events += 1
            record(entry.payload)
            dispatch(entry.payload)
        }
        collectChecks()
        if hasHalted { return false }
        if deadline > now { now = deadline }
        return true
    }

    private func record(_ action: NetworkAction) {
        trace.combine(now)
        trace.combine(action.traceWord)
    }

    private func dispatch(_ action: NetworkAction) {
        switch action {
        case .control(let host, let control): performControl(control, on: Int(host))
        case .input(let slot): deliverPendingInput(slot)
        case .timer(let host, let incarnation): timerFired(Int(host), incarnation: incarnation)
        case .synArrives(let connection): synArrived(connection)
        case .synAcknowledged(let connection): synAcknowledged(connection)
        case .synRefused(let connection): synRefused(connection)
        case .connectTimeout(let connection): connectTimedOut(connection)
        case .segment(let connection, let end, let count): segmentArrived(connection, toEnd: Int(end), count: Int(count))
        case .fin(let connection, let end): finArrived(connection, toEnd: Int(end))
        case .reset(let connection, let end): resetArrived(connection, toEnd: Int(end))
        case .resume(let connection, let end): deliverArrivedBytes(connection, toEnd: Int(end))
        case .datagram(let slot): datagramArrived(slot)
        case .churnTick: churnTick()
        }
    }

    private func deliverPendingInput(_ slot: SlotHandle) {
        guard let pending = pendingInputs.remove(slot) else { return }
        let host = Int(pending.host)
        guard hosts[host].isRunning else { return }
        if let incarnation = pending.incarnation, incarnation != hosts[host].incarnation { return }
        let now = self.now
        step(host) { $0.handle(pending.input, now: now) }
    }

    private func timerFired(_ host: Int, incarnation: UInt32) {
        guard hosts[host].isRunning, hosts[host].incarnation == incarnation, hosts[host].timerAt == now else { return }
        hosts[host].timerAt = nil
        // The deadline moved since the timer was set (a keep-alive deferred): set it again without
        // touching the node, whose deadline is the one its last step left (`nodeDeadline`).
        guard let deadline = hosts[host].nodeDeadline else { return }
        if deadline > now {
            armTimer(host, at: deadline)
            return
        }
        let now = self.now
        step(host) { $0.handleTimeout(now: now) }
    }

    // MARK: Driving a node

    /// Feeds one input to the host's node through `body`, then carries out its outputs, re-arms its
    /// timer and checks its invariants.
    func step(_ host: Int, _ body: (inout Node) -> Void) {
        guard hosts[host].isRunning else { return }
        inPlace(host, body)
        afterStep(host)
    }

    /// The contract's second and third steps for a node that just handled an input.
    func afterStep(_ host: Int) {
        drainOutputs(host)
        guard hosts[host].isRunning else { return }
        rescheduleTimer(host)
        if let checker {
            checker.submit(nodePointer(host), host: host, time: now, collect: appendViolations)
        } else if configuration.checksInvariants {
            // In place: reading `nodes[host]!` from this class's array would copy the whole node.
            let problems = inPlace(host) { $0.invariantViolations() }
            for problem in problems { recordViolation(problem, host: host) }
        }
        checkSlots(host)
    }

    /// Runs `body` on the host's running node in place (no copy of the node).
    ///
    /// `&nodes[host]!` would first ask the Optional for its tag, an outlined call that reads
    /// wherever the node keeps its spare bits, often a cache line the event never needs. A running
    /// host's Optional holds a node whose payload sits at the start of the Optional (Swift's
    /// single-payload enum layout; `NetworkLifecycleTests` holds it to `node(_:)`), so it is lent
    /// from there; `Host.isRunning` says the payload is present.
    @inline(__always)
    func inPlace<Result>(_ host: Int, _ body: (inout Node) -> Result) -> Result {
        precondition(hosts[host].isRunning, "BUG in Karyons: host \(host) has no running node")
        checker?.awaitChecks(of: host)
        return body(&nodePointer(host).pointee)
    }

    /// Where the host's running node lives in `nodes` (see `inPlace` for the layout it relies on).
    ///
    /// The address outlives the call because nothing moves the array's storage meanwhile: `nodes`
    /// is never copied (so it stays uniquely referenced and is mutated in place), and it grows only
    /// in `addHost` and `reserveHosts`, which first wait for the concurrent checks, the one holder of
    /// such addresses.
    @inline(__always)
    private func nodePointer(_ host: Int) -> UnsafeMutablePointer<Node> {
        nodes.withUnsafeMutableBufferPointer { buffer in
            UnsafeMutableRawPointer(buffer.baseAddress! + host).assumingMemoryBound(to: Node.self)
        }
    }

    private func drainOutputs(_ host: Int) {
        var drained = 0
        while hosts[host].isRunning, let output = inPlace(host, { $0.poll() }) {
            drained += 1
            precondition(drained <= 10_000_000, "BUG in Karyons: host \(host) keeps producing outputs")
            perform(output, from: host)
        }
    }

    private func rescheduleTimer(_ host: Int) {
        let deadline = inPlace(host, { $0.nextDeadline })
        hosts[host].nodeDeadline = deadline
        guard let deadline else { return }
        armTimer(host, at: deadline)
    }

    /// Schedules the host's timer event at `deadline` (or now, if it passed) unless one comes earlier.
    private func armTimer(_ host: Int, at deadline: Instant) {
        let time = max(deadline, now)
        if let scheduled = hosts[host].timerAt, scheduled <= time { return }
        hosts[host].timerAt = time
        queue.push(.timer(host: UInt32(host), incarnation: hosts[host].incarnation), at: time)
    }

    private func perform(_ output: NodeOutput, from host: Int) {
        switch output {
        case .listen(let kind, let endpoint): listen(host, kind, at: endpoint)
        case .connect(let id, let plane, let endpoint, let timeout): connect(host, id, plane, to: endpoint, timeout: timeout)
        case .transmit(let id): transmit(host, id)
        case .close(let id): close(host, id)
        case .pauseReading(let id, let paused): pauseReading(host, id, paused: paused)
        case .sendDatagram(let datagram, let endpoint): sendDatagram(host, datagram, to: endpoint)
        case .peerConnected: nodeEvents.count(.peerConnectedOutput)
        case .peerDisconnected: nodeEvents.count(.peerDisconnectedOutput)
        case .deliver: nodeEvents.count(.deliverOutput)
        case .event(let event):
            nodeEvents.count(NodeEventCounts.kind(of: event))
            onNodeEvent?(host, now, event)
        case .stopped:
            nodeEvents.count(.stoppedOutput)
            nodeStopped(host)
        }
    }

    /// The network's own count of the node's live connections against the limits it declares.
    private func checkSlots(_ host: Int) {
        guard let limits = hosts[host].connectionLimits else { return }
        let counts = hosts[host].openConnections
        guard counts.count(.lookup, .inbound) > limits.lookupInbound
            || counts.count(.lookup, .outbound) > limits.lookupOutbound
            || counts.count(.peer, .inbound) > limits.peerInbound
            || counts.count(.peer, .outbound) > limits.peerOutbound
        else { return }
        for plane in [Plane.lookup, .peer] {
            for direction in [Direction.inbound, .outbound] {
                let count = counts.count(plane, direction)
                let limit = limits.limit(plane, direction)
                if count > limit {
                    recordViolation("\(count) \(direction) \(plane) connections open, more than the \(limit) slots", host: host)
                }
            }
        }
    }

    /// The live connection ends of the host's node, by plane and direction (connecting or open).
    public func openConnectionCount(_ host: Int, _ plane: Plane, _ direction: Direction) -> Int {
        hosts[host].openConnections.count(plane, direction)
    }

    func recordViolation(_ message: String, host: Int?) {
        // The checks submitted before this violation come first, as they would inline.
        collectChecks()
        appendViolation(message, time: now, host: host)
    }

    /// Waits for the concurrent checks submitted so far and records what they found.
    func collectChecks() {
        checker?.drain(collect: appendViolations)
    }

    private func appendViolations(time: Instant, host: Int, problems: [String]) {
        for problem in problems { appendViolation(problem, time: time, host: host) }
    }

    private func appendViolation(_ message: String, time: Instant, host: Int?) {
        recordedViolationCount += 1
        if recordedViolations.count < configuration.violationsKeptMax {
            recordedViolations.append(Violation(time: time, host: host, message: message))
        }
    }

    // MARK: Digest

    /// A digest of the whole run so far: every event processed (time and kind), the network's
    /// counters, and the state of every running node, host by host.
    public func digest() -> UInt64 {
        collectChecks()
        var hasher = trace
        counters.digest(into: &hasher)
        for count in nodeEvents.counts { hasher.combine(count) }
        for index in hosts.indices {
            hasher.combine(UInt64(hosts[index].incarnation))
            if let node = nodes[index] {
                hasher.combine(byte: 1)
                node.digest(into: &hasher)
            } else {
                hasher.combine(byte: 0)
            }
        }
        return hasher.value
    }
}

// MARK: - Internal types

/// One scheduled event; small and reference-free (payloads live in side tables).
enum NetworkAction {
    case control(host: UInt32, ControlAction)
    case input(SlotHandle)
    case timer(host: UInt32, incarnation: UInt32)
    case synArrives(SlotHandle)
    case synAcknowledged(SlotHandle)
    case synRefused(SlotHandle)
    case connectTimeout(SlotHandle)
    case segment(SlotHandle, toEnd: UInt8, count: UInt32)
    case fin(SlotHandle, toEnd: UInt8)
    case reset(SlotHandle, toEnd: UInt8)
    case resume(SlotHandle, toEnd: UInt8)
    case datagram(SlotHandle)
    case churnTick

    /// A word identifying the event for the run's trace digest.
    var traceWord: UInt64 {
        switch self {
        case .control(let host, let control): return 1 << 56 | UInt64(control.rawValue) << 32 | UInt64(host)
        case .input(let slot): return 2 << 56 | slot.rawValue & 0xFF_FFFF_FFFF
        case .timer(let host, _): return 3 << 56 | UInt64(host)
        case .synArrives(let connection): return 4 << 56 | UInt64(connection.slot)
        case .synAcknowledged(let connection): return 5 << 56 | UInt64(connection.slot)
        case .synRefused(let connection): return 6 << 56 | UInt64(connection.slot)
        case .connectTimeout(let connection): return 7 << 56 | UInt64(connection.slot)
        case .segment(let connection, let end, let count):
            return 8 << 56 | UInt64(end) << 55 | UInt64(count) << 24 | UInt64(connection.slot & 0xFF_FFFF)
        case .fin(let connection, let end): return 9 << 56 | UInt64(end) << 32 | UInt64(connection.slot)
        case .reset(let connection, let end): return 10 << 56 | UInt64(end) << 32 | UInt64(connection.slot)
        case .resume(let connection, let end): return 11 << 56 | UInt64(end) << 32 | UInt64(connection.slot)
        case .datagram(let slot): return 12 << 56 | UInt64(slot.slot)
        case .churnTick: return 13 << 56
        }
    }
}

/// Lifecycle operations scheduled on a host.
enum ControlAction: UInt8 {
    case start, leave, crash, restartSame, restartFresh
}

/// An input waiting in the queue for a node (answers to `.listen`, commands, send-queue reports).
struct PendingInput {
    var host: UInt32
    /// The incarnation it was meant for; nil for commands scheduled from outside (any incarnation).
    var incarnation: UInt32?
    var input: NodeInput
}

/// One host of the network (plain data; the node, its connection bindings and its listeners are
/// kept in arrays of their own, so reading a host never copies a node).
struct Host {
    let address: UInt32
    /// True while a node runs (checking `nodes[host] != nil` would copy the node).
    var isRunning = false
    /// Bumped when the node goes down, so late events for the old node are dropped.
    var incarnation: UInt32 = 0
    /// 0 first; bumped by every restart with a fresh identity.
    var identity: UInt32 = 0
    var bootedAt = Instant.zero
    var isStopping = false
    /// The time of the timer event in the queue that is still valid, if any.
    var timerAt: Instant?
    /// The node's next deadline as its last step left it. A node's deadline changes only in a
    /// step, and every step ends in `afterStep`, which records it here.
    var nodeDeadline: Instant?
    var nextEphemeralPort: UInt16 = EphemeralPorts.range.lowerBound
    var udpPort: UInt16?
    /// Live (connecting or open) connection ends of the node, by plane and direction.
    var openConnections = ConnectionCounts()
    /// The running node's `connectionLimits`, read once at boot (they are fixed for its life).
    var connectionLimits: ConnectionLimits?

    init(address: UInt32) { self.address = address }
}

/// Live connection ends of a host by plane and direction (index with `index(_:_:)`).
struct ConnectionCounts {
    private var counts: InlineArray<4, Int32> = [0, 0, 0, 0]

    static func index(_ plane: Plane, _ direction: Direction) -> Int {
        (plane == .lookup ? 0 : 2) + (direction == .inbound ? 0 : 1)
    }

    subscript(index: Int) -> Int32 {
        get { counts[index] }
        set { counts[index] = newValue }
    }

    /// The count of one kind.
    func count(_ plane: Plane, _ direction: Direction) -> Int { Int(counts[Self.index(plane, direction)]) }
}

/// The ephemeral port range hosts allocate local ports from (Linux's default).
enum EphemeralPorts {
    static let range: ClosedRange<UInt16> = 32768...60999
}
