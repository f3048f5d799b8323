/// The name of a protocol run over peer connections, such as `PING`.
///
/// 1 to 64 bytes of visible ASCII (0x21...0x7E: printable ASCII without the space, so that IDs read
/// unambiguously in logs). Held inline in eight words, so decoding an ID from a frame, comparing
/// and hashing it never allocate. On the wire: `u8 length` · the bytes.
public struct ProtocolID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    private typealias Storage = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// The longest ID, in bytes.
    public static let lengthMax = WireLimits.protocolIDLengthMax

    /// The core Ping protocol.
    public static let ping: ProtocolID = "PING"

    /// The ID's bytes in memory order, zero-padded to 64 (the padding keeps `==` and hashing exact).
    private var storage: Storage = (0, 0, 0, 0, 0, 0, 0, 0)
    private var length: UInt8

    /// Creates an ID from its bytes; throws for an empty, too long or non-visible-ASCII name.
    public init(validating bytes: some Collection<UInt8>) throws(WireError) {
        guard (1...Self.lengthMax).contains(bytes.count) else { throw .invalidProtocolIDLength(bytes.count) }
        try self.init(checking: Array(bytes)[...])
    }

    /// Copies 1...64 bytes in with one memcpy, then checks them.
    private init(checking bytes: ArraySlice<UInt8>) throws(WireError) {
        length = UInt8(bytes.count)
        let invalid: UInt8? = withUnsafeMutableBytes(of: &storage) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
            for index in 0..<bytes.count where !Self.isAllowed(target[index]) { return target[index] }
            return nil
        }
        if let invalid { throw .invalidProtocolIDByte(invalid) }
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
        try self.init(checking: try reader.readBytes(count))
    }

    /// True if `bytes` hold this ID's encoding (`u8 length` · bytes) at `offset`, fully in range.
    func isEncoded(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard offset >= 0, bytes.count - offset >= 1 + count, bytes[offset] == length else { return false }
        return withUnsafeBytes(of: storage) { own in own.prefix(count).elementsEqual(bytes[(offset + 1)..<(offset + 1 + count)]) }
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
    public var bytes: [UInt8] { withUnsafeBytes(of: storage) { Array($0.prefix(count)) } }

    public static func == (lhs: ProtocolID, rhs: ProtocolID) -> Bool {
        lhs.length == rhs.length && lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1
            && lhs.storage.2 == rhs.storage.2 && lhs.storage.3 == rhs.storage.3 && lhs.storage.4 == rhs.storage.4
            && lhs.storage.5 == rhs.storage.5 && lhs.storage.6 == rhs.storage.6 && lhs.storage.7 == rhs.storage.7
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(length)
        withUnsafeBytes(of: storage) { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }

    /// The name.
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    private static func isAllowed(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }
}
