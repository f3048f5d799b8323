// libFuzzer target for every wire-format and text decoder of KaryonsCore.
//
// Fuzz build (see Scripts/fuzz-wire.sh): `swift build --scratch-path .build-fuzz --sanitize=fuzzer
// --sanitize=address --product FuzzWire -Xswiftc -DFUZZING`; libFuzzer then provides `main`.
// Plain build: `swift run FuzzWire <file or directory>...` replays inputs (crash reproducers, the
// corpus) through the same checks, so a plain `swift build` links and checks this target too.
import KaryonsCore

#if !FUZZING
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    WireFuzzChecks.run(input)
    return 0
}

/// The checks run on every input. Decoders must not trap; whatever decodes must re-encode to the
/// exact bytes (v1 encodings are canonical); any chunking of a stream must give the same frames;
/// parsed text must print and parse back to the same value. A violated check traps on purpose.
enum WireFuzzChecks {
    static func run(_ input: [UInt8]) {
        checkFrameStream(input)
        if let kind = input.first { checkMessages(Frame(kind: kind, body: input[1...])) }
        checkDatagram(input)
        checkPingPayload(input)
        checkRecord(input)
        checkText(String(decoding: input, as: UTF8.self))
    }

    /// The input as a TCP stream: all at once and in input-derived chunks must agree.
    static func checkFrameStream(_ input: [UInt8]) {
        let whole = frames(of: input, chunkSeed: nil)
        let chunked = frames(of: input, chunkSeed: UInt64(input.count) &* 0x9E37_79B9 ^ UInt64(input.first ?? 0))
        precondition(whole.frames == chunked.frames && whole.error == chunked.error, "chunking changed the frames")
        for frame in whole.frames { checkMessages(Frame(kind: frame[0], body: frame[1...])) }
    }

    static func frames(of input: [UInt8], chunkSeed: UInt64?) -> (frames: [[UInt8]], error: WireError?) {
        var decoder = FrameDecoder(frameSizeMax: WireLimits.frameSizeMaxFloor)
        var rng = SplitMix64(seed: chunkSeed ?? 0)
        var frames: [[UInt8]] = []
        var offset = 0
        while offset < input.count {
            let size = chunkSeed == nil ? input.count : 1 + rng.index(below: 16)
            let end = min(offset + size, input.count)
            decoder.feed(input[offset..<end])
            offset = end
            do {
                while let frame = try decoder.nextFrame() { frames.append([frame.kind] + Array(frame.body)) }
            } catch {
                return (frames, error)
            }
        }
        return (frames, nil)
    }

    /// One frame through both planes; a decoded message must re-encode to the same frame.
    static func checkMessages(_ frame: Frame) {
        let frameBytes = [frame.kind] + Array(frame.body)
        if let message = try? LookupMessage(frame: frame) {
            var writer = ByteWriter()
            message.encodeFrame(into: &writer)
            precondition(Array(writer.bytes.dropFirst(4)) == frameBytes, "lookup message not canonical")
            precondition(message.frameLength == frameBytes.count)
        }
        if let message = try? PeerMessage(frame: frame) {
            var writer = ByteWriter()
            do {
                try message.encodeFrame(into: &writer)
            } catch {
                preconditionFailure("a decoded peer message does not encode: \(error)")
            }
            precondition(Array(writer.bytes.dropFirst(4)) == frameBytes, "peer message not canonical")
            precondition(message.frameLength == frameBytes.count)
        }
    }

    static func checkDatagram(_ input: [UInt8]) {
        let parsed = try? RefreshDatagram(parsing: input)
        let parsedRaw = input.withUnsafeBytes { try? RefreshDatagram(parsing: $0) }
        precondition(parsed == parsedRaw, "the two datagram decoders disagree")
        if let parsed {
            var writer = ByteWriter()
            parsed.encode(into: &writer)
            precondition(writer.bytes == input, "datagram not canonical")
        }
    }

    static func checkPingPayload(_ input: [UInt8]) {
        if let payload = try? PingPayload(parsing: input) {
            var writer = ByteWriter()
            payload.encode(into: &writer)
            precondition(writer.bytes == input, "ping payload not canonical")
        }
    }

    static func checkRecord(_ input: [UInt8]) {
        var reader = ByteReader(input)
        if let record = try? PeerRecord(reading: &reader) {
            var writer = ByteWriter()
            record.encode(into: &writer)
            precondition(writer.bytes[...] == input[..<(input.count - reader.remainingCount)], "record not canonical")
        }
    }

    static func checkText(_ text: String) {
        if let endpoint = try? Endpoint(parsing: text) {
            precondition((try? Endpoint(parsing: endpoint.description)) == endpoint, "endpoint round trip")
        }
        if let version = try? Version(parsing: text) {
            precondition((try? Version(parsing: version.description)) == version, "version round trip")
        }
        if let requirement = try? VersionRequirement(parsing: text) {
            precondition((try? VersionRequirement(parsing: requirement.description)) == requirement, "requirement round trip")
        }
        if let protocolVersion = try? ProtocolVersion(parsing: text) {
            precondition((try? ProtocolVersion(parsing: protocolVersion.description)) == protocolVersion, "version string round trip")
        }
    }
}

#if !FUZZING
/// Replays files (or every file in directories) through the checks, for reproducing crashes.
@main
struct FuzzWireReplay {
    static func main() {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            for file in files(at: path) {
                guard let input = read(file) else {
                    print("FuzzWire: cannot read \(file)")
                    exit(2)
                }
                WireFuzzChecks.run(input)
                count += 1
            }
        }
        print("FuzzWire: \(count) inputs replayed, all checks held")
    }

    static func files(at path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." && entry.pointee.d_type == UInt8(DT_REG) { names.append(path + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes += chunk[..<count]
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }
}
#endif
