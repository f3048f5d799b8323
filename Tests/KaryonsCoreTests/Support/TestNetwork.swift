import Testing

@testable import KaryonsCore

/// A small deterministic network of whole `NodeCore`s for tests, used by the discovery and the peer
/// tests alike: one virtual clock, zero-latency in-order TCP streams, UDP datagrams, listeners (port 0
/// binds an ephemeral port; a listener is also reachable at its node's own address, 127.0.0.(i+1)),
/// and drivers modelled just enough to exercise backpressure. It carries
/// out every node output by feeding the other node the matching input, and checks every node's
/// invariants after every step.
///
/// Faults: a *deaf* node never reads its sockets (bytes sent to it pile up in the sender's driver
/// queue, which reports its high watermark); a *frozen* node does nothing at all (no reads, no timers,
/// connects to it and datagrams for it are lost); `crash(_:)` freezes a node and resets every
/// connection it had. With `schedulerSeed`, the order in which nodes' outputs are carried out is drawn
/// from a seeded RNG, which explores interleavings while staying reproducible; without it a run is a
/// pure function of the nodes' seeds.
struct TestNetwork {
    struct End: Hashable {
        var node: Int
        var connection: ConnectionID
    }

    private enum Chunk {
        case bytes([UInt8])
        case closed(CloseCause)
    }

    var nodes: [NodeCore] = []
    private(set) var now: Instant = .zero
    /// Every output of each node, in order.
    private(set) var log: [[NodeOutput]] = []
    /// Bytes each sending end has queued toward a receiver that does not read, and the most ever.
    private(set) var driverQueued: [End: Int] = [:]
    private(set) var driverQueuedMax = 0
    /// Node indices that never read / do nothing.
    var deaf: Set<Int> = []
    var frozen: Set<Int> = []
    /// The driver send-queue level above which `.sendQueue(high)` is reported.
    var highWatermark = 256 * 1024
    /// Invariant problems seen so far (with the step that produced them).
    private(set) var problems: [String] = []

    private var addresses: [IPAddress] = []
    private var pending: [[NodeOutput]] = []
    private var listeners: [Endpoint: (node: Int, kind: ListenerKind)] = [:]
    private var refreshSources: [Int: Endpoint] = [:]
    private var links: [End: End] = [:]
    private var inbox: [End: [Chunk]] = [:]
    private var readPaused: Set<End> = []
    private var reportedHigh: Set<End> = []
    private var nextPort: UInt16 = 50_000
    private var scheduler: SplitMix64?

    /// An empty network; add nodes with `add` and start them with `start`.
    init(schedulerSeed: UInt64? = nil) {
        scheduler = schedulerSeed.map { SplitMix64(seed: $0) }
    }

    /// Nodes with the given IDs and configurations, started; node `i` lives at 127.0.0.(i+1), and the
    /// listeners they ask for on start are open when this returns.
    init(_ members: [(id: PeerID, configuration: NodeConfiguration)], schedulerSeed: UInt64? = nil) {
        self.init(schedulerSeed: schedulerSeed)
        for (index, member) in members.enumerated() {
            _ = add(id: member.id, configuration: member.configuration, seed: UInt64(index) &+ 0x5EED)
        }
        for index in nodes.indices { start(index) }
    }

    /// The standard peer-test configuration: a peer listener at 127.0.0.(index+1):7000 and `protocols`.
    static func configuration(index: Int, protocols: [ProtocolSpec] = [PeerFixtures.chat]) -> NodeConfiguration {
        NodeConfiguration(peerListener: .tcp(.v4(0x7F00_0001 + UInt32(index)), 7000), protocols: protocols)
    }

    /// Adds a node (not started) living at 127.0.0.(index+1) and returns its index.
    mutating func add(id: PeerID, configuration: NodeConfiguration, seed: UInt64) -> Int {
        nodes.append(NodeCore(id: id, configuration: configuration, seed: seed, now: now))
        addresses.append(.v4(0x7F00_0001 + UInt32(nodes.count - 1)))
        log.append([])
        pending.append([])
        return nodes.count - 1
    }

    /// Starts node `index` now and carries out what follows.
    mutating func start(_ index: Int) {
        input(index, .command(.start))
        pump()
    }

    /// Crashes node `index`: every connection it had is reset, and it never answers again.
    mutating func crash(_ index: Int) {
        frozen.insert(index)
        pending[index] = []
        for (end, remote) in links where end.node == index {
            links[end] = nil
            links[remote] = nil
            deliver(.closed(.reset), to: remote)
        }
        listeners = listeners.filter { $0.value.node != index }
        pump()
    }

    // MARK: Driving

    /// Node `from` dials node `to`'s peer listener, as discovery would (expecting its ID if asked).
    mutating func dial(from: Int, to: Int, expectingID: Bool = true) {
        guard let endpoint = nodes[to].configuration.peerListener else {
            preconditionFailure("node \(to) does not listen")
        }
        nodes[from].testsOnly_dial(endpoint, expected: expectingID ? nodes[to].id : nil, now: now)
        collect(from)
    }

    /// Feeds node `index` an input now.
    mutating func input(_ index: Int, _ input: NodeInput) {
        nodes[index].handle(input, now: now)
        collect(index)
    }

    /// Carries out outputs until none are left.
    mutating func pump() {
        var steps = 0
        while let index = nextNodeWithOutput() {
            steps += 1
            precondition(steps < 1_000_000, "the test network does not settle")
            let output = pending[index].removeFirst()
            perform(output, of: index)
            checkInvariants(after: output, of: index)
        }
    }

    /// Runs timers and traffic until `time`, then sets the clock there.
    mutating func run(until time: Instant) {
        pump()
        while let (index, deadline) = earliestDeadline(), deadline <= time {
            now = max(now, deadline)
            nodes[index].handleTimeout(now: now)
            collect(index)
            pump()
        }
        now = max(now, time)
    }

    /// Runs in `step`s until `condition` holds or `limit` passes; returns when it first held.
    mutating func run(until limit: Instant, step: Duration, checking condition: (TestNetwork) -> Bool) -> Instant? {
        while now < limit {
            if condition(self) { return now }
            run(until: min(limit, now + step))
        }
        return condition(self) ? now : nil
    }

    /// Node `index`'s monitor events.
    func events(_ index: Int) -> [NodeEvent] {
        log[index].compactMap { output in
            if case .event(let event) = output { return event }
            return nil
        }
    }

    /// Every node's monitor events.
    var allEvents: [[NodeEvent]] { nodes.indices.map(events) }

    /// Node `index`'s deliveries, as (from, protocol, payload).
    func delivered(_ index: Int) -> [(PeerID, ProtocolID, [UInt8])] {
        log[index].compactMap { output in
            if case .deliver(let from, let protocolID, let payload) = output { return (from, protocolID, payload) }
            return nil
        }
    }

    /// Open connections between the nodes (each counted once).
    var openConnections: Int { links.count / 2 }

    // MARK: Carrying out outputs

    private mutating func collect(_ index: Int) {
        while let output = nodes[index].poll() {
            log[index].append(output)
            if !frozen.contains(index) { pending[index].append(output) }
        }
    }

    private mutating func nextNodeWithOutput() -> Int? {
        let ready = nodes.indices.filter { !pending[$0].isEmpty && !frozen.contains($0) }
        guard !ready.isEmpty else { return nil }
        guard var rng = scheduler else { return ready[0] }
        defer { scheduler = rng }
        return ready[rng.index(below: ready.count)]
    }

    private mutating func perform(_ output: NodeOutput, of index: Int) {
        switch output {
        case .listen(let kind, let endpoint):
            let bound = Endpoint(endpoint.transport, address: endpoint.address,
                                 port: endpoint.port != 0 ? endpoint.port : ephemeralPort())
            listeners[bound] = (index, kind)
            // Reachable at the node's own address too (the address its connections come from, which
            // is what others record for it).
            let own = Endpoint(endpoint.transport, address: addresses[index], port: bound.port)
            listeners[own] = (index, kind)
            if kind == .refresh { refreshSources[index] = own }  // Datagrams come from the node's address.
            input(index, .listening(kind, bound))
        case .connect(let id, let plane, let endpoint, _):
            connect(End(node: index, connection: id), plane, to: endpoint)
        case .transmit(let id):
            route(nodes[index].takeOutgoing(id), from: End(node: index, connection: id))
        case .close(let id):
            let end = End(node: index, connection: id)
            route(nodes[index].takeOutgoing(id), from: end)
            if let remote = links.removeValue(forKey: end) {
                links[remote] = nil
                deliver(.closed(.closedByPeer), to: remote)
            }
        case .pauseReading(let id, let paused):
            let end = End(node: index, connection: id)
            if paused {
                readPaused.insert(end)
            } else {
                readPaused.remove(end)
                flush(end)
            }
        case .sendDatagram(let datagram, let destination):
            sendDatagram(datagram, from: index, to: destination)
        case .peerConnected, .peerDisconnected, .deliver, .event, .stopped:
            break
        }
    }

    private mutating func connect(_ end: End, _ plane: Plane, to endpoint: Endpoint) {
        let kind: ListenerKind = plane == .peer ? .peer : .lookup
        guard let listener = listeners[endpoint], listener.kind == kind, !frozen.contains(listener.node) else {
            input(end.node, .connectFailed(end.connection, .refused))
            return
        }
        let source = Endpoint.tcp(addresses[end.node], ephemeralPort())
        let accepted = nodes[listener.node].accept(kind, from: source, now: now)
        collect(listener.node)
        let remote = End(node: listener.node, connection: accepted)
        links[end] = remote
        links[remote] = end
        input(end.node, .connected(end.connection))
    }

    private mutating func route(_ bytes: [UInt8], from sender: End) {
        guard !bytes.isEmpty, let receiver = links[sender] else { return }
        let reads = !deaf.contains(receiver.node) && !frozen.contains(receiver.node) && !readPaused.contains(receiver)
        if !reads {
            driverQueued[sender, default: 0] += bytes.count
            driverQueuedMax = max(driverQueuedMax, driverQueued[sender, default: 0])
            if driverQueued[sender, default: 0] > highWatermark && !reportedHigh.contains(sender) {
                reportedHigh.insert(sender)
                input(sender.node, .sendQueue(sender.connection, isAboveHighWatermark: true))
            }
        }
        deliver(.bytes(bytes), to: receiver)
    }

    private mutating func deliver(_ chunk: Chunk, to receiver: End) {
        inbox[receiver, default: []].append(chunk)
        flush(receiver)
    }

    /// Hands a receiver what waits for it, if it reads.
    private mutating func flush(_ receiver: End) {
        guard !deaf.contains(receiver.node), !frozen.contains(receiver.node) else { return }
        while !readPaused.contains(receiver), var chunks = inbox[receiver], !chunks.isEmpty {
            let chunk = chunks.removeFirst()
            inbox[receiver] = chunks.isEmpty ? nil : chunks
            switch chunk {
            case .bytes(let bytes): input(receiver.node, .received(receiver.connection, bytes))
            case .closed(let cause): input(receiver.node, .closed(receiver.connection, cause))
            }
        }
    }

    private mutating func sendDatagram(_ datagram: RefreshDatagram, from index: Int, to destination: Endpoint) {
        guard let listener = listeners[destination], listener.kind == .refresh, !frozen.contains(listener.node) else {
            return
        }
        var writer = ByteWriter()
        datagram.encode(into: &writer)
        input(listener.node, .datagram(from: refreshSource(of: index), writer.takeBytes()))
    }

    /// The node's refresh socket, or an ephemeral one (registered, so answers come back).
    private mutating func refreshSource(of index: Int) -> Endpoint {
        if let source = refreshSources[index] { return source }
        let source = Endpoint.udp(addresses[index], ephemeralPort())
        refreshSources[index] = source
        listeners[source] = (index, .refresh)
        return source
    }

    private mutating func ephemeralPort() -> UInt16 {
        defer { nextPort = nextPort == 65_000 ? 50_000 : nextPort + 1 }
        return nextPort
    }

    private mutating func earliestDeadline() -> (Int, Instant)? {
        var earliest: (Int, Instant)?
        for index in nodes.indices where !frozen.contains(index) {
            guard let deadline = nodes[index].nextDeadline else { continue }
            if earliest == nil || deadline < earliest!.1 { earliest = (index, deadline) }
        }
        return earliest
    }

    /// Checks the node that acted (every node's turn comes whenever it produces an output).
    private mutating func checkInvariants(after output: NodeOutput, of index: Int) {
        for problem in nodes[index].checkInvariants() {
            problems.append("node \(index) after its \(output) at \(now): \(problem)")
        }
    }
}
