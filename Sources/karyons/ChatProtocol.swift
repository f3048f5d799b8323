import Dispatch
import KaryonsCore
import KaryonsNode

/// The seed's chat example as a `PeerProtocol`: every peer's messages are printed as UTF-8 text (any
/// length up to the frame limit; invalid UTF-8 is shown with replacement characters, never a crash),
/// and lines typed on standard input are broadcast to every peer.
struct ChatProtocol: PeerProtocol {
    static let id: ProtocolID = "CHAT"
    static let version = "0.1.0, 0.1.0"
    let peer: Peer

    init(peer: Peer) { self.peer = peer }

    func run() async throws {
        say("[chat] \(peer.id.shortDescription) joined (\(peer.direction), \(peer.endpoint))")
        for await message in peer.messages {
            say("\(peer.id.shortDescription)> \(String(decoding: message, as: UTF8.self))")
        }
        say("[chat] \(peer.id.shortDescription) left")
    }

    /// Reads standard input on a thread of its own and broadcasts each line.
    static func broadcastStandardInput(of node: Node) {
        DispatchQueue(label: "karyons.chat.stdin").async {
            while let line = readLine(strippingNewline: true) {
                guard !line.isEmpty else { continue }
                Task { await node.broadcast(Array(line.utf8), protocolID: id) }
            }
        }
    }
}
