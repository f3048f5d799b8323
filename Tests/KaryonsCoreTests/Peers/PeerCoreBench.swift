import Testing

@testable import KaryonsCore

/// Drives a `PeerCore` directly with its `CoreContext`, the way `NodeCore` does, so tests can see
/// what the half does in messages rather than bytes, including the signals it leaves for discovery.
struct PeerBench {
    typealias F = PeerFixtures

    var cx: CoreContext
    var core: PeerCore
    /// Every output and signal so far, in order.
    private(set) var outputs: [NodeOutput] = []
    private(set) var signals: [CoreSignal] = []

    init(id: PeerID = PeerFixtures.small, seed: UInt64 = 1, configure: (inout NodeConfiguration) -> Void = { _ in }) {
        var configuration = NodeConfiguration(protocols: [PeerFixtures.chat])
        configure(&configuration)
        cx = CoreContext(localID: id, configuration: configuration, seed: seed, now: .zero)
        core = PeerCore(configuration: configuration, localID: id)
    }

    var now: Instant { cx.now }

    /// Outputs and signals produced since the last call (also kept in `outputs` / `signals`).
    @discardableResult
    mutating func drain() -> (outputs: [NodeOutput], signals: [CoreSignal]) {
        var fresh: [NodeOutput] = []
        while let output = cx.nextOutput() { fresh.append(output) }
        let freshSignals = cx.takeSignals()
        outputs += fresh
        signals += freshSignals
        return (fresh, freshSignals)
    }

    /// The monitor events among `outputs`.
    var events: [NodeEvent] {
        outputs.compactMap { output in
            if case .event(let event) = output { return event }
            return nil
        }
    }

    // MARK: Inputs

    /// Discovery asks for a dial; returns the new connection, if the core started one.
    @discardableResult
    mutating func dial(_ endpoint: Endpoint, expected: PeerID? = nil) -> ConnectionID? {
        core.handle(.dial(endpoint, expected: expected), &cx)
        for output in drain().outputs {
            if case .connect(let id, .peer, to: endpoint, timeout: _) = output { return id }
        }
        return nil
    }

    /// The driver reports the dial's TCP connection established.
    mutating func connect(_ id: ConnectionID) {
        cx.connections.modify(id) { $0.isEstablished = true }
        core.connected(id, &cx)
    }

    /// Dials and connects; returns the connection.
    mutating func dialAndConnect(_ endpoint: Endpoint, expected: PeerID? = nil) -> ConnectionID {
        guard let id = dial(endpoint, expected: expected) else {
            preconditionFailure("the dial did not start: \(signals)")
        }
        connect(id)
        return id
    }

    /// Our listener accepted a connection from `remote`.
    mutating func accept(from remote: Endpoint) -> ConnectionID {
        let id = cx.adopt(.peer, from: remote)
        core.accepted(id, from: remote, &cx)
        return id
    }

    /// A message from the remote on `id` (dropped, as by NodeCore, if the core closed the connection).
    mutating func receive(_ message: PeerMessage, on id: ConnectionID) {
        guard let connection = cx.connections[id], !connection.isClosing else { return }
        core.received(message, on: id, &cx)
    }

    /// The remote closed the connection.
    mutating func lose(_ id: ConnectionID, _ cause: CloseCause = .closedByPeer) {
        guard let connection = cx.connections.remove(id), !connection.isClosing else { return }
        cx.deadlines.cancel(.connection(id))
        core.connectionLost(id, cause, &cx)
    }

    /// Moves the clock to `time`, running every connection deadline due on the way.
    mutating func advance(to time: Instant) {
        while let next = cx.deadlines.nextDeadline, next <= time {
            cx.now = max(cx.now, next)
            while let timer = cx.deadlines.popDue(now: cx.now) {
                guard case .connection(let id) = timer else { continue }
                guard let connection = cx.connections[id], !connection.isClosing else { continue }
                core.connectionTimeout(id, &cx)
            }
        }
        cx.now = max(cx.now, time)
    }

    // MARK: What went out

    /// Takes and decodes every frame queued on `id` (as the driver would), forgetting a closed connection.
    mutating func sent(on id: ConnectionID) -> [PeerMessage] {
        guard
            let taken = cx.connections.modify(
                id,
                { connection -> ([UInt8], Bool) in
                    (connection.outbox.takeBytes(), connection.isClosing)
                }
            )
        else { return [] }
        if taken.1 { cx.connections.remove(id) }
        var decoder = FrameDecoder()
        decoder.feed(taken.0)
        var messages: [PeerMessage] = []
        while let message = try? decoder.nextPeerMessage() { messages.append(message) }
        return messages
    }

    /// True if the core asked the driver to close `id`.
    func closed(_ id: ConnectionID) -> Bool { outputs.contains(.close(id)) }

    /// The invariants of the peer half; records an issue for each problem.
    func expectConsistent(sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = core.checkInvariants(cx)
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
    }

    // MARK: Remote messages

    static func verack(from id: PeerID, protocols: [ProtocolID] = [.ping, "CHAT"]) -> PeerMessage {
        PeerFixtures.accepted(by: id, protocols)
    }

    static func version(from id: PeerID, protocols: [ProtocolSpec] = [PeerFixtures.chat]) -> PeerMessage {
        PeerFixtures.identity(id, protocols: protocols).versionMessage
    }

    /// Completes an outbound handshake with `remote` and returns the connection.
    mutating func outboundPeer(_ remote: PeerID, at endpoint: Endpoint) -> ConnectionID {
        let id = dialAndConnect(endpoint, expected: remote)
        _ = sent(on: id)
        receive(Self.verack(from: remote), on: id)
        _ = sent(on: id)  // Our confirming Verack.
        return id
    }

    /// Completes an inbound handshake from `remote` and returns the connection.
    mutating func inboundPeer(_ remote: PeerID, from endpoint: Endpoint) -> ConnectionID {
        let id = accept(from: endpoint)
        receive(Self.version(from: remote), on: id)
        if let confirmation = PeerFixtures.confirmation(by: remote, of: sent(on: id)) { receive(confirmation, on: id) }
        return id
    }
}
