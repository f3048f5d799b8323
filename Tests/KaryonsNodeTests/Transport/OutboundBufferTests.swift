#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import KaryonsNode

/// The outbound queue's memory policy: it exists only while bytes wait, so an idle connection
/// holds no outbound memory (many idle peers per process).
@Suite struct OutboundBufferTests {
    @Test func drainedBufferReleasesItsMemory() {
        // (OutboundBuffer is ~Copyable, so its properties are read into locals for #expect.)
        var buffer = OutboundBuffer()
        let initial = buffer.capacity
        #expect(initial == 0)
        let bytes = [UInt8](repeating: 7, count: 100)
        bytes.withUnsafeBytes { buffer.append($0) }
        let queued = buffer.capacity
        #expect(queued == OutboundBuffer.initialCapacity)
        buffer.consume(60)
        let (partial, remaining) = (buffer.capacity, buffer.count)
        #expect(partial == OutboundBuffer.initialCapacity)
        #expect(remaining == 40)
        buffer.consume(40)
        let (drained, empty) = (buffer.capacity, buffer.isEmpty)
        #expect(empty)
        #expect(drained <= OutboundBuffer.retainedCapacityMax)
        #expect(drained == 0)
    }

    @Test func bytesSurviveGrowthAndWrapInOrder() {
        var buffer = OutboundBuffer()
        var expected: [UInt8] = []
        var next: UInt8 = 0
        // Append and consume unevenly so the ring wraps, then grow it past its first capacity.
        for round in 0..<40 {
            let chunk = (0..<(97 + round * 53)).map { _ -> UInt8 in next &+= 1; return next }
            chunk.withUnsafeBytes { buffer.append($0) }
            expected += chunk
            let count = buffer.count
            let taken = min(count, 150)
            #expect(Self.contents(of: buffer).prefix(taken) == expected.prefix(taken)[...])
            buffer.consume(taken)
            expected.removeFirst(taken)
        }
        #expect(Self.contents(of: buffer) == expected)
    }

    static func contents(of buffer: borrowing OutboundBuffer) -> [UInt8] {
        var vectors = (iovec(), iovec())
        let used = withUnsafeMutablePointer(to: &vectors) { pointer in
            pointer.withMemoryRebound(to: iovec.self, capacity: 2) { buffer.fill($0) }
        }
        var result: [UInt8] = []
        for index in 0..<used {
            let vector = index == 0 ? vectors.0 : vectors.1
            result += UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len)
        }
        return result
    }
}
