import Testing
@testable import KaryonsCore

@Suite struct SplitMix64Tests {
    @Test func matchesTheSharedWorkloadVector() {
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xe220_a839_7b1d_cdaf)
        #expect(rng.next() == 0x6e78_9e6a_a1b9_65f4)
        #expect(rng.next() == 0x06c4_5d18_8009_454f)
    }

    @Test(arguments: [1, 2, 3, 7, 10, 1000] as [UInt64])
    func uniformStaysBelowItsBoundAndCoversIt(bound: UInt64) {
        var rng = SplitMix64(seed: bound)
        var seen = Set<UInt64>()
        for _ in 0..<5_000 {
            let value = rng.uniform(below: bound)
            #expect(value < bound)
            seen.insert(value)
        }
        #expect(seen.count == Int(min(bound, 1000)) || bound == 1000 && seen.count > 990)
    }

    @Test func shuffleIsAPermutationAndReproducible() {
        var first = Array(0..<100)
        var second = Array(0..<100)
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        a.shuffle(&first)
        b.shuffle(&second)
        #expect(first == second)
        #expect(first.sorted() == Array(0..<100))
        #expect(first != Array(0..<100))
    }
}

@Suite struct PeerIDTests {
    @Test func hexRoundTripsAndIsFullWidth() throws {
        var rng = SplitMix64(seed: 9)
        for _ in 0..<100 {
            let id = PeerID.random(using: &rng)
            #expect(id.description.count == 64)
            #expect(PeerID(hex: id.description) == id)
            #expect(PeerID(bytes: id.bytes) == id)
        }
        let small = try #require(PeerID(bytes: [0x05] + Array(repeating: 0, count: 31)))
        #expect(small.description.hasPrefix("0500"))
    }

    @Test func rejectsMalformedInput() {
        #expect(PeerID(hex: String(repeating: "a", count: 63)) == nil)
        #expect(PeerID(hex: String(repeating: "g", count: 64)) == nil)
        #expect(PeerID(bytes: Array(repeating: 1, count: 31)) == nil)
        #expect(PeerID(bytes: Array(repeating: 1, count: 33)) == nil)
    }

    @Test func distanceOrderEqualsBigEndianByteOrder() {
        var rng = SplitMix64(seed: 3)
        let origin = PeerID.random(using: &rng)
        for _ in 0..<2_000 {
            let a = PeerID.random(using: &rng), b = PeerID.random(using: &rng)
            let da = origin.distance(to: a), db = origin.distance(to: b)
            let bytesA = zip(origin.bytes, a.bytes).map { $0 ^ $1 }
            let bytesB = zip(origin.bytes, b.bytes).map { $0 ^ $1 }
            #expect((da < db) == bytesA.lexicographicallyPrecedes(bytesB))
        }
        #expect(origin.distance(to: origin) == .zero)
        #expect(origin.distance(to: origin).firstNonZeroByteIndex == nil)
    }

    @Test(arguments: [(31, 0), (26, 5), (20, 11), (5, 26), (0, 31)])
    func firstNonZeroByteMatchesTheReferenceExamples(byteIndex: Int, bucket: Int) throws {
        var bytes = Array(repeating: UInt8(0), count: 32)
        bytes[byteIndex] = 0x01
        let key = try #require(PeerID(bytes: bytes))
        let index = try #require(PeerID.zero.distance(to: key).firstNonZeroByteIndex)
        #expect(31 - index == bucket)
    }
}

@Suite struct TimeTests {
    @Test func arithmeticSaturates() {
        #expect(Instant(nanoseconds: .max) + .seconds(1) == Instant(nanoseconds: .max))
        #expect(Instant(nanoseconds: 5) - .seconds(1) == .zero)
        #expect(Instant(nanoseconds: 5).duration(since: Instant(nanoseconds: 9)) == .zero)
        #expect(Duration.seconds(2) * 3 == .seconds(6))
    }

    @Test func describesReadably() {
        #expect(Duration.milliseconds(1500).description == "1.5s")
        #expect(Duration.milliseconds(20).description == "20ms")
        #expect(Duration.nanoseconds(1_000_001).millisecondsRoundedUp == 2)
    }
}
