import KaryonsCore

/// Wire format v1: encoding and decoding of a Peers frame (10 IPv4 records) and of Protocol frames
/// (64 B and 4 KiB payloads), and decoding a stream of 10,000 frames fed in 1 KiB chunks.
///
/// Encoders append to one `ByteWriter` emptied each time (capacity kept). Decoders parse from a
/// frame already in memory; the stream cases run the `FrameDecoder` over chunks, with and without
/// decoding each frame into a `PeerMessage` (which copies the payload out: one allocation).
public enum WireCases {
    /// Frames per stream pass.
    public static let streamFrameCount = 10_000
    /// Bytes per `feed` in the stream cases.
    public static let streamChunkSize = 1_024

    public static func cases(scale: Int = 1) -> [EngineCase] {
        precondition(scale >= 1, "BUG in Karyons benchmarks: scale \(scale)")
        let peers = LookupMessage.peers(sampleRecords(count: WireLimits.peersCountMax))
        let small = [UInt8](repeating: 0x5A, count: 64)
        let large = [UInt8](repeating: 0x5A, count: 4_096)
        return [
            encodeCase("peers-encode", "Peers frame, 10 IPv4 records: encode", count: 1_000_000 / scale) { writer in
                peers.encodeFrame(into: &writer)
            },
            decodeCase("peers-decode", "Peers frame, 10 IPv4 records: decode", count: 1_000_000 / scale,
                       frame: frameBytes { peers.encodeFrame(into: &$0) }) { frame throws(WireError) in
                guard case .peers(let records) = try LookupMessage(frame: frame) else { return 0 }
                return records.count
            },
            protocolEncodeCase(payload: small, count: 1_000_000 / scale),
            protocolDecodeCase(payload: small, count: 1_000_000 / scale),
            protocolEncodeCase(payload: large, count: 200_000 / scale),
            protocolDecodeCase(payload: large, count: 200_000 / scale),
            streamCase(decodingMessages: false, passes: max(1, 20 / scale), payload: small),
            streamCase(decodingMessages: true, passes: max(1, 20 / scale), payload: small),
        ]
    }

    /// `count` distinct records with IPv4 addresses, as a lookup reply carries them.
    static func sampleRecords(count: Int) -> [PeerRecord] {
        var generator = SplitMix64(seed: 0x3EE5)
        return (0..<count).map { index in
            PeerRecord(
                id: PeerID(generator.next() | 1, generator.next(), generator.next(), generator.next()),
                address: .v4(0x0A00_0001 &+ UInt32(index) << 8), port: 3000, discoveryPort: 3010)
        }
    }

    static func frameBytes(_ encode: (inout ByteWriter) throws(WireError) -> Void) -> [UInt8] {
        var writer = ByteWriter()
        do {
            try encode(&writer)
        } catch {
            preconditionFailure("BUG in Karyons benchmarks: sample frame does not encode: \(error)")
        }
        return writer.takeBytes()
    }

    static func encodeCase(
        _ name: String, _ label: String, count: Int, _ encode: @escaping (inout ByteWriter) throws(WireError) -> Void
    ) -> EngineCase {
        EngineCase(group: "wire", name: name, label: label, operations: count) { stopwatch in
            var writer = ByteWriter(capacity: 8_192)
            let (bytes, failures) = stopwatch.measure {
                var bytes = 0, failures = 0
                for _ in 0..<count {
                    writer.removeAll()
                    do { try encode(&writer) } catch { failures += 1 }
                    bytes &+= writer.count
                }
                return (bytes, failures)
            }
            return "bytes=\(bytes)" + (failures > 0 ? " FAILURES=\(failures)" : "")
        }
    }

    static func decodeCase(
        _ name: String, _ label: String, count: Int, frame bytes: [UInt8],
        _ decode: @escaping (Frame) throws(WireError) -> Int
    ) -> EngineCase {
        let frame = Frame(kind: bytes[WireLimits.lengthPrefixSize], body: bytes[(WireLimits.lengthPrefixSize + 1)...])
        return EngineCase(group: "wire", name: name, label: label, operations: count) { stopwatch in
            let (items, failures) = stopwatch.measure {
                var items = 0, failures = 0
                for _ in 0..<count {
                    do { items &+= try decode(frame) } catch { failures += 1 }
                }
                return (items, failures)
            }
            return "items=\(items)" + (failures > 0 ? " FAILURES=\(failures)" : "")
        }
    }

    static let benchProtocol: ProtocolID = "bench"

    static func protocolEncodeCase(payload: [UInt8], count: Int) -> EngineCase {
        encodeCase("protocol\(sizeName(payload))-encode", "Protocol frame, \(sizeName(payload)) payload: encode", count: count) {
            writer throws(WireError) in
            try PeerMessage.encodeProtocolFrame(id: benchProtocol, payload: payload[...], into: &writer)
        }
    }

    static func protocolDecodeCase(payload: [UInt8], count: Int) -> EngineCase {
        let bytes = frameBytes { writer throws(WireError) in
            try PeerMessage.encodeProtocolFrame(id: benchProtocol, payload: payload[...], into: &writer)
        }
        return decodeCase("protocol\(sizeName(payload))-decode", "Protocol frame, \(sizeName(payload)) payload: decode",
                          count: count, frame: bytes) { frame throws(WireError) in
            guard case .protocol(_, let received) = try PeerMessage(frame: frame) else { return 0 }
            return received.count
        }
    }

    static func sizeName(_ payload: [UInt8]) -> String {
        payload.count >= 1_024 ? "\(payload.count / 1_024)KiB" : "\(payload.count)B"
    }

    /// A stream of `streamFrameCount` Protocol frames, fed in 1 KiB chunks to a fresh decoder per
    /// pass; operations are frames.
    static func streamCase(decodingMessages: Bool, passes: Int, payload: [UInt8]) -> EngineCase {
        let one = frameBytes { writer throws(WireError) in
            try PeerMessage.encodeProtocolFrame(id: benchProtocol, payload: payload[...], into: &writer)
        }
        let stream = [UInt8]((0..<streamFrameCount).lazy.flatMap { _ in one })
        let name = decodingMessages ? "stream-messages" : "stream-frames"
        let label = "10,000 Protocol \(sizeName(payload)) frames in 1 KiB chunks: "
            + (decodingMessages ? "frames + PeerMessage" : "frames only")
        return EngineCase(group: "wire", name: name, label: label, operations: passes * streamFrameCount) { stopwatch in
            let (frames, failures) = stopwatch.measure {
                var frames = 0, failures = 0
                stream.withUnsafeBytes { bytes in
                    for _ in 0..<passes {
                        var decoder = FrameDecoder()
                        var offset = 0
                        while offset < bytes.count {
                            let end = min(offset + streamChunkSize, bytes.count)
                            decoder.feed(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                            offset = end
                            do {
                                if decodingMessages {
                                    while try decoder.nextPeerMessage() != nil { frames += 1 }
                                } else {
                                    while try decoder.nextFrame() != nil { frames += 1 }
                                }
                            } catch {
                                failures += 1
                            }
                        }
                    }
                }
                return (frames, failures)
            }
            return "frames=\(frames)" + (failures > 0 ? " FAILURES=\(failures)" : "")
        }
    }
}
