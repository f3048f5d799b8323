import Testing

@testable import KaryonsCore

/// A `NodeCore` driven by hand, with its own clock: feed inputs, let time pass, and read what it
/// asked for. Every call drains `poll()` into `outputs`. The discovery tests script lookup
/// connections with `sent(on:)` / `deliver(_:on:)`; the peer tests script a remote end of a peer
/// connection with `RemoteEnd` (from `accept(from:)` or `dial(_:expected:)`).
struct TestNode {
    var core: NodeCore
    private(set) var now: Instant
    /// Outputs drained since the last `takeOutputs()`.
    var outputs: [NodeOutput] = []
    private var decoders: [ConnectionID: FrameDecoder] = [:]

    init(id: PeerID = Fixture.localID, configuration: NodeConfiguration, seed: UInt64 = 1, now: Instant = .zero) {
        core = NodeCore(id: id, configuration: configuration, seed: seed, now: now)
        self.now = now
    }

    /// The discovery half, for assertions on its machines.
    var discovery: DiscoveryCore { core.testsOnly_discovery }
    var table: RoutingTable { core.routingTable }

    mutating func handle(_ input: NodeInput) {
        core.handle(input, now: now)
        drain()
    }

    mutating func start() { handle(.command(.start)) }

    /// Starts the node and confirms its listeners as bound where asked.
    mutating func startListening() {
        start()
        confirmListeners()
    }

    /// Answers every pending `.listen` output with `.listening` at the requested endpoint (and any
    /// `.listen` that answer causes).
    mutating func confirmListeners() {
        var handled = 0
        while let index = outputs.firstIndex(where: { if case .listen = $0 { return true } else { return false } }) {
            guard case .listen(let kind, let endpoint) = outputs.remove(at: index) else { break }
            handle(.listening(kind, endpoint))
            handled += 1
            precondition(handled < 10)
        }
    }

    mutating func accept(_ kind: ListenerKind, from remote: Endpoint) -> ConnectionID {
        let id = core.accept(kind, from: remote, now: now)
        drain()
        return id
    }

    /// Runs every timer due up to `instant`, in order, then sets the clock there.
    mutating func advance(to instant: Instant) {
        precondition(instant >= now)
        var fired = 0
        while let deadline = core.nextDeadline, deadline <= instant {
            now = max(now, deadline)
            core.handleTimeout(now: now)
            drain()
            fired += 1
            precondition(fired < 100_000, "timers keep firing")
        }
        now = instant
    }

    mutating func advance(by duration: Duration) { advance(to: now + duration) }

    /// Drains `poll()`; returns the new outputs (also appended to `outputs`).
    @discardableResult
    mutating func drain() -> [NodeOutput] {
        var fresh: [NodeOutput] = []
        while let output = core.poll() { fresh.append(output) }
        outputs += fresh
        return fresh
    }

    mutating func takeOutputs() -> [NodeOutput] {
        defer { outputs = [] }
        return outputs
    }

    /// The monitor events among `outputs`.
    var events: [NodeEvent] {
        outputs.compactMap { if case .event(let event) = $0 { return event } else { return nil } }
    }

    /// The lookup connections the node asked to open, with their endpoints.
    var lookupConnects: [(id: ConnectionID, endpoint: Endpoint)] {
        outputs.compactMap {
            if case .connect(let id, .lookup, let endpoint, _) = $0 { return (id, endpoint) } else { return nil }
        }
    }

    /// The datagrams the node asked to send.
    var datagrams: [(datagram: RefreshDatagram, to: Endpoint)] {
        outputs.compactMap {
            if case .sendDatagram(let datagram, let endpoint) = $0 { return (datagram, endpoint) } else { return nil }
        }
    }

    /// The connections the node asked to close.
    var closes: [ConnectionID] {
        outputs.compactMap { if case .close(let id) = $0 { return id } else { return nil } }
    }

    /// Everything the node wrote on `id` since the last call, decoded.
    mutating func sent(on id: ConnectionID) -> [LookupMessage] {
        let bytes = core.takeOutgoing(id)
        var decoder = decoders[id] ?? FrameDecoder()
        decoder.feed(bytes)
        var messages: [LookupMessage] = []
        while let message = try? decoder.nextLookupMessage() { messages.append(message) }
        decoders[id] = decoder
        return messages
    }

    /// The remote end writes `messages` on `id`.
    mutating func deliver(_ messages: LookupMessage..., on id: ConnectionID) {
        var writer = ByteWriter()
        for message in messages { message.encodeFrame(into: &writer) }
        handle(.received(id, writer.bytes))
    }

    /// The remote end writes raw bytes on `id`.
    mutating func deliver(bytes: [UInt8], on id: ConnectionID) { handle(.received(id, bytes)) }

    /// Problems found by the node's invariant checks.
    var invariantProblems: [String] { core.checkInvariants() }
}


// The peer tests' view: a started node running CHAT, and remote ends of peer connections.
extension TestNode {
    /// A started node with the peer tests' defaults (ID `small`, CHAT), adjusted by `configure`.
    init(id: PeerID = PeerFixtures.small, seed: UInt64 = 7, configure: (inout NodeConfiguration) -> Void = { _ in }) {
        var configuration = NodeConfiguration(protocols: [PeerFixtures.chat])
        configure(&configuration)
        self.init(id: id, configuration: configuration, seed: seed)
        start()
    }

    /// Every `.deliver` so far, as (protocol, payload).
    var delivered: [(ProtocolID, [UInt8])] {
        outputs.compactMap { output in
            if case .deliver(_, let protocolID, let payload) = output { return (protocolID, payload) }
            return nil
        }
    }

    /// A connection our peer listener accepted from `remote`, with the remote end to script.
    mutating func accept(from remote: Endpoint) -> RemoteEnd {
        RemoteEnd(connection: accept(.peer, from: remote))
    }

    /// Dials `endpoint` as discovery would, and completes the TCP connect.
    mutating func dial(_ endpoint: Endpoint, expected: PeerID? = nil) -> RemoteEnd? {
        core.testsOnly_dial(endpoint, expected: expected, now: now)
        for output in drain() {
            if case .connect(let id, .peer, to: endpoint, timeout: _) = output {
                handle(.connected(id))
                return RemoteEnd(connection: id)
            }
        }
        return nil
    }

    func closed(_ remote: RemoteEnd) -> Bool { outputs.contains(.close(remote.connection)) }

    func expectConsistent(sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = core.checkInvariants()
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
    }
}

/// Plays the remote end of one connection to a `TestNode`: reads what the node wrote (decoding
/// the bytes with a `FrameDecoder`) and writes encoded frames back.
struct RemoteEnd {
    let connection: ConnectionID
    private var decoder = FrameDecoder()

    init(connection: ConnectionID) { self.connection = connection }

    /// Every message the node wrote on the connection since the last read.
    mutating func read(_ scripted: inout TestNode) -> [PeerMessage] {
        decoder.feed(scripted.core.takeOutgoing(connection))
        var messages: [PeerMessage] = []
        while let message = try? decoder.nextPeerMessage() { messages.append(message) }
        return messages
    }

    /// Plays a dialler with ID `id` offering `protocols`: sends Version, reads the node's answer and
    /// confirms an accepting Verack with every protocol it lists. Returns the node's answer.
    @discardableResult
    mutating func handshake(as id: PeerID, offering protocols: [ProtocolSpec] = [PeerFixtures.chat],
                            to scripted: inout TestNode) -> [PeerMessage] {
        send(PeerFixtures.identity(id, protocols: protocols).versionMessage, to: &scripted)
        let answer = read(&scripted)
        if let confirmation = PeerFixtures.confirmation(by: id, of: answer) { send(confirmation, to: &scripted) }
        return answer
    }

    /// Writes `message` as one frame, delivered in chunks of `chunk` bytes (whole if nil).
    func send(_ message: PeerMessage, to scripted: inout TestNode, chunk: Int? = nil) {
        var writer = ByteWriter()
        try! message.encodeFrame(into: &writer)
        send(bytes: writer.takeBytes(), to: &scripted, chunk: chunk)
    }

    func send(bytes: [UInt8], to scripted: inout TestNode, chunk: Int? = nil) {
        let size = max(1, chunk ?? bytes.count)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            scripted.handle(.received(connection, Array(bytes[start..<end])))
            start = end
        }
    }
}
