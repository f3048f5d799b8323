import Testing
@testable import KaryonsCore

/// An instant `value` seconds after zero (fractions allowed).
func sec(_ value: Double) -> Instant { Instant.zero + Duration(seconds: value) }

/// IDs, addresses and configurations shared by the discovery tests.
enum Fixture {
    /// The ID of the node under test.
    static let localID = PeerID(0x1111_0000_0000_0000, 0, 0, 1)

    /// A distinct peer ID in bucket 31 of `localID`'s table (first byte differs), numbered `n`.
    static func peerID(_ n: Int) -> PeerID { PeerID(0xA000_0000_0000_0000 | UInt64(n) << 32, 0, 0, UInt64(n)) }

    /// A public address in its own /24, numbered `n` (never shares a diversity subnet with another n).
    static func publicAddress(_ n: Int) -> IPAddress { .v4(0x2D00_0000 | UInt32(n & 0xFFFF) << 8 | 1) }

    /// A peer record at a public address: data port 3000, discovery port 3010.
    static func record(_ n: Int, address: IPAddress? = nil) -> PeerRecord {
        PeerRecord(id: peerID(n), address: address ?? publicAddress(n), port: 3000, discoveryPort: 3010)
    }

    /// The lookup endpoint of a record.
    static func lookupEndpoint(_ record: PeerRecord) -> Endpoint { .tcp(record.address, record.discoveryPort) }

    /// The refresh endpoint of a record.
    static func refreshEndpoint(_ record: PeerRecord) -> Endpoint { .udp(record.address, record.discoveryPort) }

    /// A seed's lookup endpoint.
    static let seed = Endpoint.tcp(.v4(0x2D63_6301), 4010)

    /// A listening node: data listener on 203.0.113.5:3000, lookups on port 3010.
    static func listeningConfiguration(_ change: (inout NodeConfiguration) -> Void = { _ in }) -> NodeConfiguration {
        var configuration = NodeConfiguration(
            peerListener: .tcp(.v4(0xCB00_7105), 3000), lookupListener: .tcp(.v4(0xCB00_7105), 3010),
            bootstrapPeers: [seed])
        change(&configuration)
        return configuration
    }

    /// An outbound-only node (no listener) seeding from `seed`.
    static func outboundConfiguration(_ change: (inout NodeConfiguration) -> Void = { _ in }) -> NodeConfiguration {
        var configuration = NodeConfiguration(bootstrapPeers: [seed])
        change(&configuration)
        return configuration
    }
}

/// A `NodeCore` driven by hand, with its own clock: feed inputs, let time pass, and read what it
/// asked for. Every call drains `poll()` into `outputs`.
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

    mutating func drain() {
        while let output = core.poll() { outputs.append(output) }
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

extension Array where Element == NodeOutput {
    /// The index of the first output equal to `output`, for order assertions.
    func position(of output: NodeOutput) -> Int? { firstIndex(of: output) }
}
