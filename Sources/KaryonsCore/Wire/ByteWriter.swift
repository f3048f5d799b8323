/// A big-endian writer that appends to a growable byte buffer the caller can keep and reuse.
///
/// Encoders append whole frames (length prefix included) with `encodeFrame(into:)`; a connection
/// can keep one `ByteWriter` as its outgoing buffer, or a caller can encode into a scratch writer,
/// hand out `bytes`, and `removeAll()` (capacity is kept, so steady-state encoding does not allocate).
public struct ByteWriter {
    /// Everything written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A writer that appends to `bytes` (for example a buffer handed back for reuse).
    public init(appendingTo bytes: [UInt8]) { self.bytes = bytes }

    /// The number of bytes written.
    public var count: Int { bytes.count }

    /// Forgets everything written, keeping the capacity.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// Hands out the bytes written and leaves the writer empty.
    public mutating func takeBytes() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }

    /// Drops everything written after the first `count` bytes (to undo a partial write).
    public mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= bytes.count, "BUG in Karyons: truncate(to: \(count)) of \(bytes.count)")
        bytes.removeSubrange(count...)
    }

    /// Appends one byte.
    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    /// Appends a big-endian `UInt16`.
    public mutating func writeUInt16(_ value: UInt16) { writeInteger(value) }

    /// Appends a big-endian `UInt32`.
    public mutating func writeUInt32(_ value: UInt32) { writeInteger(value) }

    /// Appends a big-endian `UInt64`.
    public mutating func writeUInt64(_ value: UInt64) { writeInteger(value) }

    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { writeBytes($0) }
    }

    /// Appends four words big-endian (the layout of `PeerID` and `Nonce`).
    mutating func writeWords(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        withUnsafeBytes(of: (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)) { writeBytes($0) }
    }

    /// Appends a peer ID (32 bytes).
    public mutating func write(_ id: PeerID) { writeWords(id.w0, id.w1, id.w2, id.w3) }

    /// Appends a nonce (32 bytes).
    public mutating func write(_ nonce: Nonce) { writeWords(nonce.w0, nonce.w1, nonce.w2, nonce.w3) }

    /// Appends a tag byte and a nonce in one append (refresh datagrams and Ping payloads).
    mutating func writeTagged(_ tag: UInt8, _ nonce: Nonce) {
        writeFixed(1 + Nonce.byteCount) { raw in
            raw.storeBytes(of: tag, toByteOffset: 0, as: UInt8.self)
            raw.storeBytes(of: nonce.w0.bigEndian, toByteOffset: 1, as: UInt64.self)
            raw.storeBytes(of: nonce.w1.bigEndian, toByteOffset: 9, as: UInt64.self)
            raw.storeBytes(of: nonce.w2.bigEndian, toByteOffset: 17, as: UInt64.self)
            raw.storeBytes(of: nonce.w3.bigEndian, toByteOffset: 25, as: UInt64.self)
        }
    }

    /// Appends a version (three big-endian `UInt32`s).
    public mutating func write(_ version: Version) {
        writeFixed(WireLimits.versionSize) { raw in
            raw.storeBytes(of: version.major.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: version.minor.bigEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: version.patch.bigEndian, toByteOffset: 8, as: UInt32.self)
        }
    }

    /// Appends raw bytes.
    public mutating func writeBytes(_ source: [UInt8]) { bytes.append(contentsOf: source) }

    /// Appends raw bytes.
    public mutating func writeBytes(_ source: ArraySlice<UInt8>) { bytes.append(contentsOf: source) }

    /// Appends raw bytes (one copy; viewed as typed bytes so that `append` can use memcpy).
    public mutating func writeBytes(_ source: UnsafeRawBufferPointer) {
        source.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0) }
    }

    /// Appends `count` bytes that `fill` stores (with `storeBytes(of:toByteOffset:as:)`) into stack
    /// scratch space: one append instead of one per field, for records written field by field.
    mutating func writeFixed(_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { scratch in
            fill(scratch)
            writeBytes(UnsafeRawBufferPointer(scratch))
        }
    }

    /// Starts a frame: a placeholder length prefix and the kind byte. Returns the frame's start,
    /// to pass to `endFrame(startingAt:)` once the body is written.
    mutating func beginFrame(_ kind: MessageKind) -> Int {
        let start = bytes.count
        writeFixed(WireLimits.lengthPrefixSize + 1) { raw in
            raw.storeBytes(of: 0, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: kind.rawValue, toByteOffset: WireLimits.lengthPrefixSize, as: UInt8.self)
        }
        return start
    }

    /// Fills in the length prefix of the frame that starts at `start`; returns the frame length.
    @discardableResult
    mutating func endFrame(startingAt start: Int) -> Int {
        let length = bytes.count - start - WireLimits.lengthPrefixSize
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(length).bigEndian, toByteOffset: start, as: UInt32.self) }
        return length
    }
}
