import Foundation
@testable import KaryonsCore

/// Random values for wire property tests, all drawn from one seeded generator.
enum WireSamples {
    static func peerID(_ rng: inout SplitMix64) -> PeerID {
        let id = PeerID.random(using: &rng)
        return id == .zero ? PeerID(0, 0, 0, 1) : id
    }

    static func version(_ rng: inout SplitMix64) -> Version {
        // Mostly small numbers, sometimes the extremes of the u32 range.
        func part(_ rng: inout SplitMix64) -> UInt32 {
            rng.chance(0.1) ? UInt32.max - UInt32(rng.uniform(below: 2)) : UInt32(rng.uniform(below: 20))
        }
        return Version(part(&rng), part(&rng), part(&rng))
    }

    static func address(_ rng: inout SplitMix64) -> IPAddress {
        rng.chance(0.5) ? .v4(UInt32(truncatingIfNeeded: rng.next())) : .v6(high: rng.next(), low: rng.next())
    }

    static func record(_ rng: inout SplitMix64) -> PeerRecord {
        PeerRecord(
            id: peerID(&rng), address: address(&rng),
            port: UInt16(truncatingIfNeeded: rng.next()), discoveryPort: UInt16(truncatingIfNeeded: rng.next()))
    }

    static func protocolID(_ rng: inout SplitMix64) -> ProtocolID {
        let length = rng.chance(0.2) ? ProtocolID.lengthMax : 1 + rng.index(below: 12)
        let bytes = (0..<length).map { _ in UInt8(0x21 + rng.uniform(below: 0x7E - 0x21 + 1)) }
        return try! ProtocolID(validating: bytes)
    }

    /// `count` distinct protocol IDs.
    static func protocolIDs(_ rng: inout SplitMix64, count: Int) -> [ProtocolID] {
        var ids: [ProtocolID] = []
        while ids.count < count {
            let id = protocolID(&rng)
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    static func reason(_ rng: inout SplitMix64) -> DisconnectReason {
        DisconnectReason.allCases[rng.index(below: DisconnectReason.allCases.count)]
    }

    static func payload(_ rng: inout SplitMix64) -> [UInt8] {
        let size = rng.chance(0.05) ? 4096 + rng.index(below: 4096) : rng.index(below: 100)
        return (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func lookupMessage(_ rng: inout SplitMix64) -> LookupMessage {
        switch rng.index(below: 6) {
        case 0: return .ping(nonce: .random(using: &rng), version: version(&rng))
        case 1: return .pong(nonce: .random(using: &rng))
        case 2: return .findPeer(target: PeerID.random(using: &rng))
        case 3: return .peer(record(&rng))
        case 4: return .peers((0..<rng.index(below: WireLimits.peersCountMax + 1)).map { _ in record(&rng) })
        default: return .shutdown(reason(&rng))
        }
    }

    static func peerMessage(_ rng: inout SplitMix64) -> PeerMessage {
        switch rng.index(below: 4) {
        case 0:
            let ids = protocolIDs(&rng, count: rng.index(below: WireLimits.protocolsCountMax + 1))
            return .version(VersionMessage(
                peerID: peerID(&rng), version: version(&rng),
                protocols: ids.map { ProtocolOffer(id: $0, version: version(&rng)) }))
        case 1:
            let outcome: VerackMessage.Outcome = rng.chance(0.5)
                ? .accepted(protocols: protocolIDs(&rng, count: rng.index(below: WireLimits.protocolsCountMax + 1))
                    .map { ProtocolOffer(id: $0, version: version(&rng)) })
                : .rejected(reason(&rng))
            return .verack(VerackMessage(peerID: peerID(&rng), version: version(&rng), outcome: outcome))
        case 2: return .protocol(id: protocolID(&rng), payload: payload(&rng))
        default: return .shutdown(reason(&rng))
        }
    }

    static func encode(_ message: LookupMessage) -> [UInt8] {
        var writer = ByteWriter()
        message.encodeFrame(into: &writer)
        return writer.bytes
    }

    static func encode(_ message: PeerMessage) throws -> [UInt8] {
        var writer = ByteWriter()
        try message.encodeFrame(into: &writer)
        return writer.bytes
    }
}

/// Hex fixtures under Tests/KaryonsCoreTests/Fixtures: `name:` starts a vector, hex digits follow
/// on the same and later lines (spaces ignored), `#` starts a comment.
enum HexFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func vectors(in file: String) throws -> [String: [UInt8]] {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        var vectors: [String: [UInt8]] = [:]
        var current: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0])
            if let colon = line.firstIndex(of: ":") {
                current = line[..<colon].trimmingCharacters(in: .whitespaces)
                vectors[current!] = []
                line = line[line.index(after: colon)...]
            }
            let digits = line.filter { !$0.isWhitespace }
            guard !digits.isEmpty else { continue }
            guard let name = current, let bytes = hexBytes(String(digits)) else {
                throw FixtureError.malformed(file: file, line: String(rawLine))
            }
            vectors[name]! += bytes
        }
        return vectors
    }

    static func vector(_ name: String, in file: String) throws -> [UInt8] {
        guard let bytes = try vectors(in: file)[name] else { throw FixtureError.missing(file: file, name: name) }
        return bytes
    }

    static func hexBytes(_ digits: String) -> [UInt8]? {
        let utf8 = Array(digits.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let byte = UInt8(String(decoding: utf8[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    enum FixtureError: Error {
        case malformed(file: String, line: String)
        case missing(file: String, name: String)
    }
}

/// Decodes every frame of `stream`, fed in the given chunk sizes (the last chunk takes the rest).
func decodeFrames(_ stream: [UInt8], chunkSizes: [Int], frameSizeMax: Int = WireLimits.frameSizeMaxDefault)
    throws -> [Frame]
{
    var decoder = FrameDecoder(frameSizeMax: frameSizeMax)
    var frames: [Frame] = []
    var offset = 0
    var sizes = chunkSizes.makeIterator()
    while offset < stream.count {
        let size = min(sizes.next() ?? stream.count, stream.count - offset)
        decoder.feed(stream[offset..<offset + size])
        offset += size
        while let frame = try decoder.nextFrame() {
            // Copy the body out, as a caller keeping frames must.
            frames.append(Frame(kind: frame.kind, body: ArraySlice(Array(frame.body))))
        }
    }
    return frames
}

extension Nonce {
    /// The nonce 00 01 02 ... 1f used by the fixtures.
    static let fixture = Nonce(bytes: 0..<32)!
}

extension PeerID {
    /// AA repeated 32 times.
    static let fixtureA = PeerID(bytes: [UInt8](repeating: 0xAA, count: 32))!
    /// 20 21 22 ... 3f.
    static let fixtureB = PeerID(bytes: 0x20..<0x40)!
}
