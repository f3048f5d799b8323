import Testing
@testable import KaryonsCore

/// Bad input at the wire level, one typed error each (RELIABILITY.md items 5-10; items 1, 3 and 4
/// are in FrameDecoderTests). Bodies are written out byte by byte, as an attacker would send them.
@Suite struct WireBadInputTests {
    static let idA = [UInt8](repeating: 0xAA, count: 32)
    static let nonce = Array(UInt8(0)..<32)
    static let version010: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    static let recordV4: [UInt8] = idA + [4, 127, 0, 0, 1, 0x75, 0x30, 0x75, 0x3A]
    static let ping: [UInt8] = [0x04] + Array("PING".utf8)

    static func lookup(_ kind: UInt8, _ body: [UInt8]) throws(WireError) -> LookupMessage {
        try LookupMessage(frame: Frame(kind: kind, body: body[...]))
    }

    static func peer(_ kind: UInt8, _ body: [UInt8]) throws(WireError) -> PeerMessage {
        try PeerMessage(frame: Frame(kind: kind, body: body[...]))
    }

    // MARK: 5. Empty bodies

    @Test func emptyBodiesAreTruncated() {
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.lookup(0x01, []) }
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.lookup(0x02, []) }
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.lookup(0x03, []) }
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.lookup(0x04, []) }
        #expect(throws: WireError.truncated(needed: 1, remaining: 0)) { try Self.lookup(0x05, []) }
        #expect(throws: WireError.truncated(needed: 1, remaining: 0)) { try Self.lookup(0x06, []) }
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.peer(0x10, []) }
        #expect(throws: WireError.truncated(needed: 32, remaining: 0)) { try Self.peer(0x11, []) }
        #expect(throws: WireError.truncated(needed: 1, remaining: 0)) { try Self.peer(0x12, []) }
        #expect(throws: WireError.truncated(needed: 1, remaining: 0)) { try Self.peer(0x06, []) }
        #expect(throws: WireError.truncated(needed: 1, remaining: 0)) { try PingPayload(parsing: []) }
    }

    @Test func aBodyCutShortAnywhereIsTruncated() {
        let body = Self.nonce + Self.version010
        for length in 0..<body.count {
            #expect(throws: WireError.self) { try Self.lookup(0x01, Array(body[..<length])) }
        }
        #expect(throws: WireError.truncated(needed: 12, remaining: 3)) { try Self.lookup(0x01, Self.nonce + [0, 0, 0]) }
        #expect(throws: WireError.truncated(needed: 2, remaining: 1)) { try Self.lookup(0x04, Array(Self.recordV4.dropLast(3))) }
    }

    // MARK: 6. Unknown kinds and out-of-range discriminants

    @Test(arguments: [0x00, 0x07, 0x0F, 0x13, 0x7F, 0xFF] as [UInt8])
    func unknownKindsAreRefusedOnBothPlanes(kind: UInt8) {
        #expect(throws: WireError.unknownKind(kind)) { try Self.lookup(kind, []) }
        #expect(throws: WireError.unknownKind(kind)) { try Self.peer(kind, []) }
    }

    @Test func kindsOfTheOtherPlaneAreRefused() {
        for kind in MessageKind.allCases {
            if !kind.isLookupPlane {
                #expect(throws: WireError.wrongPlane(kind)) { try Self.lookup(kind.rawValue, Self.nonce) }
            }
            if !kind.isPeerPlane {
                #expect(throws: WireError.wrongPlane(kind)) { try Self.peer(kind.rawValue, Self.nonce) }
            }
        }
        #expect(MessageKind.shutdown.isLookupPlane && MessageKind.shutdown.isPeerPlane)
    }

    @Test func outOfRangeDiscriminantsAreRefused() {
        #expect(throws: WireError.unknownReason(9)) { try Self.lookup(0x06, [9]) }
        #expect(throws: WireError.unknownReason(0xFF)) { try Self.peer(0x06, [0xFF]) }
        for family: UInt8 in [0, 5, 41, 0xFF] {
            #expect(throws: WireError.invalidAddressFamily(family)) {
                try Self.lookup(0x04, Self.idA + [family] + [UInt8](repeating: 0, count: 20))
            }
        }
        let verackHead = Self.idA + Self.version010
        #expect(throws: WireError.invalidFlag(2)) { try Self.peer(0x11, verackHead + [2, 0, 0]) }
        #expect(throws: WireError.unknownReason(9)) { try Self.peer(0x11, verackHead + [0, 9, 0]) }
        #expect(throws: WireError.reasonOnAcceptedVerack(.timeout)) { try Self.peer(0x11, verackHead + [1, 7, 0]) }
        #expect(throws: WireError.protocolsOnRejectedVerack(1)) { try Self.peer(0x11, verackHead + [0, 1, 1] + Self.ping) }
        #expect(throws: WireError.unknownPingKind(2)) { try PingPayload(parsing: [2] + Self.nonce) }
    }

    @Test(arguments: [0x00, 0x03, 0x10, 0xFF] as [UInt8])
    func refreshDatagramsOfUnknownKindAreRefused(kind: UInt8) {
        #expect(throws: WireError.unknownDatagramKind(kind)) { try RefreshDatagram(parsing: [kind] + Self.nonce) }
        #expect(throws: WireError.unknownDatagramKind(kind)) {
            try ([kind] + Self.nonce).withUnsafeBytes { try RefreshDatagram(parsing: $0) }
        }
    }

    @Test(arguments: [0, 1, 32, 34, 36, 1024, 65507])
    func refreshDatagramsOfTheWrongSizeAreRefused(size: Int) {
        let bytes = [UInt8](repeating: 0x01, count: size)
        #expect(throws: WireError.datagramSize(size)) { try RefreshDatagram(parsing: bytes) }
        #expect(throws: WireError.datagramSize(size)) { try bytes.withUnsafeBytes { try RefreshDatagram(parsing: $0) } }
    }

    // MARK: 7. Trailing bytes: refused (policy), and the exact message is accepted

    @Test func trailingBytesAreRefusedAfterEveryMessage() throws {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let message = WireSamples.lookupMessage(&rng)
            let frame = Array(WireSamples.encode(message).dropFirst(4))
            #expect(try Self.lookup(frame[0], Array(frame.dropFirst())) == message)
            #expect(throws: WireError.trailingBytes(1)) { try Self.lookup(frame[0], Array(frame.dropFirst()) + [0]) }
        }
        for _ in 0..<200 {
            let message = WireSamples.peerMessage(&rng)
            if case .protocol = message { continue }  // the payload is the rest of the frame
            let frame = Array(try WireSamples.encode(message).dropFirst(4))
            #expect(try Self.peer(frame[0], Array(frame.dropFirst())) == message)
            #expect(throws: WireError.trailingBytes(3)) { try Self.peer(frame[0], Array(frame.dropFirst()) + [0, 1, 2]) }
        }
        #expect(try PingPayload(parsing: [1] + Self.nonce) == .pong(Nonce.fixture))
        #expect(throws: WireError.trailingBytes(1)) { try PingPayload(parsing: [1] + Self.nonce + [0]) }
    }

    @Test func extraBytesOfAProtocolFrameBelongToItsPayload() throws {
        let message = try Self.peer(0x12, Self.ping + [1, 2, 3])
        #expect(message == .protocol(id: .ping, payload: [1, 2, 3]))
    }

    // MARK: 8. Counts far larger than the bytes left

    @Test func countsAreCheckedAgainstTheBodyBeforeAllocating() {
        // Peers: 10 records claimed in a 20-byte body; each needs at least 41 bytes.
        #expect(throws: WireError.truncated(needed: 410, remaining: 19)) {
            try Self.lookup(0x05, [10] + [UInt8](repeating: 0, count: 19))
        }
        #expect(throws: WireError.tooManyPeers(255)) { try Self.lookup(0x05, [255] + Self.recordV4) }
        // Version: 32 protocols claimed with none present; each needs at least 14 bytes.
        #expect(throws: WireError.truncated(needed: 32 * 14, remaining: 0)) {
            try Self.peer(0x10, Self.idA + Self.version010 + [32])
        }
        #expect(throws: WireError.tooManyProtocols(255)) { try Self.peer(0x10, Self.idA + Self.version010 + [255]) }
        #expect(throws: WireError.tooManyProtocols(33)) { try Self.peer(0x11, Self.idA + Self.version010 + [1, 0, 33]) }
        // Verack: each negotiated protocol needs at least 14 bytes too (ID and version).
        #expect(throws: WireError.truncated(needed: 32 * 14, remaining: 2)) {
            try Self.peer(0x11, Self.idA + Self.version010 + [1, 0, 32, 0x01, 0x41])
        }
    }

    // MARK: 9. Too many peers: the whole message is refused

    @Test func elevenPeersAreRefusedAndTenAccepted() throws {
        var rng = SplitMix64(seed: 11)
        var records: [UInt8] = []
        var expected: [PeerRecord] = []
        for _ in 0..<11 {
            let record = WireSamples.record(&rng)
            var writer = ByteWriter()
            record.encode(into: &writer)
            records += writer.bytes
            expected.append(record)
        }
        #expect(throws: WireError.tooManyPeers(11)) { try Self.lookup(0x05, [11] + records) }
        let tenBytes = records.count - expected[10].encodedSize
        #expect(try Self.lookup(0x05, [10] + Array(records[..<tenBytes])) == .peers(Array(expected.prefix(10))))
    }

    @Test func zeroPeerIDsAreRefusedWhereANodeIsNamed() throws {
        let zero = [UInt8](repeating: 0, count: 32)
        #expect(throws: WireError.zeroPeerID) { try Self.lookup(0x04, zero + Array(Self.recordV4.dropFirst(32))) }
        #expect(throws: WireError.zeroPeerID) { try Self.lookup(0x05, [1] + zero + Array(Self.recordV4.dropFirst(32))) }
        #expect(throws: WireError.zeroPeerID) { try Self.peer(0x10, zero + Self.version010 + [0]) }
        #expect(throws: WireError.zeroPeerID) { try Self.peer(0x11, zero + Self.version010 + [0, 0, 0]) }
        // A lookup target is any key, zero included.
        #expect(try Self.lookup(0x03, zero) == .findPeer(target: .zero))
    }

    // MARK: 10. Protocol IDs: bad bytes, bad lengths, duplicates

    @Test(arguments: [0x00, 0x20, 0x7F, 0x80, 0xC3, 0xFF] as [UInt8])
    func protocolIDsOutsideVisibleASCIIAreRefused(byte: UInt8) {
        #expect(throws: WireError.invalidProtocolIDByte(byte)) { try Self.peer(0x12, [3, 0x41, byte, 0x41]) }
        #expect(throws: WireError.invalidProtocolIDByte(byte)) { try ProtocolID(validating: [0x41, byte]) }
    }

    @Test func protocolIDLengthsOutside1To64AreRefused() throws {
        #expect(throws: WireError.invalidProtocolIDLength(0)) { try Self.peer(0x12, [0, 1, 2]) }
        #expect(throws: WireError.invalidProtocolIDLength(65)) {
            try Self.peer(0x12, [65] + [UInt8](repeating: 0x41, count: 65))
        }
        #expect(throws: WireError.invalidProtocolIDLength(255)) {
            try Self.peer(0x12, [255] + [UInt8](repeating: 0x41, count: 300))
        }
        #expect(throws: WireError.invalidProtocolIDLength(65536)) {
            try ProtocolID(validating: [UInt8](repeating: 0x41, count: 65536))
        }
        let longest = [UInt8](repeating: 0x7E, count: 64)
        #expect(try Self.peer(0x12, [64] + longest) == .protocol(id: try ProtocolID(validating: longest), payload: []))
        #expect(ProtocolID(name: "") == nil)
        #expect(ProtocolID(name: "CHÄT") == nil)
        #expect(ProtocolID(name: "CHAT")?.description == "CHAT")
    }

    @Test func duplicateProtocolIDsAreRefused() {
        let offer = Self.ping + Self.version010
        #expect(throws: WireError.duplicateProtocolID(.ping)) {
            try Self.peer(0x10, Self.idA + Self.version010 + [2] + offer + offer)
        }
        #expect(throws: WireError.duplicateProtocolID(.ping)) {
            try Self.peer(0x11, Self.idA + Self.version010 + [1, 0, 2] + offer + offer)
        }
    }

    // MARK: Encoding refuses what decoding would refuse, and writes nothing

    @Test func encodingRefusesWhatDecodingRefuses() throws {
        var rng = SplitMix64(seed: 5)
        var writer = ByteWriter()
        LookupMessage.shutdown(.none).encodeFrame(into: &writer)
        let before = writer.bytes
        let ids = WireSamples.protocolIDs(&rng, count: 33)
        let cases: [(PeerMessage, WireError)] = [
            (.version(VersionMessage(peerID: .fixtureA, version: Version(0, 1, 0),
                protocols: ids.map { ProtocolOffer(id: $0, version: Version(0, 1, 0)) })), .tooManyProtocols(33)),
            (.version(VersionMessage(peerID: .fixtureA, version: Version(0, 1, 0),
                protocols: [ProtocolOffer(id: .ping, version: Version(0, 1, 0)), ProtocolOffer(id: .ping, version: Version(0, 2, 0))])),
             .duplicateProtocolID(.ping)),
            (.version(VersionMessage(peerID: .zero, version: Version(0, 1, 0), protocols: [])), .zeroPeerID),
            (.verack(VerackMessage(peerID: .fixtureB, version: Version(0, 1, 0), outcome: .accepted(protocols: ids.map { ProtocolOffer(id: $0, version: Version(0, 1, 0)) }))),
             .tooManyProtocols(33)),
            (.verack(VerackMessage(peerID: .fixtureB, version: Version(0, 1, 0), outcome: .accepted(protocols: [ProtocolOffer(id: .ping, version: Version(0, 1, 0)), ProtocolOffer(id: .ping, version: Version(0, 2, 0))]))),
             .duplicateProtocolID(.ping)),
            (.verack(VerackMessage(peerID: .zero, version: Version(0, 1, 0), outcome: .rejected(.none))), .zeroPeerID),
            (.protocol(id: .ping, payload: [UInt8](repeating: 0, count: WireLimits.frameSizeMaxDefault)),
             .frameTooLarge(length: WireLimits.frameSizeMaxDefault + 6, max: WireLimits.frameSizeMaxDefault)),
        ]
        for (message, error) in cases {
            #expect(throws: error) { try message.encodeFrame(into: &writer) }
            #expect(writer.bytes == before)
        }
        #expect(throws: WireError.frameTooLarge(length: 4097, max: 4096)) {
            try PeerMessage.encodeProtocolFrame(id: "P", into: &writer, frameSizeMax: 4096) {
                $0.writeBytes([UInt8](repeating: 1, count: 4094))
            }
        }
        #expect(writer.bytes == before)
        #expect(throws: WireError.frameTooLarge(length: 2, max: 1)) {
            try PeerMessage.shutdown(.none).encodeFrame(into: &writer, frameSizeMax: 1)
        }
        #expect(writer.bytes == before)
        try PeerMessage.encodeProtocolFrame(id: "P", into: &writer, frameSizeMax: 4096) {
            $0.writeBytes([UInt8](repeating: 1, count: 4093))
        }
        #expect(writer.count == before.count + 4 + 4096)
    }
}
