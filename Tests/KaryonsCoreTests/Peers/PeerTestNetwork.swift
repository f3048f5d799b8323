import Testing

@testable import KaryonsCore

/// A small deterministic network of `NodeCore`s for tests: one virtual clock, zero-latency in-order
/// TCP streams, UDP datagrams, and drivers modelled just enough to exercise backpressure. It carries
/// out every node output (connect, transmit, close, pause reading, datagrams) by feeding the other
/// node the matching input, and checks every node's invariants after every step.
///
/// Faults: a *deaf* node never reads its sockets (bytes sent to it pile up in the sender's driver
/// queue, which reports its high watermark); a *frozen* node does nothing at all (no reads, no timers).
/// With `schedulerSeed`, the order in which nodes' outputs are carried out is drawn from a seeded RNG,
/// which explores interleavings while staying reproducible.
struct PeerTestNetwork {
    struct End: Hashable {
        var node: Int
        var connection: ConnectionID
    }

    private enum Chunk {
        case bytes([UInt8])
        case closed
    }

    var nodes: [NodeCore]
    private(set) var now: Instant = .zero
    /// Every output of each node, in order.
    private(set) var log: [[NodeOutput]]
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

    private let addresses: [IPAddress]
    private var pending: [[NodeOutput]]
    private var listeners: [Endpoint: (node: Int, kind: ListenerKind)] = [:]
    private var links: [End: End] = [:]
    private var inbox: [End: [Chunk]] = [:]
    private var readPaused: Set<End> = []
    private var reportedHigh: Set<End> = []
    private var nextPort: UInt16 = 50_000
    private var scheduler: SplitMix64?

    /// Nodes with the given IDs and configurations, started; node `i` lives at 127.0.0.(i+1), and the
    /// listeners they ask for on start are open when this returns.
    init(_ members: [(id: PeerID, configuration: NodeConfiguration)], schedulerSeed: UInt64? = nil) {
        nodes = members.enumerated().map { index, member in
            NodeCore(id: member.id, configuration: member.configuration, seed: UInt64(index) &+ 0x5EED, now: .zero)
        }
        addresses = members.indices.map { IPAddress.v4(0x7F00_0001 + UInt32($0)) }
        log = Array(repeating: [], count: members.count)
        pending = Array(repeating: [], count: members.count)
        scheduler = schedulerSeed.map { SplitMix64(seed: $0) }
        for index in nodes.indices { input(index, .command(.start)) }
        pump()
    }

    /// The standard test configuration: a peer listener at 127.0.0.(index+1):7000 and `protocols`.
    static func configuration(index: Int, protocols: [ProtocolSpec] = [PeerFixtures.chat]) -> NodeConfiguration {
        NodeConfiguration(peerListener: .tcp(.v4(0x7F00_0001 + UInt32(index)), 7000), protocols: protocols)
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

    /// Runs timers and traffic until `time`.
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

    /// Node `index`'s monitor events.
    func events(_ index: Int) -> [NodeEvent] {
        log[index].compactMap { output in
            if case .event(let event) = output { return event }
            return nil
        }
    }

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
            pending[index].append(output)
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
            listeners[endpoint] = (index, kind)
            input(index, .listening(kind, endpoint))
        case .connect(let id, let plane, let endpoint, _):
            connect(End(node: index, connection: id), plane, to: endpoint)
        case .transmit(let id):
            let end = End(node: index, connection: id)
            route(nodes[index].takeOutgoing(id), from: end)
        case .close(let id):
            let end = End(node: index, connection: id)
            route(nodes[index].takeOutgoing(id), from: end)
            if let remote = links.removeValue(forKey: end) {
                links[remote] = nil
                deliver(.closed, to: remote)
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
        nextPort &+= 1
        let source = Endpoint.tcp(addresses[end.node], nextPort)
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
            case .closed: input(receiver.node, .closed(receiver.connection, .closedByPeer))
            }
        }
    }

    private mutating func sendDatagram(_ datagram: RefreshDatagram, from index: Int, to destination: Endpoint) {
        guard let listener = listeners[destination], listener.kind == .refresh, !frozen.contains(listener.node) else {
            return
        }
        var writer = ByteWriter()
        datagram.encode(into: &writer)
        let source =
            listeners.first { $0.value.node == index && $0.value.kind == .refresh }?.key
            ?? .udp(addresses[index], 0)
        input(listener.node, .datagram(from: source, writer.takeBytes()))
    }

    private func earliestDeadline() -> (Int, Instant)? {
        var earliest: (Int, Instant)?
        for index in nodes.indices where !frozen.contains(index) {
            var node = nodes[index]
            guard let deadline = node.nextDeadline else { continue }
            if earliest == nil || deadline < earliest!.1 { earliest = (index, deadline) }
        }
        return earliest
    }

    private mutating func checkInvariants(after output: NodeOutput, of index: Int) {
        for node in nodes.indices {
            for problem in nodes[node].checkInvariants() {
                problems.append("node \(node) after \(output) of node \(index) at \(now): \(problem)")
            }
        }
    }
}
