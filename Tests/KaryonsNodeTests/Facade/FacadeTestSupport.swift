import KaryonsCore
@testable import KaryonsNode

/// The first element of `sequence` that satisfies `predicate`, or nil if none arrives within
/// `seconds` (a generous bound on a real event) or the sequence ends.
func first<S: AsyncSequence & Sendable>(
    _ sequence: S, within seconds: Double = 20, where predicate: @escaping @Sendable (S.Element) -> Bool
) async -> S.Element? where S.Element: Sendable {
    await withTaskGroup(of: S.Element?.self) { group in
        group.addTask {
            do {
                for try await element in sequence where predicate(element) { return element }
            } catch {
                return nil
            }
            return nil
        }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            return nil
        }
        let result = await group.next() ?? nil
        group.cancelAll()
        return result
    }
}

/// Messages received by test protocol instances, one stream per receiving node.
final class Mailboxes: @unchecked Sendable {
    static let shared = Mailboxes()

    struct Letter: Sendable, Hashable {
        var from: PeerID
        var protocolID: ProtocolID
        var text: String
    }

    private let streams = PthreadLock([PeerID: AsyncStream<Letter>.Continuation]())

    /// A stream of what node `id` receives; open it before the node starts.
    func open(for id: PeerID) -> AsyncStream<Letter> {
        let (stream, continuation) = AsyncStream.makeStream(of: Letter.self)
        streams.withLock { $0[id] = continuation }
        return stream
    }

    func post(_ letter: Letter, to id: PeerID) {
        _ = streams.withLock { $0[id] }?.yield(letter)
    }
}

/// Greets its peer once, then records every message it receives in the shared mailboxes.
struct GreeterProtocol: PeerProtocol {
    static let id: ProtocolID = "GREET"
    static let version = "0.1.0"
    let peer: Peer

    init(peer: Peer) { self.peer = peer }

    func run() async throws {
        try await peer.send(Array("hello from \(peer.node.id.shortDescription)".utf8))
        for await message in peer.messages {
            Mailboxes.shared.post(.init(from: peer.id, protocolID: Self.id, text: String(decoding: message, as: UTF8.self)),
                                  to: peer.node.id)
        }
    }
}

/// A second protocol, to test the negotiated intersection.
struct OtherProtocol: PeerProtocol {
    static let id: ProtocolID = "OTHER"
    static let version = "0.1.0"
    let peer: Peer

    init(peer: Peer) { self.peer = peer }

    func run() async throws {
        Mailboxes.shared.post(.init(from: peer.id, protocolID: Self.id, text: "started"), to: peer.node.id)
        for await _ in peer.messages {}
    }
}

/// A node configuration listening on loopback with kernel-chosen ports.
func loopbackConfiguration(
    networkVersion: String = "0.1.0", dialPeers: [Endpoint] = [], inbound: Int = 12
) throws -> NodeConfiguration {
    var configuration = NodeConfiguration(
        networkVersion: try ProtocolVersion(parsing: networkVersion),
        peerListener: try Endpoint(parsing: "tcp://127.0.0.1:0"),
        dialPeers: dialPeers)
    configuration.slots.inbound = inbound
    return configuration
}

/// A node configuration with no listener (outbound only) that dials `peers`.
func outboundConfiguration(dialPeers: [Endpoint], networkVersion: String = "0.1.0") throws -> NodeConfiguration {
    NodeConfiguration(networkVersion: try ProtocolVersion(parsing: networkVersion), dialPeers: dialPeers)
}
