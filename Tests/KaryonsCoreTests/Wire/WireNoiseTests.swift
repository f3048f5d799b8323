import XCTest
@testable import KaryonsCore

/// 1,000,000 short byte strings — pure noise and structured mutations of valid encodings — fed to
/// every wire decoder (frame decoder, both planes, refresh datagram, Ping payload, PeerRecord), and
/// one in eight of them to the text parsers (Endpoint, ProtocolVersion, VersionRequirement).
/// Nothing may trap; since every v1 encoding is canonical, whatever decodes must re-encode to
/// exactly the bytes it came from, and parsed text must print and parse back to the same value.
///
/// XCTest rather than Swift Testing on purpose: Swift Testing captures a backtrace for every thrown
/// error (to report it), which makes a million refused inputs cost minutes instead of seconds.
final class WireNoiseTests: XCTestCase {
    static let shardCount = 4
    static let stringsPerShard = 1_000_000 / shardCount

    /// What one shard saw: inputs accepted by at least one decoder, and inputs refused by all.
    struct Outcome: Sendable {
        var acceptedMutations = 0, refusedMutations = 0, acceptedNoise = 0, acceptedTexts = 0
    }

    static func runShard(_ shard: Int) -> Outcome {
        var rng = SplitMix64(seed: 0x5EED_0000 + UInt64(shard))
        let pool = try! WireNoise.pool(&rng)
        var outcome = Outcome()
        for index in 0..<stringsPerShard {
            let isNoise = rng.chance(0.5)
            let bytes = isNoise ? WireNoise.noise(&rng) : WireNoise.mutate(pool[rng.index(below: pool.count)], &rng)
            let accepted = WireNoise.feedEverywhere(bytes) > 0
            switch (isNoise, accepted) {
            case (true, true): outcome.acceptedNoise += 1
            case (true, false): break
            case (false, true): outcome.acceptedMutations += 1
            case (false, false): outcome.refusedMutations += 1
            }
            if index % WireNoise.textShare == 0 && WireNoise.feedTextParsers(bytes) > 0 { outcome.acceptedTexts += 1 }
        }
        return outcome
    }

    func testMillionShortStringsNeverTrapAndWhatDecodesIsCanonical() throws {
        let outcomes = UnsafeMutableBufferPointer<Outcome>.allocate(capacity: Self.shardCount)
        defer { outcomes.deallocate() }
        let base = UInt(bitPattern: outcomes.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: Self.shardCount) { shard in
            UnsafeMutablePointer<Outcome>(bitPattern: base)!.advanced(by: shard).initialize(to: Self.runShard(shard))
        }
        for outcome in outcomes {
            // Both outcomes occur, so the canonical-encoding checks actually ran.
            XCTAssertGreaterThan(outcome.acceptedMutations, 1_000)
            XCTAssertGreaterThan(outcome.refusedMutations, 1_000)
            XCTAssertGreaterThan(outcome.acceptedNoise, 10)
            XCTAssertGreaterThan(outcome.acceptedTexts, 10)
        }
    }
}

enum WireNoise {

    /// Valid encodings to mutate: frames (with length prefix), datagrams, payloads, records, text.
    static func pool(_ rng: inout SplitMix64) throws -> [[UInt8]] {
        var pool: [[UInt8]] = []
        for _ in 0..<60 {
            pool.append(WireSamples.encode(WireSamples.lookupMessage(&rng)))
            var message = WireSamples.peerMessage(&rng)
            if case .protocol(let id, let payload) = message, payload.count > 64 {
                message = .protocol(id: id, payload: Array(payload.prefix(16)))
            }
            if case .version(var version) = message {
                version.protocols = Array(version.protocols.prefix(3))
                message = .version(version)
            }
            pool.append(try WireSamples.encode(message))
            var writer = ByteWriter()
            RefreshDatagram.ping(.random(using: &rng)).encode(into: &writer)
            PingPayload.pong(.random(using: &rng)).encode(into: &writer)
            pool.append(Array(writer.bytes[..<33]))
            pool.append(Array(writer.bytes[33...]))
            var keepAlive = ByteWriter()
            (rng.chance(0.5) ? PingPayload.ping(.random(using: &rng)) : .pong(.random(using: &rng))).encodeFrame(into: &keepAlive)
            pool.append(keepAlive.takeBytes())
        }
        let texts = ["tcp://127.0.0.1:30000", "udp://[2001:db8::1]:9", "0.2.0, >=0.1.0, <0.3.0", "^0.0.3", "1.*", "~1.2.3"]
        pool += texts.map { Array($0.utf8) }
        return pool
    }

    static func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<(1 + rng.index(below: 3)) {
            let position = bytes.isEmpty ? 0 : rng.index(below: bytes.count)
            switch rng.index(below: 7) {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1) << UInt8(rng.index(below: 8))
            case 1 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
            case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
            case 3 where !bytes.isEmpty: bytes.remove(at: position)
            case 4: bytes.removeLast(rng.index(below: bytes.count + 1))
            case 5 where bytes.count >= 5: bytes[4] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x11, 0x12][rng.index(below: 9)]
            default:
                // Rewrite the length prefix to match a shortened or lengthened body, to get past framing.
                if bytes.count >= 5 {
                    let length = UInt32(bytes.count - 4)
                    bytes.replaceSubrange(0..<4, with: [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)])
                }
            }
        }
        return bytes
    }

    static func noise(_ rng: inout SplitMix64) -> [UInt8] {
        let count = rng.index(below: 48)
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            var index = 0
            while index < count {
                var word = rng.next()
                for _ in 0..<min(8, count - index) {
                    raw[index] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    index += 1
                }
            }
        }
        if count >= 5 && rng.chance(0.5) {
            // A plausible frame header: the right length and a real kind.
            bytes[0] = 0
            bytes[1] = 0
            bytes[2] = 0
            bytes[3] = UInt8(count - 4)
            bytes[4] = [0x01, 0x05, 0x06, 0x10, 0x11, 0x12][rng.index(below: 6)]
        }
        return bytes
    }

    /// What one string did: how many decoders accepted it.
    static func feedEverywhere(_ bytes: [UInt8]) -> Int {
        var accepted = 0
        if bytes.count >= 5 {
            let frame = Frame(kind: bytes[4], body: bytes[5...])
            if let message = try? LookupMessage(frame: frame) {
                precondition(WireSamples.encode(message).dropFirst(4) == bytes[4...])
                accepted += 1
            }
            if let message = try? PeerMessage(frame: frame) {
                precondition((try? WireSamples.encode(message))?.dropFirst(4) == bytes[4...])
                accepted += 1
            }
        }
        var decoder = FrameDecoder(frameSizeMax: WireLimits.frameSizeMaxFloor)
        decoder.feed(bytes)
        while let frame = try? decoder.nextFrame() {
            _ = try? LookupMessage(frame: frame)
            _ = try? PeerMessage(frame: frame)
        }
        if let datagram = try? RefreshDatagram(parsing: bytes) {
            var writer = ByteWriter()
            datagram.encode(into: &writer)
            precondition(writer.bytes == bytes)
            accepted += 1
        }
        if let payload = try? PingPayload(parsing: bytes) {
            var writer = ByteWriter()
            payload.encode(into: &writer)
            precondition(writer.bytes == bytes)
            accepted += 1
        }
        // The receive path's keep-alive shortcut takes exactly the inputs that are one frame the
        // general path decodes to a Ping-protocol payload, and reads the same payload from them.
        let shortcut = bytes.withUnsafeBytes { PingPayload(wholeFrame: $0) }
        var general = FrameDecoder(frameSizeMax: WireLimits.frameSizeMaxFloor)
        general.feed(bytes)
        var throughDecoder: PingPayload?
        if let frame = try? general.nextFrame(), general.bufferedByteCount == 0,
            case .protocol(.ping, let payload)? = try? PeerMessage(frame: frame)
        {
            throughDecoder = try? PingPayload(parsing: payload)
        }
        precondition(shortcut == throughDecoder, "keep-alive shortcut \(String(describing: shortcut)) vs decoder \(String(describing: throughDecoder)) on \(bytes)")
        if shortcut != nil { accepted += 1 }
        var reader = ByteReader(bytes)
        if let record = try? PeerRecord(reading: &reader) {
            var writer = ByteWriter()
            record.encode(into: &writer)
            precondition(writer.bytes[...] == bytes[..<(bytes.count - reader.remainingCount)])
        }
        return accepted
    }

    /// The text parsers (configuration input, not network input): one string in `textShare` goes
    /// to them, which keeps the debug-build runtime to seconds; libFuzzer covers them fully.
    static let textShare = 8

    static func feedTextParsers(_ bytes: [UInt8]) -> Int {
        let text = String(decoding: bytes, as: UTF8.self)
        var accepted = 0
        if let endpoint = try? Endpoint(parsing: text) {
            precondition((try? Endpoint(parsing: endpoint.description)) == endpoint)
            accepted += 1
        }
        if let version = try? ProtocolVersion(parsing: text) {
            precondition((try? ProtocolVersion(parsing: version.description)) == version)
            accepted += 1
        }
        if let requirement = try? VersionRequirement(parsing: text) {
            precondition((try? VersionRequirement(parsing: requirement.description)) == requirement)
            accepted += 1
        }
        return accepted
    }
}
