/// One TCP frame: its kind byte and its body (the bytes after the kind).
///
/// The body is a slice of the decoder's buffer: parse it (`LookupMessage(frame:)`,
/// `PeerMessage(frame:)`) before the next `feed`, or the decoder has to copy its buffer to keep
/// the slice valid. Decoded messages own their bytes and may be kept freely.
public struct Frame: Hashable, Sendable {
    /// The kind byte (not yet checked against `MessageKind`).
    public var kind: UInt8
    /// The body after the kind byte.
    public var body: ArraySlice<UInt8>

    public init(kind: UInt8, body: ArraySlice<UInt8>) {
        self.kind = kind
        self.body = body
    }
}

/// Splits a TCP byte stream into frames (`u32 length · u8 kind · body`), however it is chunked.
///
/// Contract: after each `feed`, call `nextFrame()` (or `nextLookupMessage()` / `nextPeerMessage()`)
/// until it returns nil. Any chunking of the same stream yields the same frames in the same order.
/// A length prefix of 0 or above `frameSizeMax` throws as soon as its 4 bytes are buffered, before
/// the body is awaited or anything is allocated for it; such an error poisons the decoder (the
/// framing is lost): every later call throws it again and `feed` discards its input. A message
/// error (`LookupMessage(frame:)` throwing) consumes only that frame.
///
/// Memory: the buffer holds at most the unparsed tail (one partial frame plus the last chunk) and is
/// compacted amortised — consumed bytes are dropped when they outnumber the unread ones, so each byte
/// is moved at most once on average. Capacity above `retainedCapacityMax` is released when the buffer
/// empties, so an idle connection does not keep a large frame's memory.
public struct FrameDecoder {
    /// Largest accepted frame length (kind + body).
    public let frameSizeMax: Int

    /// Capacity kept when the buffer empties; beyond it, the storage is released.
    public static let retainedCapacityMax = 64 * 1024

    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: WireError?

    /// A decoder refusing frames longer than `frameSizeMax`, which must lie in
    /// `WireLimits.frameSizeMaxFloor...UInt32.max` (configuration validates it first).
    public init(frameSizeMax: Int = WireLimits.frameSizeMaxDefault) {
        precondition(
            frameSizeMax >= WireLimits.frameSizeMaxFloor && UInt64(frameSizeMax) <= UInt64(UInt32.max),
            "BUG in Karyons: frameSizeMax \(frameSizeMax) outside \(WireLimits.frameSizeMaxFloor)...\(UInt32.max)")
        self.frameSizeMax = frameSizeMax
    }

    /// Bytes received but not yet returned as frames. Non-zero while a frame is partly received
    /// (the caller's per-frame read deadline runs while this is non-zero).
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// The buffer's capacity (for tests of the release policy).
    var bufferCapacity: Int { buffer.capacity }

    /// The framing error that poisoned this decoder, if any.
    public var framingError: WireError? { failure }

    /// True while the decoder holds unread bytes or its framing failed, so that received bytes must
    /// go through it. Kept as a stored flag: reading it touches neither the buffer's storage nor
    /// the error.
    public private(set) var holdsInput = false

    /// Appends received bytes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, !bytes.isEmpty else { return }
        compact()
        bytes.withMemoryRebound(to: UInt8.self) { buffer.append(contentsOf: $0) }
        holdsInput = true
    }

    /// Appends received bytes.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) {
        guard failure == nil, !bytes.isEmpty else { return }
        compact()
        buffer.append(contentsOf: bytes)
        holdsInput = true
    }

    /// Appends received bytes.
    public mutating func feed(_ bytes: [UInt8]) { feed(bytes[...]) }

    /// The next complete frame, or nil if more bytes are needed.
    public mutating func nextFrame() throws(WireError) -> Frame? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available >= WireLimits.lengthPrefixSize else { return nil }
        let length = Int(
            UInt32(buffer[readIndex]) << 24 | UInt32(buffer[readIndex + 1]) << 16
                | UInt32(buffer[readIndex + 2]) << 8 | UInt32(buffer[readIndex + 3]))
        if length == 0 { return try fail(.frameLengthZero) }
        if length > frameSizeMax { return try fail(.frameTooLarge(length: length, max: frameSizeMax)) }
        guard available >= WireLimits.lengthPrefixSize + length else { return nil }
        let kindIndex = readIndex + WireLimits.lengthPrefixSize
        let end = kindIndex + length
        readIndex = end
        holdsInput = end < buffer.count
        return Frame(kind: buffer[kindIndex], body: buffer[(kindIndex + 1)..<end])
    }

    /// The next complete frame decoded as a lookup-plane message, or nil if more bytes are needed.
    public mutating func nextLookupMessage() throws(WireError) -> LookupMessage? {
        guard let frame = try nextFrame() else { return nil }
        return try LookupMessage(frame: frame)
    }

    /// The next complete frame decoded as a peer-plane message, or nil if more bytes are needed.
    public mutating func nextPeerMessage() throws(WireError) -> PeerMessage? {
        guard let frame = try nextFrame() else { return nil }
        return try PeerMessage(frame: frame)
    }

    private mutating func fail(_ error: WireError) throws(WireError) -> Frame? {
        failure = error
        buffer = []
        readIndex = 0
        holdsInput = true
        throw error
    }

    /// Drops consumed bytes when that is cheap relative to the work already done.
    private mutating func compact() {
        guard readIndex > 0 else { return }
        let unread = buffer.count - readIndex
        if unread == 0 {
            if buffer.capacity > Self.retainedCapacityMax {
                buffer = []
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            readIndex = 0
        } else if readIndex >= unread {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
