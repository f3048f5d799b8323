import Testing
@testable import KaryonsCore

/// `#expect(actual == expected)`, evaluated only on a mismatch: the oracle loops compare many
/// thousands of values, and the macro's bookkeeping would dominate a debug-build run.
func expectSame<T: Equatable>(
    _ actual: T, _ expected: T, _ context: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if actual != expected { #expect(actual == expected, "\(context())", sourceLocation: sourceLocation) }
}

/// Key and address generators of the shared routing-table workloads
/// (shared/reference/routing-table-workloads.md), plus small builders for tests.
enum Workload {
    /// A key made of 4 consecutive outputs, each written little-endian (the workloads' key rule).
    static func key(_ rng: inout SplitMix64) -> PeerID {
        PeerID(rng.next().byteSwapped, rng.next().byteSwapped, rng.next().byteSwapped, rng.next().byteSwapped)
    }

    /// The local key shared by every workload table.
    static var localKey: PeerID {
        var rng = SplitMix64(seed: 0x10CA1)
        return key(&rng)
    }

    /// `Fixed(k)`: the next key with its first `k` bytes replaced by `local`'s.
    static func key(sharingPrefix prefixLength: Int, with local: PeerID, _ rng: inout SplitMix64) -> PeerID {
        let drawn = key(&rng)
        // Word by word: the top `min(8, max(0, prefixLength − 8j))` bytes of word j come from `local`.
        func word(_ index: Int) -> UInt64 {
            let bytes = min(8, max(0, prefixLength - 8 * index))
            let mask: UInt64 = bytes == 0 ? 0 : ~0 << UInt64(64 - 8 * bytes)
            return drawn.word(index) & ~mask | local.word(index) & mask
        }
        return PeerID(word(0), word(1), word(2), word(3))
    }

    /// `Mixed(m)`: a prefix length drawn in `0..<m` (before the key's words), then `Fixed(k)`.
    static func mixedKey(_ prefixBound: Int, with local: PeerID, _ rng: inout SplitMix64) -> PeerID {
        let prefixLength = Int(rng.next() % UInt64(prefixBound))
        return key(sharingPrefix: prefixLength, with: local, &rng)
    }

    /// The `distinct/24` address of entry `index`: every index gets its own /24.
    static func distinctAddress(_ index: Int) -> IPAddress {
        let prefix = UInt32((UInt64(index) &* 0x9E3779 &+ 0x5A5A5A) & 0xFF_FFFF)
        return .v4(prefix << 8 | UInt32(1 + index % 254))
    }

    /// The workloads' entry shape: data port 3000, discovery port 3010.
    static func record(_ id: PeerID, _ address: IPAddress) -> PeerRecord {
        PeerRecord(id: id, address: address, port: 3000, discoveryPort: 3010)
    }
}

/// A key that differs from `local` first at byte `index`, with `tail` in the last byte (so keys
/// of one bucket can be told apart). `index` 0...30.
func key(differingAt index: Int, from local: PeerID, tail: UInt8) -> PeerID {
    var bytes = local.bytes
    bytes[index] ^= 0x80
    bytes[31] ^= tail
    return PeerID(bytes: bytes)!
}

/// An address in its own /24 (`10.x.y.1` with x.y from `index`); distinct for index < 65,536.
func ownSubnetAddress(_ index: Int) -> IPAddress { .v4(0x0A00_0001 | UInt32(index & 0xFFFF) << 8) }

func ms(_ value: UInt64) -> Instant { Instant(nanoseconds: value * 1_000_000) }

/// A deliberately naive routing table written straight from the contract (a dictionary, full
/// scans, sorting), used as the oracle for the real one.
struct ReferenceTable {
    let local: PeerID
    let configuration: RoutingTable.Configuration
    var entries: [PeerID: RoutingTable.Entry] = [:]
    /// The IDs in each bucket (kept only to make the oracle fast enough for debug builds).
    var members: [[PeerID]] = Array(repeating: [], count: 32)

    init(local: PeerID, configuration: RoutingTable.Configuration) {
        self.local = local
        self.configuration = configuration
    }

    /// Bucket by the byte rule, computed from bytes rather than words.
    func bucket(of id: PeerID) -> Int? {
        (0..<32).first { local.byte($0) != id.byte($0) }.map { 31 - $0 }
    }

    func entries(inBucket bucket: Int) -> [RoutingTable.Entry] { members[bucket].map { entries[$0]! } }

    mutating func remove(_ id: PeerID) -> RoutingTable.Entry? {
        guard let entry = entries.removeValue(forKey: id), let bucket = bucket(of: id) else { return nil }
        members[bucket].removeAll { $0 == id }
        return entry
    }

    mutating func add(_ record: PeerRecord, status: EntryStatus, now: Instant) -> AddResult {
        guard let bucket = bucket(of: record.id) else { return .ignored(.ownKey) }
        if entries[record.id] != nil { return .exists }
        var victim: RoutingTable.Entry?
        let occupants = entries(inBucket: bucket)
        if occupants.count >= RoutingTable.bucketEntriesMax {
            victim = occupants.filter { $0.status == .failed }
                .min { (-$0.failureCount, $0.lastSeen, $0.id) < (-$1.failureCount, $1.lastSeen, $1.id) }
            if victim == nil { return .ignored(.bucketFull) }
        }
        if !record.address.isLoopback {
            let sharing = entries.values.filter {
                $0.id != victim?.id && !$0.record.address.isLoopback
                    && $0.record.address.diversitySubnet == record.address.diversitySubnet
            }
            if sharing.filter({ members[bucket].contains($0.id) }).count >= configuration.subnetEntriesPerBucketMax {
                return .restricted(.bucket)
            }
            if sharing.count >= configuration.subnetEntriesPerTableMax { return .restricted(.table) }
        }
        if let victim { _ = remove(victim.id) }
        members[bucket].append(record.id)
        entries[record.id] = RoutingTable.Entry(
            record: record, status: status, failureCount: 0, lastSeen: now, lastFailure: nil)
        return victim.map { .replaced(evicted: $0.record) } ?? .added
    }

    mutating func succeed(_ id: PeerID, status: EntryStatus, now: Instant) {
        entries[id]?.status = status
        entries[id]?.failureCount = 0
        entries[id]?.lastSeen = now
    }

    mutating func markFailed(_ id: PeerID, now: Instant) -> Int? {
        guard entries[id] != nil else { return nil }
        entries[id]!.status = .failed
        entries[id]!.failureCount += 1
        entries[id]!.lastFailure = now
        return entries[id]!.failureCount
    }

    func closest(to target: PeerID, count: Int, matching statuses: EntryStatusSet) -> [PeerID] {
        let matching = entries.values.filter { statuses.contains($0.status) }
            .map { ($0.id.distance(to: target), $0.id) }
        return Array(matching.sorted { $0.0 < $1.0 }.prefix(max(0, count)).map(\.1))
    }

    func refreshCandidates(perBucketMax: Int, matching statuses: EntryStatusSet) -> [RoutingTable.Entry] {
        let older = { (a: RoutingTable.Entry, b: RoutingTable.Entry) in (a.lastSeen, a.id) < (b.lastSeen, b.id) }
        var result: [RoutingTable.Entry] = []
        for bucket in 0..<32 {
            result += entries(inBucket: bucket).filter { statuses.contains($0.status) }.sorted(by: older)
                .prefix(max(0, perBucketMax))
        }
        return result.sorted(by: older)
    }

    var sortedEntries: [RoutingTable.Entry] { entries.values.sorted { $0.id < $1.id } }
}

extension RoutingTable {
    var sortedEntries: [Entry] { entries().sorted { $0.id < $1.id } }
}
