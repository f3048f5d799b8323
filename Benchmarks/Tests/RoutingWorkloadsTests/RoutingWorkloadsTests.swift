import KaryonsCore
import RoutingWorkloads
import Testing

/// The vectors of routing-table-workloads.md, checked against the generators and, where the file
/// gives a tally measured on the Rust original, against a reference table fed with our streams.
@Suite("Routing-table workload inputs")
struct RoutingWorkloadsTests {
    @Test("SplitMix64(0) gives the file's test vector")
    func splitMixVector() {
        var generator = SplitMix64(seed: 0)
        let outputs = (0..<3).map { _ in generator.next() }
        #expect(outputs == [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4, 0x06c4_5d18_8009_454f])
    }

    @Test("A key is four outputs little-endian, read as PeerID bytes", arguments: [0, 1, 0xADD, 0xFFFF_FFFF_FFFF_FFFF] as [UInt64])
    func keyIsFourLittleEndianOutputs(seed: UInt64) throws {
        var fast = SplitMix64(seed: seed)
        var slow = SplitMix64(seed: seed)
        for _ in 0..<100 {
            let key = WorkloadKeys.nextKey(&fast)
            let bytes = Oracle.keyBytes(&slow)
            #expect(key == (try #require(PeerID(bytes: bytes))))
        }
    }

    @Test("The local key is the first key of SplitMix64(0x10CA1)")
    func localKey() {
        #expect(WorkloadKeys.local.description == "e09830906e115f1f793da1ebe9dcf61c56658ddbe2b5f386d1f8076a2d5f6986")
    }

    @Test("Fixed(k) and Mixed(m) match a byte-array implementation", arguments: [PrefixRule.fixed(0), .fixed(1), .fixed(7), .fixed(8), .fixed(9), .fixed(31), .fixed(32), .mixed(4), .mixed(32), .mixed(33)])
    func prefixRules(rule: PrefixRule) throws {
        let local = WorkloadKeys.local.bytes
        var fast = SplitMix64(seed: 0x5EED)
        var slow = SplitMix64(seed: 0x5EED)
        for _ in 0..<500 {
            let key = WorkloadKeys.nextKey(&fast, rule: rule)
            let bytes: [UInt8]
            switch rule {
            case .fixed(let count): bytes = Oracle.keyBytes(&slow, fixed: count, mixed: nil, local: local)
            case .mixed(let modulus): bytes = Oracle.keyBytes(&slow, fixed: nil, mixed: modulus, local: local)
            }
            let expected = try #require(PeerID(bytes: bytes))
            #expect(key == expected)
        }
    }

    @Test("First keys of the W2, W2m32 and W3 streams")
    func firstKeysOfStreams() throws {
        let w2 = try #require(AddEntryWorkload.w2.entries(count: 1).first)
        let w2m32 = try #require(AddEntryWorkload.w2m32.entries(count: 1).first)
        let target = try #require(Array(ClosestWorkload.w3.targets(count: 1)).first)
        #expect(w2.key.description.hasPrefix("adf477cda6942613"))
        #expect(w2m32.key.description.hasPrefix("e09830906e115f1f793da1ebe97448c5"))
        #expect(target.description.hasPrefix("57bcc0fcaa1a2c72"))
    }

    @Test("Streams restart from their seed and yield exactly their count")
    func streamsRestart() {
        let first = Array(KeyStream(seed: 0xC105E, rule: .mixed(32), count: 1000))
        let second = Array(ClosestWorkload.w3m.targets(count: 1000))
        #expect(first.count == 1000)
        #expect(first == second)
        #expect(BucketIndexWorkload.w1.pool().count == BucketIndexWorkload.poolCount)
    }

    @Test("distinct/24 addresses: the file's vectors")
    func distinctAddressVectors() {
        let plan = AddressPlan.distinct24
        #expect(plan.address(ofEntry: 0).description == "90.90.90.1")
        #expect(plan.address(ofEntry: 1).description == "248.145.211.2")
        #expect(plan.address(ofEntry: 2).description == "150.201.76.3")
        #expect(plan.address(ofEntry: 999_999).description == "174.51.33.2")
        #expect(plan.address(ofEntry: 999_999).octets == [174, 51, 33, 2])
        #expect(AddressPlan.loopback.address(ofEntry: 12_345) == IPv4Octets(127, 0, 0, 1))
    }

    @Test("distinct/24 gives every W2 entry its own /24 and a host in 1...254")
    func distinctAddressesAreDistinct() {
        let entries = AddEntryWorkload.w2.entries()
        #expect(entries.count == AddEntryWorkload.entryCount)
        #expect(Set(entries.map(\.address.subnet24)).count == entries.count)
        #expect(entries.allSatisfy { (1...254).contains($0.address.value & 0xFF) })
        #expect(entries.allSatisfy { $0.port == 3000 && $0.discoveryPort == 3010 })
    }

    /// 10,000,000 = 152 * 65,536 + 38,528: the loop sums the whole pool 152 times, then its first
    /// 38,528 keys. The byte-array oracle evaluates each key once.
    @Test("W1 and W1b bucket_index sums match the Rust original", arguments: [(BucketIndexWorkload.w1, 309_959_099), (.w1b, 156_632_558)] as [(BucketIndexWorkload, UInt64)])
    func bucketIndexSums(workload: BucketIndexWorkload, expected: UInt64) {
        let local = WorkloadKeys.local.bytes
        let pool = workload.pool()
        let fullPasses = UInt64(BucketIndexWorkload.iterations / BucketIndexWorkload.poolCount)
        let remainder = BucketIndexWorkload.iterations % BucketIndexWorkload.poolCount
        var whole: UInt64 = 0
        var prefix: UInt64 = 0
        for (position, key) in pool.enumerated() {
            let index = UInt64(Oracle.bucketIndex(local: local, key: key.bytes) ?? BucketIndexWorkload.missingIndexValue)
            whole &+= index
            if position < remainder { prefix &+= index }
        }
        #expect(whole &* fullPasses &+ prefix == expected)
    }

    @Test("W2 tallies of a reference table fed with our streams match the Rust original", arguments: [
        (AddEntryWorkload.w2, "added=54 exists=0 ignored=999946 restricted=0 [31:20 30:20 29:14]"),
        (.w2L, "added=54 exists=0 ignored=999946 restricted=0 [31:20 30:20 29:14]"),
        (.w2k1, "added=55 exists=0 ignored=999945 restricted=0 [30:20 29:20 28:15]"),
        (.w2k2, "added=60 exists=0 ignored=999940 restricted=0 [29:20 28:20 27:20]"),
        (.w2k3, "added=58 exists=0 ignored=999942 restricted=0 [28:20 27:20 26:18]"),
        (.w2m4, "added=103 exists=0 ignored=999897 restricted=0 [31:20 30:20 29:20 28:20 27:20 26:3]"),
        (.w2m32, "added=640 exists=2508 ignored=996852 restricted=0 ["
            + (0..<32).reversed().map { "\($0):20" }.joined(separator: " ") + "]"),
    ] as [(AddEntryWorkload, String)])
    func addEntryTallies(workload: AddEntryWorkload, expected: String) {
        var table = ReferenceTable(local: WorkloadKeys.local)
        for entry in workload.entries() {
            table.add(key: entry.key, address: entry.address.value)
        }
        #expect(table.finalTally.description == expected)
    }
}
