/// The payload of the core Ping protocol (`ProtocolID.ping`, carried in Protocol frames):
/// exactly 33 bytes, `u8 (0 ping, 1 pong)` · nonce[32].
///
/// A peer answers every ping with a pong echoing its nonce. A payload of another size or kind is a
/// typed error (the Ping protocol treats it as a protocol violation).
public enum PingPayload: Hashable, Sendable {
    /// Asks the peer to prove it is alive.
    case ping(Nonce)
    /// Answers a ping, echoing its nonce.
    case pong(Nonce)

    /// Bytes of every Ping-protocol payload.
    public static let size = 1 + Nonce.byteCount

    /// The nonce carried.
    public var nonce: Nonce {
        switch self {
        case .ping(let nonce), .pong(let nonce): return nonce
        }
    }

    /// Decodes a payload (for example the `payload` of `PeerMessage.protocol`).
    public init(parsing bytes: ArraySlice<UInt8>) throws(WireError) {
        var reader = ByteReader(bytes)
        let kind = try reader.readUInt8()
        guard kind <= 1 else { throw .unknownPingKind(kind) }
        let nonce = try reader.readNonce()
        try reader.expectEnd()
        self = kind == 0 ? .ping(nonce) : .pong(nonce)
    }

    /// Decodes a payload.
    public init(parsing bytes: [UInt8]) throws(WireError) { try self.init(parsing: bytes[...]) }

    /// Appends the 33-byte payload.
    public func encode(into writer: inout ByteWriter) {
        switch self {
        case .ping(let nonce): writer.writeTagged(0, nonce)
        case .pong(let nonce): writer.writeTagged(1, nonce)
        }
    }

    /// Appends a whole Protocol frame (ID `PING`) carrying this payload, with no intermediate buffer.
    public func encodeFrame(into writer: inout ByteWriter) {
        let start = writer.beginFrame(.protocol)
        ProtocolID.ping.encode(into: &writer)
        encode(into: &writer)
        writer.endFrame(startingAt: start)
    }
}
