/// A bounds-checked big-endian reader over received bytes.
///
/// Every read checks the remaining length first and throws `WireError.truncated` instead of
/// trapping; nothing is allocated except by `readBytes(_:)` callers that copy the slice they get.
/// Decoders finish with `expectEnd()`, which rejects trailing bytes.
public struct ByteReader {
    /// The bytes being read; indices are those of the slice.
    let bytes: ArraySlice<UInt8>
    /// The index of the next unread byte.
    var position: Int

    /// A reader over `bytes`, starting at its first byte.
    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    /// A reader over a whole array.
    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    /// Bytes not yet read.
    public var remainingCount: Int { bytes.endIndex - position }

    /// True when every byte has been read.
    public var isAtEnd: Bool { position == bytes.endIndex }

    /// Throws `.trailingBytes` unless every byte has been read.
    public func expectEnd() throws(WireError) {
        if !isAtEnd { throw .trailingBytes(remainingCount) }
    }

    mutating func require(_ count: Int) throws(WireError) {
        if remainingCount < count { throw .truncated(needed: count, remaining: remainingCount) }
    }

    /// Reads one byte.
    public mutating func readUInt8() throws(WireError) -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    /// Reads a big-endian `UInt16`.
    public mutating func readUInt16() throws(WireError) -> UInt16 { try readInteger(UInt16.self) }

    /// Reads a big-endian `UInt32`.
    public mutating func readUInt32() throws(WireError) -> UInt32 { try readInteger(UInt32.self) }

    /// Reads a big-endian `UInt64`.
    public mutating func readUInt64() throws(WireError) -> UInt64 { try readInteger(UInt64.self) }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        let offset = position - bytes.startIndex
        position += size
        return bytes.withUnsafeBytes { T(bigEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// Reads 32 bytes as four big-endian words (the layout of `PeerID` and `Nonce`).
    mutating func readWords() throws(WireError) -> (UInt64, UInt64, UInt64, UInt64) {
        try require(32)
        let offset = position - bytes.startIndex
        position += 32
        return bytes.withUnsafeBytes { Self.words(in: $0, at: offset) }
    }

    /// The four big-endian words of the 32 bytes at `offset` in `raw` (the caller checked the range).
    static func words(in raw: UnsafeRawBufferPointer, at offset: Int) -> (UInt64, UInt64, UInt64, UInt64) {
        (
            UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)),
            UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)),
            UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
        )
    }

    /// Reads a 32-byte peer ID (any value, zero included; see `readNodeID()`).
    public mutating func readPeerID() throws(WireError) -> PeerID {
        let words = try readWords()
        return PeerID(words.0, words.1, words.2, words.3)
    }

    /// Reads a peer ID that names a node, so it must not be all zero.
    public mutating func readNodeID() throws(WireError) -> PeerID {
        let id = try readPeerID()
        if id == .zero { throw .zeroPeerID }
        return id
    }

    /// Reads a 32-byte nonce.
    public mutating func readNonce() throws(WireError) -> Nonce {
        let words = try readWords()
        return Nonce(words.0, words.1, words.2, words.3)
    }

    /// Reads a version: three big-endian `UInt32`s.
    public mutating func readVersion() throws(WireError) -> Version {
        try require(WireLimits.versionSize)
        return Version(try readUInt32(), try readUInt32(), try readUInt32())
    }

    /// Reads `count` bytes as a slice of the input (no copy). `count` must not be negative.
    public mutating func readBytes(_ count: Int) throws(WireError) -> ArraySlice<UInt8> {
        precondition(count >= 0, "BUG in Karyons: readBytes(\(count))")
        try require(count)
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    /// Reads everything that is left (possibly nothing), as a slice of the input.
    public mutating func readRemaining() -> ArraySlice<UInt8> {
        defer { position = bytes.endIndex }
        return bytes[position...]
    }
}
