import Testing

@testable import KaryonsCore

/// A `NodeCore` under test, driven by scripted inputs, with every output it produced.
struct ScriptedNode {
    var node: NodeCore
    private(set) var now: Instant = .zero
    private(set) var outputs: [NodeOutput] = []

    init(id: PeerID = PeerFixtures.small, seed: UInt64 = 7, configure: (inout NodeConfiguration) -> Void = { _ in }) {
        var configuration = NodeConfiguration(protocols: [PeerFixtures.chat])
        configure(&configuration)
        node = NodeCore(id: id, configuration: configuration, seed: seed, now: .zero)
        node.handle(.command(.start), now: .zero)
        drain()
    }

    /// Drains `poll()`; returns the new outputs (also appended to `outputs`).
    @discardableResult
    mutating func drain() -> [NodeOutput] {
        var fresh: [NodeOutput] = []
        while let output = node.poll() { fresh.append(output) }
        outputs += fresh
        return fresh
    }

    /// The monitor events so far.
    var events: [NodeEvent] {
        outputs.compactMap { output in
            if case .event(let event) = output { return event }
            return nil
        }
    }

    /// Every `.deliver` so far, as (protocol, payload).
    var delivered: [(ProtocolID, [UInt8])] {
        outputs.compactMap { output in
            if case .deliver(_, let protocolID, let payload) = output { return (protocolID, payload) }
            return nil
        }
    }

    mutating func handle(_ input: NodeInput) {
        node.handle(input, now: now)
        drain()
    }

    /// Runs every deadline up to `time`, in order.
    mutating func advance(to time: Instant) {
        while let deadline = node.nextDeadline, deadline <= time {
            now = max(now, deadline)
            node.handleTimeout(now: now)
            drain()
        }
        now = max(now, time)
    }

    /// A connection our peer listener accepted from `remote`, with the remote end to script.
    mutating func accept(from remote: Endpoint) -> RemoteEnd {
        let id = node.accept(.peer, from: remote, now: now)
        drain()
        return RemoteEnd(connection: id)
    }

    /// Dials `endpoint` as discovery would, and completes the TCP connect.
    mutating func dial(_ endpoint: Endpoint, expected: PeerID? = nil) -> RemoteEnd? {
        node.testsOnly_dial(endpoint, expected: expected, now: now)
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
        let problems = node.checkInvariants()
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
    }
}

/// Plays the remote end of one connection to a `ScriptedNode`: reads what the node wrote (decoding
/// the bytes with a `FrameDecoder`) and writes encoded frames back.
struct RemoteEnd {
    let connection: ConnectionID
    private var decoder = FrameDecoder()

    init(connection: ConnectionID) { self.connection = connection }

    /// Every message the node wrote on the connection since the last read.
    mutating func read(_ scripted: inout ScriptedNode) -> [PeerMessage] {
        decoder.feed(scripted.node.takeOutgoing(connection))
        var messages: [PeerMessage] = []
        while let message = try? decoder.nextPeerMessage() { messages.append(message) }
        return messages
    }

    /// Plays a dialler with ID `id` offering `protocols`: sends Version, reads the node's answer and
    /// confirms an accepting Verack with every protocol it lists. Returns the node's answer.
    @discardableResult
    mutating func handshake(as id: PeerID, offering protocols: [ProtocolSpec] = [PeerFixtures.chat],
                            to scripted: inout ScriptedNode) -> [PeerMessage] {
        send(PeerFixtures.identity(id, protocols: protocols).versionMessage, to: &scripted)
        let answer = read(&scripted)
        if let confirmation = PeerFixtures.confirmation(by: id, of: answer) { send(confirmation, to: &scripted) }
        return answer
    }

    /// Writes `message` as one frame, delivered in chunks of `chunk` bytes (whole if nil).
    func send(_ message: PeerMessage, to scripted: inout ScriptedNode, chunk: Int? = nil) {
        var writer = ByteWriter()
        try! message.encodeFrame(into: &writer)
        send(bytes: writer.takeBytes(), to: &scripted, chunk: chunk)
    }

    func send(bytes: [UInt8], to scripted: inout ScriptedNode, chunk: Int? = nil) {
        let size = max(1, chunk ?? bytes.count)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            scripted.handle(.received(connection, Array(bytes[start..<end])))
            start = end
        }
    }
}
