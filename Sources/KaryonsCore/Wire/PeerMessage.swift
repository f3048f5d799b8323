/// A message of the peer plane (data connections between pooled peers).
///
/// Only the dialler sends Version; the listener answers Verack with its own ID and version and the
/// negotiated protocols with its versions of them, or a rejection with a reason; the dialler confirms
/// an accepting Verack with its own (the protocols that also pass its requirements) or refuses with
/// Shutdown. Then both sides exchange Protocol messages of the confirmed protocols; either side may
/// send Shutdown before closing.
/// Each message travels in one frame: `u32 length · u8 kind · body` (wire format v1, DESIGN.md):
///
/// | kind | case | body |
/// |---|---|---|
/// | 0x10 | `version` | peerID[32] · version · u8 n (≤ 32) · (ProtocolID · version) × n |
/// | 0x11 | `verack` | peerID[32] · version · u8 accepted (0/1) · u8 reason · u8 n · (ProtocolID · version) × n |
/// | 0x12 | `protocol` | ProtocolID · payload (the rest of the frame, possibly empty) |
/// | 0x06 | `shutdown` | u8 reason |
///
/// Decoding (`init(frame:)`) refuses lookup-plane kinds with `.wrongPlane`, unknown kinds, short
/// bodies, trailing bytes, zero peer IDs, more than 32 protocols (before allocating), duplicate
/// protocol IDs, and inconsistent Veracks (accepted with a reason, or rejected with protocols).
/// Encoding (`encodeFrame(into:frameSizeMax:)`) throws for exactly the values decoding would
/// refuse, so anything sent can be received, and leaves the writer unchanged when it throws.
public enum PeerMessage: Hashable, Sendable {
    /// The dialler's handshake offer.
    case version(VersionMessage)
    /// The listener's handshake answer.
    case verack(VerackMessage)
    /// One message of protocol `id`; the payload is the protocol's own encoding.
    case `protocol`(id: ProtocolID, payload: [UInt8])
    /// Graceful close with a reason.
    case shutdown(DisconnectReason)

    /// The frame kind of this message.
    public var kind: MessageKind {
        switch self {
        case .version: return .version
        case .verack: return .verack
        case .protocol: return .protocol
        case .shutdown: return .shutdown
        }
    }

    /// Decodes one peer-plane frame. The Protocol payload is copied once out of the frame.
    public init(frame: Frame) throws(WireError) {
        guard let kind = MessageKind(rawValue: frame.kind) else { throw .unknownKind(frame.kind) }
        var reader = ByteReader(frame.body)
        switch kind {
        case .version: self = .version(try VersionMessage(reading: &reader))
        case .verack: self = .verack(try VerackMessage(reading: &reader))
        case .protocol: self = .protocol(id: try ProtocolID(reading: &reader), payload: Array(reader.readRemaining()))
        case .shutdown: self = .shutdown(try reader.readReason())
        case .ping, .pong, .findPeer, .peer, .peers: throw .wrongPlane(kind)
        }
        try reader.expectEnd()
    }

    /// The frame length (kind + body) this message encodes to.
    public var frameLength: Int {
        switch self {
        case .version(let message): return 1 + message.bodySize
        case .verack(let message): return 1 + message.bodySize
        case .protocol(let id, let payload): return 1 + id.encodedSize + payload.count
        case .shutdown: return 2
        }
    }

    /// Appends the whole frame (length prefix, kind, body) to `writer`. Throws, writing nothing,
    /// if the frame would exceed `frameSizeMax` or the message is one decoding refuses.
    public func encodeFrame(
        into writer: inout ByteWriter,
        frameSizeMax: Int = WireLimits.frameSizeMaxDefault
    ) throws(WireError) {
        switch self {
        case .version(let message):
            try message.validate()
            try encodeControlFrame(into: &writer, frameSizeMax: frameSizeMax) { message.encodeBody(into: &$0) }
        case .verack(let message):
            try message.validate()
            try encodeControlFrame(into: &writer, frameSizeMax: frameSizeMax) { message.encodeBody(into: &$0) }
        case .protocol(let id, let payload):
            try Self.encodeProtocolFrame(id: id, payload: payload[...], into: &writer, frameSizeMax: frameSizeMax)
        case .shutdown(let reason):
            try encodeControlFrame(into: &writer, frameSizeMax: frameSizeMax) { $0.writeUInt8(reason.rawValue) }
        }
    }

    /// Writes a frame of this message's kind whose body `writeBody` appends, after checking its size.
    private func encodeControlFrame(
        into writer: inout ByteWriter,
        frameSizeMax: Int,
        writeBody: (inout ByteWriter) -> Void
    ) throws(WireError) {
        let length = frameLength
        guard length <= frameSizeMax else { throw .frameTooLarge(length: length, max: frameSizeMax) }
        let start = writer.beginFrame(kind)
        writeBody(&writer)
        writer.endFrame(startingAt: start)
    }

    /// Appends a Protocol frame carrying `payload`, without building a `PeerMessage` first.
    public static func encodeProtocolFrame(
        id: ProtocolID,
        payload: ArraySlice<UInt8>,
        into writer: inout ByteWriter,
        frameSizeMax: Int = WireLimits.frameSizeMaxDefault
    ) throws(WireError) {
        let length = 1 + id.encodedSize + payload.count
        guard length <= frameSizeMax else { throw .frameTooLarge(length: length, max: frameSizeMax) }
        let start = writer.beginFrame(.protocol)
        id.encode(into: &writer)
        writer.writeBytes(payload)
        writer.endFrame(startingAt: start)
    }

    /// Appends a Protocol frame whose payload `writePayload` appends directly to the writer (no
    /// intermediate buffer). If the frame ends up above `frameSizeMax`, it is removed and this throws.
    public static func encodeProtocolFrame(
        id: ProtocolID,
        into writer: inout ByteWriter,
        frameSizeMax: Int = WireLimits.frameSizeMaxDefault,
        payload writePayload: (inout ByteWriter) -> Void
    ) throws(WireError) {
        let start = writer.beginFrame(.protocol)
        id.encode(into: &writer)
        writePayload(&writer)
        let length = writer.count - start - WireLimits.lengthPrefixSize
        guard length <= frameSizeMax else {
            writer.truncate(to: start)
            throw .frameTooLarge(length: length, max: frameSizeMax)
        }
        writer.endFrame(startingAt: start)
    }
}

/// A protocol a side runs, with the version it speaks: the dialler's offers in Version, the
/// negotiated protocols in an accepting Verack.
public struct ProtocolOffer: Hashable, Sendable {
    /// The protocol.
    public var id: ProtocolID
    /// The version of it the sender speaks.
    public var version: Version

    /// Offers protocol `id` at `version`.
    public init(id: ProtocolID, version: Version) {
        self.id = id
        self.version = version
    }
}

/// The dialler's handshake offer: its ID, its network version and every protocol it runs.
/// At most `WireLimits.protocolsCountMax` protocols, no ID twice, and a non-zero peer ID.
public struct VersionMessage: Hashable, Sendable {
    /// The dialler's claimed ID.
    public var peerID: PeerID
    /// The dialler's network version.
    public var version: Version
    /// The dialler's protocols and their versions.
    public var protocols: [ProtocolOffer]

    /// A Version message; validity (count, duplicates, zero ID) is checked when it is encoded.
    public init(peerID: PeerID, version: Version, protocols: [ProtocolOffer]) {
        self.peerID = peerID
        self.version = version
        self.protocols = protocols
    }

    var bodySize: Int {
        PeerID.byteCount + WireLimits.versionSize + 1
            + protocols.reduce(0) { $0 + $1.id.encodedSize + WireLimits.versionSize }
    }

    init(reading reader: inout ByteReader) throws(WireError) {
        peerID = try reader.readNodeID()
        version = try reader.readVersion()
        let count = try reader.readProtocolCount(entrySizeMin: 2 + WireLimits.versionSize)
        protocols = []
        protocols.reserveCapacity(count)
        for _ in 0..<count {
            let offer = ProtocolOffer(id: try ProtocolID(reading: &reader), version: try reader.readVersion())
            if protocols.contains(where: { $0.id == offer.id }) { throw .duplicateProtocolID(offer.id) }
            protocols.append(offer)
        }
    }

    func validate() throws(WireError) {
        if peerID == .zero { throw .zeroPeerID }
        try validateProtocolList(protocols.map(\.id))
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.write(peerID)
        writer.write(version)
        writer.writeUInt8(UInt8(protocols.count))
        for offer in protocols {
            offer.id.encode(into: &writer)
            writer.write(offer.version)
        }
    }
}

/// A handshake answer: its sender's ID and network version, and either the negotiated protocols
/// with the versions the sender speaks (accepted) or the reason for refusing. The listener answers
/// the dialler's Version with one; the dialler confirms an accepting one with its own, listing the
/// protocols that also pass its requirements, so both sides run the same set. On the wire an acceptance has reason `none`,
/// and a rejection lists no protocols; anything else is refused as inconsistent.
public struct VerackMessage: Hashable, Sendable {
    /// The listener's verdict.
    public enum Outcome: Hashable, Sendable {
        /// Accepted; the protocols both sides run (the intersection, at most 32, no duplicates), each
        /// with the version the sender speaks.
        case accepted(protocols: [ProtocolOffer])
        /// Refused, with the reason (`none` if the listener gives none).
        case rejected(DisconnectReason)
    }

    /// The listener's claimed ID.
    public var peerID: PeerID
    /// The listener's network version (the dialler checks it against its own requirement).
    public var version: Version
    /// Accepted with the negotiated protocols, or rejected with a reason.
    public var outcome: Outcome

    /// A Verack message; validity (count, duplicates, zero ID) is checked when it is encoded.
    public init(peerID: PeerID, version: Version, outcome: Outcome) {
        self.peerID = peerID
        self.version = version
        self.outcome = outcome
    }

    var bodySize: Int {
        let base = PeerID.byteCount + WireLimits.versionSize + 3
        switch outcome {
        case .accepted(let protocols):
            return base + protocols.reduce(0) { $0 + $1.id.encodedSize + WireLimits.versionSize }
        case .rejected: return base
        }
    }

    init(reading reader: inout ByteReader) throws(WireError) {
        peerID = try reader.readNodeID()
        version = try reader.readVersion()
        let accepted = try reader.readUInt8()
        guard accepted <= 1 else { throw .invalidFlag(accepted) }
        let reason = try reader.readReason()
        if accepted == 0 {
            let count = try reader.readUInt8()
            guard count == 0 else { throw .protocolsOnRejectedVerack(Int(count)) }
            outcome = .rejected(reason)
            return
        }
        guard reason == .none else { throw .reasonOnAcceptedVerack(reason) }
        let count = try reader.readProtocolCount(entrySizeMin: 2 + WireLimits.versionSize)
        var protocols: [ProtocolOffer] = []
        protocols.reserveCapacity(count)
        for _ in 0..<count {
            let offer = ProtocolOffer(id: try ProtocolID(reading: &reader), version: try reader.readVersion())
            if protocols.contains(where: { $0.id == offer.id }) { throw .duplicateProtocolID(offer.id) }
            protocols.append(offer)
        }
        outcome = .accepted(protocols: protocols)
    }

    func validate() throws(WireError) {
        if peerID == .zero { throw .zeroPeerID }
        if case .accepted(let protocols) = outcome { try validateProtocolList(protocols.map(\.id)) }
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.write(peerID)
        writer.write(version)
        switch outcome {
        case .accepted(let protocols):
            writer.writeUInt8(1)
            writer.writeUInt8(DisconnectReason.none.rawValue)
            writer.writeUInt8(UInt8(protocols.count))
            for offer in protocols {
                offer.id.encode(into: &writer)
                writer.write(offer.version)
            }
        case .rejected(let reason):
            writer.writeUInt8(0)
            writer.writeUInt8(reason.rawValue)
            writer.writeUInt8(0)
        }
    }
}

/// Refuses, for encoding, a protocol list the decoder would refuse.
private func validateProtocolList(_ ids: [ProtocolID]) throws(WireError) {
    guard ids.count <= WireLimits.protocolsCountMax else { throw .tooManyProtocols(ids.count) }
    for (index, id) in ids.enumerated() where ids[..<index].contains(id) { throw .duplicateProtocolID(id) }
}

extension ByteReader {
    /// Reads a protocol count (≤ 32) and checks that the body can hold that many entries of at
    /// least `entrySizeMin` bytes, before anything is allocated for them.
    mutating func readProtocolCount(entrySizeMin: Int) throws(WireError) -> Int {
        let count = Int(try readUInt8())
        guard count <= WireLimits.protocolsCountMax else { throw .tooManyProtocols(count) }
        try require(count * entrySizeMin)
        return count
    }
}
