/// A message of the lookup plane (TCP connections to a node's discovery port).
///
/// The exchange, from the requester: Ping → (Pong) → FindPeer → (Peers) → Peer (self) → Shutdown.
/// Each message travels in one frame: `u32 length · u8 kind · body` (wire format v1, DESIGN.md):
///
/// | kind | case | body |
/// |---|---|---|
/// | 0x01 | `ping` | nonce[32] · version |
/// | 0x02 | `pong` | nonce[32] |
/// | 0x03 | `findPeer` | target[32] |
/// | 0x04 | `peer` | PeerRecord |
/// | 0x05 | `peers` | u8 count (≤ 10) · PeerRecord × count |
/// | 0x06 | `shutdown` | u8 reason |
///
/// Decoding (`init(frame:)`) refuses peer-plane kinds with `.wrongPlane`, unknown kinds, short
/// bodies, trailing bytes, more than 10 records (before allocating) and zero peer IDs in records.
/// Encoding never fails for a value the decoder could produce; a `peers` value with more than 10
/// records or a zero-ID record is a programmer error (caught by a precondition).
public enum LookupMessage: Hashable, Sendable {
    /// Opens an exchange; the responder checks `version` against its requirement, then answers Pong.
    case ping(nonce: Nonce, version: Version)
    /// Answers a Ping with its nonce.
    case pong(nonce: Nonce)
    /// Asks for the responder's closest peers to `target`.
    case findPeer(target: PeerID)
    /// The requester's own record (stored by the responder with the connection's source address).
    case peer(PeerRecord)
    /// Answers FindPeer: at most `WireLimits.peersCountMax` records, closest first.
    case peers([PeerRecord])
    /// Ends the exchange.
    case shutdown(DisconnectReason)

    /// The frame kind of this message.
    public var kind: MessageKind {
        switch self {
        case .ping: return .ping
        case .pong: return .pong
        case .findPeer: return .findPeer
        case .peer: return .peer
        case .peers: return .peers
        case .shutdown: return .shutdown
        }
    }

    /// Decodes one lookup-plane frame.
    public init(frame: Frame) throws(WireError) {
        guard let kind = MessageKind(rawValue: frame.kind) else { throw .unknownKind(frame.kind) }
        var reader = ByteReader(frame.body)
        switch kind {
        case .ping: self = .ping(nonce: try reader.readNonce(), version: try reader.readVersion())
        case .pong: self = .pong(nonce: try reader.readNonce())
        case .findPeer: self = .findPeer(target: try reader.readPeerID())
        case .peer: self = .peer(try PeerRecord(reading: &reader))
        case .peers: self = .peers(try Self.readPeers(&reader))
        case .shutdown: self = .shutdown(try reader.readReason())
        case .version, .verack, .protocol: throw .wrongPlane(kind)
        }
        try reader.expectEnd()
    }

    private static func readPeers(_ reader: inout ByteReader) throws(WireError) -> [PeerRecord] {
        let count = Int(try reader.readUInt8())
        guard count <= WireLimits.peersCountMax else { throw .tooManyPeers(count) }
        // Each record takes at least 41 bytes: refuse a short body before allocating for it.
        try reader.require(count * PeerRecord.encodedSizeV4)
        var records: [PeerRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count { records.append(try PeerRecord(reading: &reader)) }
        return records
    }

    /// The frame length (kind + body) this message encodes to.
    public var frameLength: Int {
        switch self {
        case .ping: return 1 + Nonce.byteCount + WireLimits.versionSize
        case .pong: return 1 + Nonce.byteCount
        case .findPeer: return 1 + PeerID.byteCount
        case .peer(let record): return 1 + record.encodedSize
        case .peers(let records): return 2 + records.reduce(0) { $0 + $1.encodedSize }
        case .shutdown: return 2
        }
    }

    /// Appends the whole frame (length prefix, kind, body) to `writer`.
    public func encodeFrame(into writer: inout ByteWriter) {
        let start = writer.beginFrame(kind)
        switch self {
        case .ping(let nonce, let version):
            writer.write(nonce)
            writer.write(version)
        case .pong(let nonce): writer.write(nonce)
        case .findPeer(let target): writer.write(target)
        case .peer(let record): record.encode(into: &writer)
        case .peers(let records):
            precondition(
                records.count <= WireLimits.peersCountMax,
                "BUG in Karyons: a Peers message with \(records.count) records (limit \(WireLimits.peersCountMax))")
            writer.writeUInt8(UInt8(records.count))
            for record in records { record.encode(into: &writer) }
        case .shutdown(let reason): writer.writeUInt8(reason.rawValue)
        }
        writer.endFrame(startingAt: start)
    }
}

extension ByteReader {
    /// Reads a reason code (0...8).
    mutating func readReason() throws(WireError) -> DisconnectReason {
        let raw = try readUInt8()
        guard let reason = DisconnectReason(rawValue: raw) else { throw .unknownReason(raw) }
        return reason
    }
}
