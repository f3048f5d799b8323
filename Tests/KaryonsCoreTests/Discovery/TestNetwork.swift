@testable import KaryonsCore

/// A small deterministic network of `NodeCore`s for tests: every node's outputs become other
/// nodes' inputs after `latency`, on one virtual clock. TCP listeners and connections, UDP
/// datagrams and port 0 binds are emulated; all nodes live on 127.0.0.1. The peer half is not
/// exercised here beyond what `NodeCore` does with it (peer-plane connects are refused like a
/// closed port would refuse them).
///
/// Scheduling is fully ordered (time, then insertion), so a run is a pure function of the nodes'
/// seeds. After every step the harness checks every node's invariants and records problems.
struct TestNetwork {
    /// A scheduled delivery.
    private enum Delivery {
        case input(node: Int, NodeInput)
        /// A connect reaches a listener: accept it and tell the dialler.
        case accept(node: Int, ListenerKind, from: Endpoint, dialler: Int, id: ConnectionID)
    }

    private struct Scheduled {
        var time: Instant
        var sequence: UInt64
        var delivery: Delivery
    }

    private struct ConnectionEnd: Hashable {
        var node: Int
        var id: ConnectionID
    }

    private struct Listener: Hashable {
        var transport: Endpoint.Transport
        var port: UInt16
    }

    private(set) var nodes: [NodeCore] = []
    private(set) var now = Instant.zero
    let latency: Duration
    /// Monitor events per node, in order.
    private(set) var events: [[NodeEvent]] = []
    /// Invariant violations seen, with the time and node.
    private(set) var problems: [String] = []
    /// Every `.connect` each node asked for (plane, endpoint).
    private(set) var connectCounts: [Int] = []

    private var queue: [Scheduled] = []
    private var sequence: UInt64 = 0
    private var listeners: [Listener: (node: Int, kind: ListenerKind)] = [:]
    private var refreshSources: [Int: Endpoint] = [:]
    private var links: [ConnectionEnd: ConnectionEnd] = [:]
    private var cancelledConnects: Set<ConnectionEnd> = []
    private var nextEphemeralPort: UInt16 = 50000

    init(latency: Duration = .milliseconds(5)) {
        self.latency = latency
    }

    /// Adds a node and returns its index.
    mutating func add(id: PeerID, configuration: NodeConfiguration, seed: UInt64) -> Int {
        nodes.append(NodeCore(id: id, configuration: configuration, seed: seed, now: now))
        events.append([])
        connectCounts.append(0)
        return nodes.count - 1
    }

    /// Starts node `index` now.
    mutating func start(_ index: Int) {
        nodes[index].handle(.command(.start), now: now)
        pump(index)
    }

    /// Runs every delivery and timer up to `end`, then sets the clock there.
    mutating func run(until end: Instant) {
        while true {
            let nextDelivery = queue.first?.time
            var timerNode: Int?
            var timerDeadline: Instant?
            for index in nodes.indices {
                if let deadline = nodes[index].nextDeadline, timerDeadline.map({ deadline < $0 }) ?? true {
                    timerDeadline = deadline
                    timerNode = index
                }
            }
            if let delivery = nextDelivery, delivery <= end, timerDeadline.map({ delivery <= $0 }) ?? true {
                now = max(now, delivery)
                let scheduled = queue.removeFirst()
                perform(scheduled.delivery)
            } else if let deadline = timerDeadline, deadline <= end, let index = timerNode {
                now = max(now, deadline)
                nodes[index].handleTimeout(now: now)
                pump(index)
            } else {
                break
            }
        }
        now = max(now, end)
    }

    // MARK: Delivery

    private mutating func perform(_ delivery: Delivery) {
        switch delivery {
        case .input(let index, let input):
            nodes[index].handle(input, now: now)
            pump(index)
        case .accept(let index, let kind, let source, let dialler, let dialledID):
            let dialEnd = ConnectionEnd(node: dialler, id: dialledID)
            guard cancelledConnects.remove(dialEnd) == nil else { return }
            let id = nodes[index].accept(kind, from: source, now: now)
            let acceptEnd = ConnectionEnd(node: index, id: id)
            links[dialEnd] = acceptEnd
            links[acceptEnd] = dialEnd
            pump(index)
            schedule(.input(node: dialler, .connected(dialledID)))
        }
    }

    private mutating func schedule(_ delivery: Delivery, after delay: Duration? = nil) {
        let item = Scheduled(time: now + (delay ?? latency), sequence: sequence, delivery: delivery)
        sequence += 1
        // Insert keeping (time, sequence) order; the queue stays short.
        let index = queue.firstIndex { ($0.time, $0.sequence) > (item.time, item.sequence) } ?? queue.count
        queue.insert(item, at: index)
    }

    /// Carries out everything node `index` asked for.
    private mutating func pump(_ index: Int) {
        while let output = nodes[index].poll() { execute(output, of: index) }
        let found = nodes[index].checkInvariants()
        if !found.isEmpty { problems.append("node \(index) at \(now): \(found)") }
    }

    private mutating func execute(_ output: NodeOutput, of index: Int) {
        switch output {
        case .listen(let kind, let endpoint):
            let port = endpoint.port != 0 ? endpoint.port : ephemeralPort()
            let bound = Endpoint(endpoint.transport, address: .loopbackV4, port: port)
            listeners[Listener(transport: endpoint.transport, port: port)] = (index, kind)
            if kind == .refresh { refreshSources[index] = bound }
            schedule(.input(node: index, .listening(kind, bound)), after: .zero)
        case .connect(let id, let plane, let endpoint, _):
            connectCounts[index] += 1
            let kind: ListenerKind = plane == .lookup ? .lookup : .peer
            guard let target = listeners[Listener(transport: .tcp, port: endpoint.port)], target.kind == kind else {
                schedule(.input(node: index, .connectFailed(id, .refused)))
                return
            }
            let source = Endpoint.tcp(.loopbackV4, ephemeralPort())
            schedule(.accept(node: target.node, kind, from: source, dialler: index, id: id))
        case .transmit(let id):
            forward(nodes[index].takeOutgoing(id), from: ConnectionEnd(node: index, id: id))
        case .close(let id):
            let end = ConnectionEnd(node: index, id: id)
            forward(nodes[index].takeOutgoing(id), from: end)
            if let remote = links.removeValue(forKey: end) {
                links[remote] = nil
                schedule(.input(node: remote.node, .closed(remote.id, .closedByPeer)))
            } else {
                cancelledConnects.insert(end)  // Still connecting: the accept must not happen.
            }
        case .sendDatagram(let datagram, let endpoint):
            guard let target = listeners[Listener(transport: .udp, port: endpoint.port)] else { return }
            var writer = ByteWriter()
            datagram.encode(into: &writer)
            schedule(.input(node: target.node, .datagram(from: refreshSource(of: index), writer.bytes)))
        case .event(let event):
            events[index].append(event)
        case .pauseReading, .peerConnected, .peerDisconnected, .deliver, .stopped:
            break
        }
    }

    private mutating func forward(_ bytes: [UInt8], from end: ConnectionEnd) {
        guard !bytes.isEmpty, let remote = links[end] else { return }
        schedule(.input(node: remote.node, .received(remote.id, bytes)))
    }

    private mutating func refreshSource(of index: Int) -> Endpoint {
        if let source = refreshSources[index] { return source }
        let source = Endpoint.udp(.loopbackV4, ephemeralPort())
        refreshSources[index] = source
        listeners[Listener(transport: .udp, port: source.port)] = (index, .refresh)
        return source
    }

    private mutating func ephemeralPort() -> UInt16 {
        defer { nextEphemeralPort = nextEphemeralPort == 65000 ? 50000 : nextEphemeralPort + 1 }
        return nextEphemeralPort
    }
}
