import KaryonsCore
import KaryonsSimulation

/// What a fake node saw, in order.
enum FakeRecord: Equatable, CustomStringConvertible {
    case started
    case stopping
    case listening(ListenerKind, Endpoint)
    case listenFailed(ListenerKind, String)
    case connected(ConnectionID)
    case connectFailed(ConnectionID, ConnectFailure)
    case accepted(ConnectionID, ListenerKind, from: Endpoint)
    case received(ConnectionID, [UInt8])
    case closed(ConnectionID, CloseCause)
    case sendQueue(ConnectionID, high: Bool)
    case datagram(from: Endpoint, RefreshDatagram)
    case timer

    var description: String {
        switch self {
        case .started: return "started"
        case .stopping: return "stopping"
        case .listening(let kind, let endpoint): return "listening \(kind) \(endpoint)"
        case .listenFailed(let kind, let reason): return "listen failed \(kind) \(reason)"
        case .connected(let id): return "connected \(id)"
        case .connectFailed(let id, let failure): return "connect failed \(id) \(failure)"
        case .accepted(let id, let kind, let remote): return "accepted \(id) \(kind) \(remote)"
        case .received(let id, let bytes): return "received \(id) \(bytes.count)"
        case .closed(let id, let cause): return "closed \(id) \(cause)"
        case .sendQueue(let id, let high): return "send queue \(id) \(high ? "high" : "low")"
        case .datagram(let source, let datagram): return "datagram \(source) \(datagram)"
        case .timer: return "timer"
        }
    }
}

/// A record with the virtual time it was made at.
struct Timed: Equatable {
    var time: Instant
    var record: FakeRecord
}

/// A scripted node for the network's own tests: it logs every input with its time, and the test
/// makes it act (connect, write, close, pause, send datagrams, arm timers) through
/// `VirtualNetwork.interact(with:)`. Optional behaviours: echo received bytes, answer UDP pings,
/// close its connections on shutdown, report an invariant violation from a given time.
struct FakeNode: SimulatedNode {
    struct Options {
        var listens: [(ListenerKind, Endpoint)] = []
        var echoes = false
        var answersPings = false
        var closesConnectionsOnShutdown = true
        var violationFrom: Instant?
        var connectionLimits: ConnectionLimits?
        /// Busy work in each invariant check (loop rounds), to make the checks slower than the steps.
        var checkWork = 0
    }

    private struct Connection {
        var outbox: [UInt8] = []
        var isEstablished: Bool
    }

    let boot: NodeBoot
    var options: Options
    private(set) var log: [Timed] = []
    private var outputs: [NodeOutput] = []
    private var connections = SlotTable<Connection>()
    private var timers: [Instant] = []
    private var now: Instant

    init(boot: NodeBoot, options: Options = Options()) {
        self.boot = boot
        self.options = options
        now = boot.now
    }

    // MARK: Acting (called through `interact`)

    mutating func connect(to endpoint: Endpoint, timeout: Duration = .seconds(5)) -> ConnectionID {
        let id = connections.insert(Connection(isEstablished: false))
        outputs.append(.connect(id, .peer, to: endpoint, timeout: timeout))
        return id
    }

    mutating func write(_ bytes: [UInt8], on id: ConnectionID) {
        let wasEmpty = connections[id]?.outbox.isEmpty ?? false
        connections.modify(id) { $0.outbox += bytes }
        if wasEmpty && !bytes.isEmpty { outputs.append(.transmit(id)) }
    }

    /// Asks the driver to transmit even if nothing is queued or the ID is dead (for violation tests).
    mutating func forceTransmit(_ id: ConnectionID) { outputs.append(.transmit(id)) }

    mutating func close(_ id: ConnectionID) {
        outputs.append(.close(id))
    }

    mutating func pauseReading(_ id: ConnectionID, _ paused: Bool) { outputs.append(.pauseReading(id, paused: paused)) }

    mutating func send(_ datagram: RefreshDatagram, to endpoint: Endpoint) {
        outputs.append(.sendDatagram(datagram, to: endpoint))
    }

    mutating func setTimer(at time: Instant) { timers.append(time) }

    // MARK: Reading the log

    var records: [FakeRecord] { log.map(\.record) }

    /// Every byte received on `id`, in order.
    func bytesReceived(on id: ConnectionID) -> [UInt8] {
        log.flatMap { entry -> [UInt8] in
            if case .received(id, let bytes) = entry.record { return bytes }
            return []
        }
    }

    /// The first time a record matching `predicate` was made.
    func firstTime(where predicate: (FakeRecord) -> Bool) -> Instant? { log.first { predicate($0.record) }?.time }

    /// The IDs of accepted connections, in order.
    var acceptedIDs: [ConnectionID] {
        log.compactMap { entry in
            if case .accepted(let id, _, _) = entry.record { return id }
            return nil
        }
    }

    // MARK: SimulatedNode

    mutating func handle(_ input: NodeInput, now: Instant) {
        self.now = now
        switch input {
        case .connected(let id):
            connections.modify(id) { $0.isEstablished = true }
            record(.connected(id))
        case .connectFailed(let id, let failure):
            connections.remove(id)
            record(.connectFailed(id, failure))
        case .received(let id, let bytes): received(bytes, on: id)
        case .closed(let id, let cause):
            connections.remove(id)
            record(.closed(id, cause))
        case .sendQueue(let id, let high): record(.sendQueue(id, high: high))
        case .datagram(let source, let bytes): datagram(bytes, from: source)
        case .listening(let kind, let endpoint): record(.listening(kind, endpoint))
        case .listenFailed(let kind, _, let reason): record(.listenFailed(kind, reason))
        case .command(let command): run(command)
        }
    }

    mutating func accept(_ listener: ListenerKind, from remote: Endpoint, now: Instant) -> ConnectionID {
        self.now = now
        let id = connections.insert(Connection(isEstablished: true))
        record(.accepted(id, listener, from: remote))
        return id
    }

    mutating func receive(_ bytes: UnsafeRawBufferPointer, on id: ConnectionID, now: Instant) {
        self.now = now
        received(Array(bytes), on: id)
    }

    mutating func receiveDatagram(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Instant) {
        self.now = now
        datagram(Array(bytes), from: source)
    }

    mutating func handleTimeout(now: Instant) {
        self.now = now
        let due = timers.filter { $0 <= now }
        timers.removeAll { $0 <= now }
        for _ in due { record(.timer) }
    }

    mutating func poll() -> NodeOutput? { outputs.isEmpty ? nil : outputs.removeFirst() }

    var nextDeadline: Instant? { timers.min() }

    mutating func withOutgoing<Result>(_ id: ConnectionID, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        guard let connection = connections[id] else { return nil }
        let result = connection.outbox.withUnsafeBytes(body)
        connections.modify(id) { $0.outbox.removeAll() }
        return result
    }

    var connectionLimits: ConnectionLimits? { options.connectionLimits }

    /// How many times the network checked this node's invariants.
    private(set) var checksRun = 0
    /// The result of the checks' busy work, stored so that the optimiser keeps it.
    private var checkWorkResult: UInt64 = 0

    mutating func invariantViolations() -> [String] {
        checksRun += 1
        var work = UInt64(checksRun)
        for round in 0..<options.checkWork { work = work &* 6_364_136_223_846_793_005 &+ UInt64(round) }
        checkWorkResult = work
        guard let from = options.violationFrom, now >= from else { return [] }
        return ["injected violation"]
    }

    func digest(into hasher: inout StableHasher) {
        for entry in log {
            hasher.combine(entry.time)
            hasher.combine(entry.record.description)
        }
    }

    // MARK: Behaviour

    private mutating func record(_ record: FakeRecord) { log.append(Timed(time: now, record: record)) }

    private mutating func run(_ command: NodeCommand) {
        switch command {
        case .start:
            record(.started)
            for (kind, endpoint) in options.listens { outputs.append(.listen(kind, endpoint)) }
        case .shutdown:
            record(.stopping)
            if options.closesConnectionsOnShutdown {
                for id in connections.handles { outputs.append(.close(id)) }
            }
            outputs.append(.stopped)
        case .send, .broadcast, .disconnect, .pauseDelivery, .dial: break
        }
    }

    private mutating func received(_ bytes: [UInt8], on id: ConnectionID) {
        record(.received(id, bytes))
        if options.echoes { write(bytes, on: id) }
    }

    private mutating func datagram(_ bytes: [UInt8], from source: Endpoint) {
        guard let datagram = try? RefreshDatagram(parsing: bytes) else { return }
        record(.datagram(from: source, datagram))
        if options.answersPings, case .ping(let nonce) = datagram { send(.pong(nonce), to: source) }
    }
}

/// A node that makes random traffic from its own seeded RNG: every 50-300 ms it either opens a
/// connection to a random host, writes random bytes and closes, or sends a UDP ping. It echoes what
/// it receives and answers pings. Its digest covers everything it saw, so two runs agree only if
/// the network delivered the same things at the same times.
struct ChattyNode: SimulatedNode {
    private var fake: FakeNode
    private var rng: SplitMix64
    private let hostCount: Int
    private var pendingWrites: [ConnectionID: [UInt8]] = [:]

    static let port: UInt16 = 40_000

    init(boot: NodeBoot, hostCount: Int, seed: UInt64) {
        var options = FakeNode.Options()
        options.listens = [(.peer, .tcp(boot.address, Self.port)), (.refresh, .udp(boot.address, Self.port))]
        options.echoes = true
        options.answersPings = true
        fake = FakeNode(boot: boot, options: options)
        rng = SplitMix64(seed: seed &+ UInt64(boot.host) &* 0x1000 &+ UInt64(boot.incarnation) &* 7 &+ UInt64(boot.identity))
        self.hostCount = hostCount
        fake.setTimer(at: boot.now + rng.duration(in: .milliseconds(50)...Duration.milliseconds(300)))
    }

    var log: [Timed] { fake.log }

    mutating func handle(_ input: NodeInput, now: Instant) {
        fake.handle(input, now: now)
        switch input {
        case .connected(let id):
            if let bytes = pendingWrites.removeValue(forKey: id) {
                fake.write(bytes, on: id)
                fake.close(id)
            }
        case .connectFailed(let id, _): pendingWrites[id] = nil
        case .closed(let id, _): pendingWrites[id] = nil
        default: break
        }
    }

    mutating func accept(_ listener: ListenerKind, from remote: Endpoint, now: Instant) -> ConnectionID {
        fake.accept(listener, from: remote, now: now)
    }

    mutating func receive(_ bytes: UnsafeRawBufferPointer, on id: ConnectionID, now: Instant) {
        fake.receive(bytes, on: id, now: now)
    }

    mutating func receiveDatagram(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Instant) {
        fake.receiveDatagram(bytes, from: source, now: now)
    }

    mutating func handleTimeout(now: Instant) {
        fake.handleTimeout(now: now)
        let target = IPAddress.v4(0x7F00_0001 + UInt32(rng.index(below: hostCount)))
        if rng.chance(0.5) {
            let id = fake.connect(to: .tcp(target, Self.port), timeout: .seconds(2))
            pendingWrites[id] = (0..<(1 + rng.index(below: 64))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        } else {
            fake.send(.ping(Nonce.random(using: &rng)), to: .udp(target, Self.port))
        }
        fake.setTimer(at: now + rng.duration(in: .milliseconds(50)...Duration.milliseconds(300)))
    }

    mutating func poll() -> NodeOutput? { fake.poll() }
    var nextDeadline: Instant? { fake.nextDeadline }

    mutating func withOutgoing<Result>(_ id: ConnectionID, _ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
        fake.withOutgoing(id, body)
    }

    func invariantViolations() -> [String] { [] }
    var connectionLimits: ConnectionLimits? { nil }
    func digest(into hasher: inout StableHasher) { fake.digest(into: &hasher) }
}

/// The address of test host `index`: 127.0.0.1, 127.0.0.2, ...
func testAddress(_ index: Int) -> IPAddress { .v4(0x7F00_0001 + UInt32(index)) }

/// A network of `count` hosts running fake nodes built by `options(host)`, not yet started.
func makeFakeNetwork(
    hosts count: Int, seed: UInt64 = 1, link: LinkConditions = LinkConditions(latency: .milliseconds(10)...Duration.milliseconds(10), jitter: .zero),
    partitions: [Partition] = [], stopsAtFirstViolation: Bool = true, checksConcurrently: Bool = false,
    options: @escaping (Int) -> FakeNode.Options = { _ in FakeNode.Options() }
) -> VirtualNetwork<FakeNode> {
    let configuration = NetworkConfiguration(
        seed: seed, link: link, partitions: partitions, checksConcurrently: checksConcurrently,
        stopsAtFirstViolation: stopsAtFirstViolation)
    let network = VirtualNetwork<FakeNode>(configuration: configuration) { boot in
        FakeNode(boot: boot, options: options(boot.host))
    }
    for index in 0..<count { network.addHost(address: testAddress(index)) }
    return network
}

/// Options of a fake node listening for peer connections on port 30000 and UDP on 30010.
func listeningOptions(_ host: Int, echoes: Bool = false) -> FakeNode.Options {
    var options = FakeNode.Options()
    options.listens = [(.peer, .tcp(testAddress(host), 30_000)), (.refresh, .udp(testAddress(host), 30_010))]
    options.echoes = echoes
    options.answersPings = true
    return options
}

extension Instant {
    /// `milliseconds` after the origin, for readable expectations.
    static func ms(_ milliseconds: UInt64) -> Instant { Instant(nanoseconds: milliseconds * 1_000_000) }

    /// `seconds` after the origin.
    static func seconds(_ seconds: UInt64) -> Instant { Instant(nanoseconds: seconds * 1_000_000_000) }
}

/// Two running fake nodes; host 1 reports an invariant violation after every step from 400 ms on,
/// and has timers every 100 ms up to 900 ms to step it.
func makeFaultyPair(checksConcurrently: Bool) -> VirtualNetwork<FakeNode> {
    var faulty = FakeNode.Options()
    faulty.violationFrom = .ms(400)
    let network = makeFakeNetwork(hosts: 2, checksConcurrently: checksConcurrently) { $0 == 1 ? faulty : FakeNode.Options() }
    network.start(0, at: .zero)
    network.start(1, at: .zero)
    network.run(until: .ms(1))
    network.interact(with: 1) { node in for step in 1...9 { node.setTimer(at: .ms(UInt64(step) * 100)) } }
    return network
}
