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
        self.init(kind: kind, nonce)
    }

    /// The payload of kind `kind` (0 ping, 1 pong; checked by the caller).
    private init(kind: UInt8, _ nonce: Nonce) {
        self = kind == 0 ? .ping(nonce) : .pong(nonce)
    }

    /// Decodes a payload.
    public init(parsing bytes: [UInt8]) throws(WireError) { try self.init(parsing: bytes[...]) }

    /// Bytes of a whole Protocol frame carrying a Ping payload: length prefix, kind, the ID `PING`
    /// (its length byte and 4 bytes), payload.
    public static let frameSize = WireLimits.lengthPrefixSize + 1 + ProtocolID.ping.encodedSize + size

    /// Decodes `bytes` if they are exactly one well-formed Protocol frame of the Ping protocol, as
    /// `encodeFrame` writes it; nil for anything else (part of a frame, more than one, another
    /// protocol or kind, a malformed payload), which the frame decoder then reads, errors included.
    /// The receive path's shortcut for keep-alive frames, most of a quiet network's traffic: no
    /// buffering, no allocation.
    public init?(wholeFrame bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.frameSize,
            UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)) == UInt32(Self.frameSize - WireLimits.lengthPrefixSize),
            bytes[WireLimits.lengthPrefixSize] == MessageKind.protocol.rawValue
        else { return nil }
        let idOffset = WireLimits.lengthPrefixSize + 1
        guard ProtocolID.ping.isEncoded(in: bytes, at: idOffset) else { return nil }
        let payload = idOffset + ProtocolID.ping.encodedSize
        let kind = bytes[payload]
        guard kind <= 1 else { return nil }
        let words = ByteReader.words(in: bytes, at: payload + 1)
        self.init(kind: kind, Nonce(words.0, words.1, words.2, words.3))
    }

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
