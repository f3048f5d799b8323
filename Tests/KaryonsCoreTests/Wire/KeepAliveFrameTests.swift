import Testing

@testable import KaryonsCore

/// `PingPayload(wholeFrame:)`, the receive path's shortcut for keep-alive frames: it must read
/// exactly what `encodeFrame` writes and leave everything else to the frame decoder. (The wire noise
/// test checks on a million mutations that it agrees with the decoder.)
@Suite struct KeepAliveFrameTests {
    private func frame(_ payload: PingPayload) -> [UInt8] {
        var writer = ByteWriter()
        payload.encodeFrame(into: &writer)
        return writer.takeBytes()
    }

    @Test("every Ping and Pong frame reads back as its payload", arguments: [UInt64(1), 2, 3, 4])
    func readsWhatEncodeFrameWrites(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let payload: PingPayload = rng.chance(0.5) ? .ping(.random(using: &rng)) : .pong(.random(using: &rng))
            let bytes = frame(payload)
            #expect(bytes.count == PingPayload.frameSize)
            #expect(bytes.withUnsafeBytes { PingPayload(wholeFrame: $0) } == payload)
        }
    }

    @Test("a Ping frame written directly is the Protocol frame of its payload")
    func encodeFrameIsTheProtocolFrame() throws {
        for payload in [PingPayload.ping(Nonce(1, 2, 3, 4)), .pong(Nonce(.max, 0, .max, 7))] {
            var payloadBytes = ByteWriter()
            payload.encode(into: &payloadBytes)
            var general = ByteWriter()
            try PeerMessage.protocol(id: .ping, payload: payloadBytes.takeBytes()).encodeFrame(into: &general)
            #expect(frame(payload) == general.takeBytes())
        }
    }

    @Test("part of a frame, more than one, another protocol or a malformed payload go to the decoder")
    func leavesEverythingElseToTheDecoder() throws {
        let ping = frame(.ping(Nonce(1, 2, 3, 4)))
        func shortcut(_ bytes: [UInt8]) -> PingPayload? { bytes.withUnsafeBytes { PingPayload(wholeFrame: $0) } }
        for count in 0..<ping.count { #expect(shortcut(Array(ping.prefix(count))) == nil, "the first \(count) bytes") }
        #expect(shortcut(ping + [0]) == nil, "a byte more")
        #expect(shortcut(ping + ping) == nil, "two frames")
        var otherProtocol = ByteWriter()
        try PeerMessage.protocol(id: "PONG", payload: PeerFixtures.ping(Nonce(1, 2, 3, 4))).encodeFrame(into: &otherProtocol)
        #expect(otherProtocol.bytes.count == ping.count)
        #expect(shortcut(otherProtocol.takeBytes()) == nil, "the same payload for another protocol")
        var unknownKind = ping
        unknownKind[PingPayload.frameSize - 33] = 2
        #expect(shortcut(unknownKind) == nil, "a payload kind that is neither ping nor pong")
        var wrongFrameKind = ping
        wrongFrameKind[4] = MessageKind.shutdown.rawValue
        #expect(shortcut(wrongFrameKind) == nil)
        var wrongLength = ping
        wrongLength[3] += 1
        #expect(shortcut(wrongLength) == nil, "a length prefix that does not match")
    }
}
