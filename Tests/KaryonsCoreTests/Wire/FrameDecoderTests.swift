import Testing
@testable import KaryonsCore

/// The incremental frame decoder: chunking independence, limits before allocation, poisoning, and
/// buffer housekeeping (RELIABILITY.md items 1, 3, 4, 5).
@Suite struct FrameDecoderTests {
    /// A stream of random lookup and peer frames and the frames it holds.
    static func randomStream(seed: UInt64, count: Int) throws -> (stream: [UInt8], frames: [Frame]) {
        var rng = SplitMix64(seed: seed)
        var writer = ByteWriter()
        var frames: [Frame] = []
        for _ in 0..<count {
            let start = writer.count
            if rng.chance(0.5) {
                WireSamples.lookupMessage(&rng).encodeFrame(into: &writer)
            } else {
                try WireSamples.peerMessage(&rng).encodeFrame(into: &writer)
            }
            let frame = Array(writer.bytes[(start + 4)...])
            frames.append(Frame(kind: frame[0], body: frame[1...]))
        }
        return (writer.bytes, frames)
    }

    static func randomChunkSizes(_ rng: inout SplitMix64, total: Int) -> [Int] {
        var sizes: [Int] = []
        var covered = 0
        while covered < total {
            let size = rng.chance(0.1) ? 1 + rng.index(below: 5000) : 1 + rng.index(below: 64)
            sizes.append(size)
            covered += size
        }
        return sizes
    }

    @Test(arguments: 0..<40)
    func anyChunkingYieldsTheSameFrames(seed: UInt64) throws {
        let (stream, expected) = try Self.randomStream(seed: seed, count: 30)
        var rng = SplitMix64(seed: seed ^ 0xC0FFEE)
        let allAtOnce = try decodeFrames(stream, chunkSizes: [stream.count])
        let byteAtATime = try decodeFrames(stream, chunkSizes: Array(repeating: 1, count: stream.count))
        let randomChunks = try decodeFrames(stream, chunkSizes: Self.randomChunkSizes(&rng, total: stream.count))
        #expect(allAtOnce == expected)
        #expect(byteAtATime == expected)
        #expect(randomChunks == expected)
    }

    /// `holdsInput` is a stored flag the keep-alive shortcut reads instead of the buffer: it must
    /// say exactly whether bytes are unread or the framing failed, after every call.
    @Test(arguments: 0..<20)
    func holdsInputSaysWhetherBytesWaitOrFramingFailed(seed: UInt64) throws {
        let (stream, _) = try Self.randomStream(seed: seed, count: 20)
        var rng = SplitMix64(seed: seed ^ 0xF1A6)
        // Every fourth seed ends in a zero length prefix, which poisons the decoder.
        let input = seed % 4 == 3 ? stream + [0, 0, 0, 0, 1] : stream
        var decoder = FrameDecoder()
        func matches() -> Bool { decoder.holdsInput == (decoder.bufferedByteCount > 0 || decoder.framingError != nil) }
        #expect(matches())
        var start = 0
        for size in Self.randomChunkSizes(&rng, total: input.count) {
            let end = min(input.count, start + size)
            decoder.feed(input[start..<end])
            start = end
            #expect(matches(), "after feeding up to byte \(start)")
            while let _ = try? decoder.nextFrame() { #expect(matches(), "after a frame, fed up to byte \(start)") }
            #expect(matches(), "after the frames, fed up to byte \(start)")
        }
        #expect(decoder.holdsInput == (seed % 4 == 3), "all read, unless the framing failed")
    }

    @Test(arguments: 0..<20)
    func coalescedFramesWithAPartialLastOneAreDeliveredInOrder(seed: UInt64) throws {
        let (stream, expected) = try Self.randomStream(seed: seed, count: 12)
        var rng = SplitMix64(seed: seed)
        let lastFrameSize = 4 + 1 + expected.last!.body.count
        let cut = stream.count - 1 - rng.index(below: lastFrameSize)  // inside the last frame
        var decoder = FrameDecoder()
        decoder.feed(stream[..<cut])
        var frames: [Frame] = []
        while let frame = try decoder.nextFrame() { frames.append(Frame(kind: frame.kind, body: ArraySlice(Array(frame.body)))) }
        #expect(frames == Array(expected.dropLast()))
        #expect(decoder.bufferedByteCount == cut - (stream.count - lastFrameSize))
        decoder.feed(stream[cut...])
        let last = try #require(try decoder.nextFrame())
        #expect(Frame(kind: last.kind, body: ArraySlice(Array(last.body))) == expected.last)
        #expect(try decoder.nextFrame() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test(arguments: [UInt32.max, UInt32(WireLimits.frameSizeMaxDefault + 1), UInt32(1 << 31)])
    func anOversizedLengthIsRefusedFromItsPrefixAlone(length: UInt32) throws {
        var decoder = FrameDecoder()
        decoder.feed([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF)])
        #expect(try decoder.nextFrame() == nil)
        decoder.feed([UInt8(length & 0xFF), 0x12])
        let expected = WireError.frameTooLarge(length: Int(length), max: WireLimits.frameSizeMaxDefault)
        #expect(throws: expected) { try decoder.nextFrame() }
        // Poisoned: the buffer is released, later input is discarded, the error repeats.
        #expect(decoder.bufferedByteCount == 0)
        decoder.feed([UInt8](repeating: 0, count: 100))
        #expect(decoder.bufferedByteCount == 0)
        #expect(decoder.framingError == expected)
        #expect(throws: expected) { try decoder.nextPeerMessage() }
    }

    @Test func aZeroLengthFrameIsRefused() throws {
        var decoder = FrameDecoder()
        decoder.feed([0, 0, 0, 0, 0x01])
        #expect(throws: WireError.frameLengthZero) { try decoder.nextFrame() }
        #expect(throws: WireError.frameLengthZero) { try decoder.nextLookupMessage() }
    }

    @Test func frameSizeMaxIsInclusiveAndConfigurable() throws {
        let max = WireLimits.frameSizeMaxFloor
        let atLimit = PeerMessage.protocol(id: "P", payload: [UInt8](repeating: 7, count: max - 3))
        #expect(atLimit.frameLength == max)
        var writer = ByteWriter()
        try atLimit.encodeFrame(into: &writer, frameSizeMax: max)
        var decoder = FrameDecoder(frameSizeMax: max)
        decoder.feed(writer.bytes)
        #expect(try decoder.nextPeerMessage() == atLimit)

        let overLimit = PeerMessage.protocol(id: "P", payload: [UInt8](repeating: 7, count: max - 2))
        writer.removeAll()
        try overLimit.encodeFrame(into: &writer)  // fits the default limit
        var strict = FrameDecoder(frameSizeMax: max)
        strict.feed(writer.bytes)
        #expect(throws: WireError.frameTooLarge(length: max + 1, max: max)) { try strict.nextFrame() }
    }

    @Test func theDefaultLimitIsOneMebibyte() throws {
        #expect(FrameDecoder().frameSizeMax == 1_048_576)
        let payload = [UInt8](repeating: 0x5A, count: (1 << 20) - 5)  // kind 1 + ID 1 + 3
        let message = PeerMessage.protocol(id: "BIG", payload: payload)
        #expect(message.frameLength == 1 << 20)
        let bytes = try WireSamples.encode(message)
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(try decoder.nextPeerMessage() == message)
    }

    @Test func aMessageErrorConsumesOnlyItsFrame() throws {
        var decoder = FrameDecoder()
        decoder.feed([0, 0, 0, 1, 0x7F] + WireSamples.encode(LookupMessage.shutdown(.none)))
        #expect(throws: WireError.unknownKind(0x7F)) { try decoder.nextLookupMessage() }
        #expect(try decoder.nextLookupMessage() == .shutdown(.none))
        #expect(decoder.framingError == nil)
    }

    @Test func feedingFromARawBufferMatchesFeedingAnArray() throws {
        let (stream, expected) = try Self.randomStream(seed: 99, count: 20)
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 700, stream.count)
            stream[offset..<end].withUnsafeBytes { decoder.feed($0) }
            offset = end
            while let frame = try decoder.nextFrame() { frames.append(Frame(kind: frame.kind, body: ArraySlice(Array(frame.body)))) }
        }
        #expect(frames == expected)
    }

    @Test func theBufferIsCompactedAndReleased() throws {
        // 10,000 small frames fed in 1 KiB chunks: the buffer never holds more than a chunk plus a frame.
        var writer = ByteWriter()
        for index in 0..<10_000 { LookupMessage.shutdown(DisconnectReason(rawValue: UInt8(index % 9))!).encodeFrame(into: &writer) }
        var decoder = FrameDecoder()
        var count = 0, bufferedMax = 0
        var offset = 0
        while offset < writer.count {
            let end = min(offset + 1024, writer.count)
            decoder.feed(writer.bytes[offset..<end])
            offset = end
            bufferedMax = max(bufferedMax, decoder.bufferedByteCount)
            while try decoder.nextLookupMessage() != nil { count += 1 }
        }
        #expect(count == 10_000)
        #expect(bufferedMax <= 1024 + 6)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func aLargeBufferIsReleasedOnceEmptyAndASmallOneKept() throws {
        var decoder = FrameDecoder()
        let big = try WireSamples.encode(PeerMessage.protocol(id: "BIG", payload: [UInt8](repeating: 1, count: 500_000)))
        decoder.feed(big)
        #expect(try decoder.nextFrame() != nil)
        #expect(decoder.bufferCapacity >= 500_000)
        let small = WireSamples.encode(LookupMessage.shutdown(.none))
        decoder.feed(small)
        #expect(decoder.bufferCapacity <= FrameDecoder.retainedCapacityMax)
        #expect(try decoder.nextLookupMessage() == .shutdown(.none))
        decoder.feed(small)
        let kept = decoder.bufferCapacity
        #expect(kept > 0)
        #expect(try decoder.nextLookupMessage() == .shutdown(.none))
        decoder.feed(small)
        #expect(decoder.bufferCapacity == kept)
    }
}
