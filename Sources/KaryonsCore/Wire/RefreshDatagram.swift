/// A UDP datagram of the refresh plane: exactly 33 bytes, `u8 kind (0x01 ping, 0x02 pong)` · nonce[32].
///
/// A pong echoes the ping's nonce and is the same size as the ping, so a reply is never larger than
/// its request (no amplification). Anything else — another size, another kind — is a typed error:
/// the caller drops the datagram silently (no reply) and counts it.
public enum RefreshDatagram: Hashable, Sendable {
    /// A liveness probe.
    case ping(Nonce)
    /// The answer to a ping, echoing its nonce.
    case pong(Nonce)

    /// Bytes of every refresh datagram.
    public static let size = 1 + Nonce.byteCount

    /// The nonce carried.
    public var nonce: Nonce {
        switch self {
        case .ping(let nonce), .pong(let nonce): return nonce
        }
    }

    /// Decodes a received datagram.
    public init(parsing bytes: ArraySlice<UInt8>) throws(WireError) {
        guard bytes.count == Self.size else { throw .datagramSize(bytes.count) }
        var reader = ByteReader(bytes)
        let kind = try reader.readUInt8()
        let nonce = try reader.readNonce()
        switch kind {
        case 0x01: self = .ping(nonce)
        case 0x02: self = .pong(nonce)
        default: throw .unknownDatagramKind(kind)
        }
    }

    /// Decodes a received datagram.
    public init(parsing bytes: [UInt8]) throws(WireError) { try self.init(parsing: bytes[...]) }

    /// Decodes a datagram straight from a receive buffer.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count == Self.size else { throw .datagramSize(bytes.count) }
        let kind = bytes[0]
        guard kind == 0x01 || kind == 0x02 else { throw .unknownDatagramKind(kind) }
        let nonce = Nonce(
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 9, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 17, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 25, as: UInt64.self)))
        self = kind == 0x01 ? .ping(nonce) : .pong(nonce)
    }

    /// Appends the 33-byte datagram.
    public func encode(into writer: inout ByteWriter) {
        switch self {
        case .ping(let nonce): writer.writeTagged(0x01, nonce)
        case .pong(let nonce): writer.writeTagged(0x02, nonce)
        }
    }
}
