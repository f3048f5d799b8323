/// The name of a protocol run over peer connections, such as `PING`.
///
/// 1 to 64 bytes of visible ASCII (0x21...0x7E: printable ASCII without the space, so that IDs read
/// unambiguously in logs). Held inline in a fixed 64-byte vector, so decoding an ID from a frame,
/// comparing and hashing it never allocate. On the wire: `u8 length` · the bytes.
public struct ProtocolID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The longest ID, in bytes.
    public static let lengthMax = WireLimits.protocolIDLengthMax

    /// The core Ping protocol.
    public static let ping: ProtocolID = "PING"

    /// The ID's bytes, zero-padded to 64 (the padding keeps `==` and hashing exact).
    private var storage: SIMD64<UInt8>
    private var length: UInt8

    /// Creates an ID from its bytes; throws for an empty, too long or non-visible-ASCII name.
    public init(validating bytes: some Collection<UInt8>) throws(WireError) {
        guard (1...Self.lengthMax).contains(bytes.count) else { throw .invalidProtocolIDLength(bytes.count) }
        storage = SIMD64()
        length = UInt8(bytes.count)
        var index = 0
        for byte in bytes {
            guard Self.isAllowed(byte) else { throw .invalidProtocolIDByte(byte) }
            storage[index] = byte
            index += 1
        }
    }

    /// Creates an ID from a name; nil if it is not 1...64 visible ASCII characters. (Labelled, so
    /// that `ProtocolID(name: text)` is never mistaken for the trapping literal initialiser.)
    public init?(name: some StringProtocol) {
        guard let id = try? ProtocolID(validating: Array(name.utf8)) else { return nil }
        self = id
    }

    /// Creates an ID from a literal in source code; an invalid literal is a programmer error.
    public init(stringLiteral name: String) {
        guard let id = ProtocolID(name: name) else {
            preconditionFailure("BUG in Karyons: \"\(name)\" is not a valid protocol ID (1...64 visible ASCII)")
        }
        self = id
    }

    /// Reads `u8 length` · bytes, validating both.
    init(reading reader: inout ByteReader) throws(WireError) {
        let count = Int(try reader.readUInt8())
        guard (1...Self.lengthMax).contains(count) else { throw .invalidProtocolIDLength(count) }
        try self.init(validating: try reader.readBytes(count))
    }

    /// Writes `u8 length` · bytes.
    func encode(into writer: inout ByteWriter) {
        writer.writeUInt8(length)
        withUnsafeBytes(of: storage) { writer.writeBytes(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(length)))) }
    }

    /// The number of bytes in the ID (1...64).
    public var count: Int { Int(length) }

    /// Bytes on the wire, length byte included.
    public var encodedSize: Int { 1 + count }

    /// The ID's bytes (allocates).
    public var bytes: [UInt8] { (0..<count).map { storage[$0] } }

    /// The name.
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    private static func isAllowed(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }
}
