import Testing
@testable import KaryonsCore

@Suite struct BucketIndexTests {
    /// The reference's worked examples: L = 32 zero bytes, first non-zero byte at i → bucket 31 − i.
    @Test(arguments: [(31, 0), (26, 5), (20, 11), (5, 26), (0, 31)])
    func workedExamplesOfTheReference(firstNonZeroByte: Int, bucket: Int) throws {
        for value in [0x01, 0x80, 0xFF] as [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 32)
            bytes[firstNonZeroByte] = value
            bytes[31] |= firstNonZeroByte == 31 ? 0 : 0x55  // later bytes play no part
            let key = try #require(PeerID(bytes: bytes))
            #expect(RoutingTable.bucketIndex(of: key, relativeTo: .zero) == bucket)
        }
    }

    @Test func everyByteMapsToItsBucketRelativeToAnyLocalKey() {
        var rng = SplitMix64(seed: 77)
        for _ in 0..<50 {
            let local = PeerID.random(using: &rng)
            let table = RoutingTable(localID: local)
            for index in 0..<32 {
                var bytes = local.bytes
                bytes[index] ^= UInt8(1 + rng.index(below: 255))
                if index < 31 { bytes[31] = UInt8(truncatingIfNeeded: rng.next()) }
                #expect(table.bucketIndex(of: PeerID(bytes: bytes)!) == 31 - index)
            }
        }
    }

    @Test func ownKeyHasNoBucket() {
        let local = Workload.localKey
        #expect(RoutingTable(localID: local).bucketIndex(of: local) == nil)
        #expect(RoutingTable.bucketIndex(of: .zero, relativeTo: .zero) == nil)
    }

    /// The generator that the Benchmarks package shares with the Rust original.
    @Test func workloadGeneratorMatchesTheSharedVectors() {
        #expect(Workload.localKey.description == "e09830906e115f1f793da1ebe9dcf61c56658ddbe2b5f386d1f8076a2d5f6986")
        var w2 = SplitMix64(seed: 0xADD)
        #expect(Workload.key(&w2).description.hasPrefix("adf477cda6942613"))
        var w2m32 = SplitMix64(seed: 0xADD)
        let mixed = Workload.mixedKey(32, with: Workload.localKey, &w2m32)
        #expect(mixed.description.hasPrefix("e09830906e115f1f793da1ebe97448c5"))
        var w3 = SplitMix64(seed: 0xC105E)
        #expect(Workload.key(&w3).description.hasPrefix("57bcc0fcaa1a2c72"))
        #expect(Workload.distinctAddress(0) == IPAddress("90.90.90.1"))
        #expect(Workload.distinctAddress(1) == IPAddress("248.145.211.2"))
        #expect(Workload.distinctAddress(2) == IPAddress("150.201.76.3"))
        #expect(Workload.distinctAddress(999_999) == IPAddress("174.51.33.2"))
    }
}
