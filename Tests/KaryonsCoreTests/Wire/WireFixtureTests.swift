import Testing
@testable import KaryonsCore

/// Golden vectors, checked both ways: encoding the value gives the fixture bytes, and decoding the
/// fixture bytes (through the frame decoder) gives the value.
@Suite struct WireFixtureTests {
    static let recordA = PeerRecord(id: .fixtureA, address: .loopbackV4, port: 30000, discoveryPort: 30010)
    static let recordB = PeerRecord(id: .fixtureB, address: IPAddress("2001:db8::1")!, port: 0, discoveryPort: 65535)

    static let lookupVectors: [(file: String, name: String, message: LookupMessage)] = [
        ("lookup-ping.hex", "ping-N-0.1.0", .ping(nonce: .fixture, version: Version(0, 1, 0))),
        ("lookup-ping.hex", "ping-N-max", .ping(nonce: .fixture, version: Version(UInt32.max, 2, 65536))),
        ("lookup-pong.hex", "pong-N", .pong(nonce: .fixture)),
        ("lookup-findpeer.hex", "findpeer-B", .findPeer(target: .fixtureB)),
        ("lookup-peer.hex", "peer-A-v4", .peer(recordA)),
        ("lookup-peer.hex", "peer-B-v6", .peer(recordB)),
        ("lookup-peers.hex", "peers-empty", .peers([])),
        ("lookup-peers.hex", "peers-A-B", .peers([recordA, recordB])),
        ("lookup-shutdown.hex", "shutdown-none", .shutdown(.none)),
        ("lookup-shutdown.hex", "shutdown-shutting-down", .shutdown(.shuttingDown)),
    ]

    static let peerVectors: [(file: String, name: String, message: PeerMessage)] = [
        ("peer-version.hex", "version-A-ping-chat", .version(VersionMessage(
            peerID: .fixtureA, version: Version(0, 2, 0),
            protocols: [ProtocolOffer(id: .ping, version: Version(0, 1, 0)), ProtocolOffer(id: "CHAT", version: Version(1, 2, 3))]))),
        ("peer-version.hex", "version-A-none", .version(VersionMessage(peerID: .fixtureA, version: Version(0, 1, 0), protocols: []))),
        ("peer-verack.hex", "verack-B-accepted-ping", .verack(VerackMessage(
            peerID: .fixtureB, version: Version(0, 1, 0),
            outcome: .accepted(protocols: [ProtocolOffer(id: .ping, version: Version(0, 1, 0))])))),
        ("peer-verack.hex", "verack-B-rejected-incompatible", .verack(VerackMessage(
            peerID: .fixtureB, version: Version(1, 0, 0), outcome: .rejected(.incompatibleVersion)))),
        ("peer-protocol.hex", "protocol-ping-N", .protocol(id: .ping, payload: [0] + Nonce.fixture.bytes)),
        ("peer-protocol.hex", "protocol-chat-hi", .protocol(id: "CHAT", payload: Array("hi".utf8))),
        ("peer-protocol.hex", "protocol-chat-empty", .protocol(id: "CHAT", payload: [])),
        ("peer-shutdown.hex", "shutdown-duplicate-peer", .shutdown(.duplicatePeer)),
        ("peer-shutdown.hex", "shutdown-malformed-message", .shutdown(.malformedMessage)),
    ]

    @Test(arguments: lookupVectors.indices)
    func lookupMessageMatchesFixture(index: Int) throws {
        let (file, name, message) = Self.lookupVectors[index]
        let fixture = try HexFixtures.vector(name, in: file)
        #expect(WireSamples.encode(message) == fixture, "\(file) \(name)")
        #expect(message.frameLength == fixture.count - WireLimits.lengthPrefixSize)
        var decoder = FrameDecoder()
        decoder.feed(fixture)
        #expect(try decoder.nextLookupMessage() == message, "\(file) \(name)")
        #expect(try decoder.nextFrame() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test(arguments: peerVectors.indices)
    func peerMessageMatchesFixture(index: Int) throws {
        let (file, name, message) = Self.peerVectors[index]
        let fixture = try HexFixtures.vector(name, in: file)
        #expect(try WireSamples.encode(message) == fixture, "\(file) \(name)")
        #expect(message.frameLength == fixture.count - WireLimits.lengthPrefixSize)
        var decoder = FrameDecoder()
        decoder.feed(fixture)
        #expect(try decoder.nextPeerMessage() == message, "\(file) \(name)")
        #expect(try decoder.nextFrame() == nil)
    }

    @Test func shutdownHasOneEncodingOnBothPlanes() throws {
        for reason in DisconnectReason.allCases {
            var peerWriter = ByteWriter()
            try PeerMessage.shutdown(reason).encodeFrame(into: &peerWriter)
            #expect(peerWriter.bytes == WireSamples.encode(LookupMessage.shutdown(reason)))
            #expect(peerWriter.bytes == [0, 0, 0, 2, 0x06, reason.rawValue])
        }
    }

    @Test func protocolFrameHelpersMatchFixture() throws {
        let fixture = try HexFixtures.vector("protocol-ping-N", in: "peer-protocol.hex")
        var writer = ByteWriter()
        PingPayload.ping(.fixture).encodeFrame(into: &writer)
        #expect(writer.bytes == fixture)
        writer.removeAll()
        try PeerMessage.encodeProtocolFrame(id: .ping, into: &writer) { PingPayload.ping(.fixture).encode(into: &$0) }
        #expect(writer.bytes == fixture)
        writer.removeAll()
        try PeerMessage.encodeProtocolFrame(id: .ping, payload: ([0] + Nonce.fixture.bytes)[...], into: &writer)
        #expect(writer.bytes == fixture)
    }

    @Test func refreshDatagramsMatchFixture() throws {
        for (name, datagram) in [("ping-N", RefreshDatagram.ping(.fixture)), ("pong-N", .pong(.fixture))] {
            let fixture = try HexFixtures.vector(name, in: "refresh-datagram.hex")
            var writer = ByteWriter()
            datagram.encode(into: &writer)
            #expect(writer.bytes == fixture)
            #expect(fixture.count == RefreshDatagram.size)
            #expect(try RefreshDatagram(parsing: fixture) == datagram)
            #expect(try fixture.withUnsafeBytes { try RefreshDatagram(parsing: $0) } == datagram)
        }
    }

    @Test func pingPayloadsMatchFixture() throws {
        for (name, payload) in [("ping-N", PingPayload.ping(.fixture)), ("pong-N", .pong(.fixture))] {
            let fixture = try HexFixtures.vector(name, in: "ping-payload.hex")
            var writer = ByteWriter()
            payload.encode(into: &writer)
            #expect(writer.bytes == fixture)
            #expect(try PingPayload(parsing: fixture) == payload)
        }
    }

    @Test func everyMessageKindHasAFixture() throws {
        var kinds: Set<MessageKind> = []
        for vector in Self.lookupVectors { kinds.insert(vector.message.kind) }
        for vector in Self.peerVectors { kinds.insert(vector.message.kind) }
        #expect(kinds == Set(MessageKind.allCases))
    }
}
