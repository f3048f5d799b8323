import KaryonsPingPong
import Testing

/// The Karyons TCP column's frame reassembly: any chunking of a stream gives the same frames.
@Suite struct FrameAssemblerTests {
    static let payloadSize = 40
    static let frameSize = FrameAssembler.headerSize + payloadSize

    static func frame(_ tag: UInt8) -> [UInt8] {
        [0, 0, 0, UInt8(payloadSize)] + (0..<payloadSize).map { UInt8(truncatingIfNeeded: Int(tag) &* 31 &+ $0) }
    }

    @Test(arguments: [1, 3, 7, 44, 45, 100, 1_000])
    func anyChunkingYieldsTheSameFrames(chunk: Int) {
        let assembler = FrameAssembler(connections: 2, frameSize: Self.frameSize)
        let stream = (0..<50).flatMap { Self.frame(UInt8($0)) }
        var received: [[UInt8]] = []
        var offset = 0
        while offset < stream.count {
            let end = min(offset + chunk, stream.count)
            let ok = stream[offset..<end].withUnsafeBytes { bytes in
                assembler.receive(bytes, on: 1) { frame in
                    received.append(Array(frame))
                    return true
                }
            }
            #expect(ok)
            offset = end
        }
        #expect(received == (0..<50).map { Self.frame(UInt8($0)) })
    }

    @Test func connectionsKeepSeparatePartialFrames() {
        let assembler = FrameAssembler(connections: 2, frameSize: Self.frameSize)
        var seen: [Int] = []
        let first = Self.frame(1), second = Self.frame(2)
        for (connection, bytes) in [(0, first[..<10]), (1, second[..<30]), (0, first[10...]), (1, second[30...])] {
            _ = bytes.withUnsafeBytes { raw in
                assembler.receive(raw, on: connection) { frame in
                    seen.append(connection)
                    #expect(Array(frame) == (connection == 0 ? first : second))
                    return true
                }
            }
        }
        #expect(seen == [0, 1])
    }

    @Test func aWrongLengthOrARefusingHandlerStops() {
        let assembler = FrameAssembler(connections: 1, frameSize: Self.frameSize)
        var bad = Self.frame(3)
        bad[3] = 41
        let refusedLength = bad.withUnsafeBytes { assembler.receive($0, on: 0) { _ in true } }
        #expect(!refusedLength)
        let other = FrameAssembler(connections: 1, frameSize: Self.frameSize)
        let refusedByHandler = Self.frame(4).withUnsafeBytes { other.receive($0, on: 0) { _ in false } }
        #expect(!refusedByHandler)
        let empty = [UInt8]().withUnsafeBytes { other.receive($0, on: 0) { _ in false } }
        #expect(empty)
    }
}
