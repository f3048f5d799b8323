import Testing
@testable import KaryonsCore

/// Property tests over random messages: encode then decode gives the value back, for many seeds.
@Suite struct WireRoundTripTests {
    @Test(arguments: 0..<100)
    func lookupMessagesRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<50 {
            let message = WireSamples.lookupMessage(&rng)
            let bytes = WireSamples.encode(message)
            #expect(bytes.count == WireLimits.lengthPrefixSize + message.frameLength)
            var decoder = FrameDecoder()
            decoder.feed(bytes)
            #expect(try decoder.nextLookupMessage() == message)
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test(arguments: 0..<100)
    func peerMessagesRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<50 {
            let message = WireSamples.peerMessage(&rng)
            let bytes = try WireSamples.encode(message)
            #expect(bytes.count == WireLimits.lengthPrefixSize + message.frameLength)
            var decoder = FrameDecoder()
            decoder.feed(bytes)
            #expect(try decoder.nextPeerMessage() == message)
            #expect(decoder.bufferedByteCount == 0)
        }
    }

    @Test(arguments: 0..<20)
    func datagramsAndPingPayloadsRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<50 {
            let nonce = Nonce.random(using: &rng)
            let datagram: RefreshDatagram = rng.chance(0.5) ? .ping(nonce) : .pong(nonce)
            var writer = ByteWriter()
            datagram.encode(into: &writer)
            #expect(try RefreshDatagram(parsing: writer.bytes) == datagram)
            #expect(datagram.nonce == nonce)
            let payload: PingPayload = rng.chance(0.5) ? .ping(nonce) : .pong(nonce)
            writer.removeAll()
            payload.encode(into: &writer)
            #expect(try PingPayload(parsing: writer.bytes) == payload)
            #expect(Nonce(bytes: nonce.bytes) == nonce)
        }
    }

    @Test(arguments: 0..<20)
    func recordsRoundTripAndHaveTheirDeclaredSize(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<50 {
            let record = WireSamples.record(&rng)
            var writer = ByteWriter()
            record.encode(into: &writer)
            #expect(writer.count == record.encodedSize)
            var reader = ByteReader(writer.bytes)
            #expect(try PeerRecord(reading: &reader) == record)
            #expect(reader.isAtEnd)
        }
    }

    @Test func largestControlFrameFitsTheFloor() throws {
        var rng = SplitMix64(seed: 7)
        let ids = (0..<WireLimits.protocolsCountMax).map { index in
            try! ProtocolID(validating: [UInt8(0x21 + index)] + [UInt8](repeating: 0x41, count: ProtocolID.lengthMax - 1))
        }
        let message = PeerMessage.version(VersionMessage(
            peerID: WireSamples.peerID(&rng), version: Version(1, 2, 3),
            protocols: ids.map { ProtocolOffer(id: $0, version: Version(UInt32.max, 0, 1)) }))
        #expect(message.frameLength == WireLimits.controlFrameSizeMax)
        #expect(WireLimits.controlFrameSizeMax <= WireLimits.frameSizeMaxFloor)
        var writer = ByteWriter()
        try message.encodeFrame(into: &writer, frameSizeMax: WireLimits.frameSizeMaxFloor)
        var decoder = FrameDecoder(frameSizeMax: WireLimits.frameSizeMaxFloor)
        decoder.feed(writer.bytes)
        #expect(try decoder.nextPeerMessage() == message)
    }

    @Test func aWriterCanBeReusedAndHandedOut() throws {
        var writer = ByteWriter(capacity: 256)
        LookupMessage.pong(nonce: .fixture).encodeFrame(into: &writer)
        LookupMessage.shutdown(.none).encodeFrame(into: &writer)
        #expect(writer.count == 37 + 6)
        let bytes = writer.takeBytes()
        #expect(writer.count == 0)
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(try decoder.nextLookupMessage() == .pong(nonce: .fixture))
        #expect(try decoder.nextLookupMessage() == .shutdown(.none))
        var reused = ByteWriter(appendingTo: bytes)
        reused.removeAll()
        LookupMessage.shutdown(.timeout).encodeFrame(into: &reused)
        #expect(reused.bytes == [0, 0, 0, 2, 6, 7])
    }
}
