import KaryonsCore

/// The keys of one workload stream: `count` keys of `SplitMix64(seed)` under `rule`.
///
/// Every variant and every run restarts from the seed, so iterating a fresh stream always yields
/// the same keys. Nothing allocates while iterating.
public struct KeyStream: Sequence, IteratorProtocol, Sendable {
    /// The generator's seed.
    public let seed: UInt64
    /// How each key's prefix is chosen.
    public let rule: PrefixRule
    /// How many keys the stream yields in all.
    public let count: Int

    private var generator: SplitMix64
    private var produced = 0

    /// A stream of `count` keys from `SplitMix64(seed)`.
    public init(seed: UInt64, rule: PrefixRule, count: Int) {
        precondition(count >= 0, "BUG in Karyons benchmarks: negative stream count")
        self.seed = seed
        self.rule = rule
        self.count = count
        generator = SplitMix64(seed: seed)
    }

    public mutating func next() -> PeerID? {
        guard produced < count else { return nil }
        produced += 1
        return WorkloadKeys.nextKey(&generator, rule: rule)
    }

    public var underestimatedCount: Int { count - produced }
}

/// W1 and W1b: `bucket_index` over a pool of 65,536 keys.
///
/// Timed loop: for i in 0..<10,000,000, `acc &+= bucket_index(pool[i & 0xFFFF]) ?? 1000`.
public enum BucketIndexWorkload: String, CaseIterable, Sendable {
    /// Uniform keys, `fixed(0)`.
    case w1 = "W1"
    /// Keys sharing a random prefix with the local key, `mixed(32)`.
    case w1b = "W1b"

    /// The pool generator's seed.
    public static let poolSeed: UInt64 = 0xB1DE
    /// The pool size; the loop indexes it with `i & poolMask`.
    public static let poolCount = 65_536
    /// `poolCount - 1`.
    public static let poolMask = poolCount - 1
    /// Iterations of the timed loop.
    public static let iterations = 10_000_000
    /// What the loop adds when `bucket_index` is nil (the key equals the local key).
    public static let missingIndexValue = 1000

    /// The prefix rule of this variant's pool.
    public var rule: PrefixRule {
        switch self {
        case .w1: return .fixed(0)
        case .w1b: return .mixed(32)
        }
    }

    /// The pool of keys, in stream order.
    public func pool() -> [PeerID] {
        Array(KeyStream(seed: Self.poolSeed, rule: rule, count: Self.poolCount))
    }
}

/// One W2 entry: the inputs of `add_entry`, before adaptation to the table's entry type.
public struct WorkloadEntry: Hashable, Sendable {
    /// The entry's key.
    public var key: PeerID
    /// Its IPv4 address, from the variant's address plan.
    public var address: IPv4Octets
    /// Its TCP port (3000 for every entry).
    public var port: UInt16
    /// Its discovery (UDP) port (3010 for every entry).
    public var discoveryPort: UInt16
}

/// W2 and its variants: `add_entry` of 1,000,000 entries into a fresh table, in index order.
public enum AddEntryWorkload: String, CaseIterable, Sendable {
    /// `fixed(0)`, distinct /24s; leaves table A.
    case w2 = "W2"
    /// `fixed(0)`, every entry 127.0.0.1.
    case w2L = "W2L"
    /// `fixed(1)`, distinct /24s.
    case w2k1 = "W2k1"
    /// `fixed(2)`, distinct /24s.
    case w2k2 = "W2k2"
    /// `fixed(3)`, distinct /24s.
    case w2k3 = "W2k3"
    /// `mixed(4)`, distinct /24s.
    case w2m4 = "W2m4"
    /// `mixed(32)`, distinct /24s; leaves table E.
    case w2m32 = "W2m32"

    /// The entry generator's seed.
    public static let entrySeed: UInt64 = 0xADD
    /// Entries per run.
    public static let entryCount = 1_000_000
    /// The TCP port of every entry.
    public static let port: UInt16 = 3000
    /// The discovery port of every entry.
    public static let discoveryPort: UInt16 = 3010

    /// The prefix rule of this variant's keys.
    public var rule: PrefixRule {
        switch self {
        case .w2, .w2L: return .fixed(0)
        case .w2k1: return .fixed(1)
        case .w2k2: return .fixed(2)
        case .w2k3: return .fixed(3)
        case .w2m4: return .mixed(4)
        case .w2m32: return .mixed(32)
        }
    }

    /// The address plan of this variant.
    public var addresses: AddressPlan {
        switch self {
        case .w2L: return .loopback
        case .w2, .w2k1, .w2k2, .w2k3, .w2m4, .w2m32: return .distinct24
        }
    }

    /// The first `count` entries of the stream (all 1,000,000 by default), built outside the timed loop.
    public func entries(count: Int = entryCount) -> [WorkloadEntry] {
        var entries: [WorkloadEntry] = []
        entries.reserveCapacity(count)
        let plan = addresses
        for (index, key) in KeyStream(seed: Self.entrySeed, rule: rule, count: count).enumerated() {
            entries.append(
                WorkloadEntry(
                    key: key,
                    address: plan.address(ofEntry: index),
                    port: Self.port,
                    discoveryPort: Self.discoveryPort
                )
            )
        }
        return entries
    }
}

/// W3 and W3m: `closest_entries(t, 10)` for 1,000,000 targets.
///
/// Timed loop: `acc &+= Σ_j (j+1) * u64le(r[j].key[0..<8])` over each result `r`.
public enum ClosestWorkload: String, CaseIterable, Sendable {
    /// Uniform targets against table A (left by W2).
    case w3 = "W3"
    /// `mixed(32)` targets against table E (left by W2m32).
    case w3m = "W3m"

    /// The target generator's seed.
    public static let targetSeed: UInt64 = 0xC105E
    /// Targets per run.
    public static let targetCount = 1_000_000
    /// Entries asked for per call.
    public static let resultCount = 10

    /// The prefix rule of this variant's targets.
    public var rule: PrefixRule {
        switch self {
        case .w3: return .fixed(0)
        case .w3m: return .mixed(32)
        }
    }

    /// The W2 variant whose final table this variant queries.
    public var table: AddEntryWorkload {
        switch self {
        case .w3: return .w2
        case .w3m: return .w2m32
        }
    }

    /// The targets, in stream order.
    public func targets(count: Int = targetCount) -> KeyStream {
        KeyStream(seed: Self.targetSeed, rule: rule, count: count)
    }

    /// The checksum term of one result key: the first 8 bytes of the key read little-endian.
    @inlinable
    public static func checksumWord(of key: PeerID) -> UInt64 { key.word(0).byteSwapped }
}

/// W4, W4x and W4m: `random_entry(f)` calls, counting non-nil results.
public enum RandomEntryWorkload: String, CaseIterable, Sendable {
    /// Table A, entries that are pending (every entry is, so this is "any").
    case w4 = "W4"
    /// Table A, connected entries (none is, so every call visits every bucket and returns nil).
    case w4x = "W4x"
    /// Table E, pending entries.
    case w4m = "W4m"

    /// Calls per run.
    public static let callCount = 1_000_000

    /// Which status the filter asks for.
    public enum Filter: Sendable {
        /// Entries added and never contacted: every entry of these tables.
        case pending
        /// Entries with a live connection: none in these tables.
        case connected
    }

    /// The W2 variant whose final table this variant draws from.
    public var table: AddEntryWorkload {
        switch self {
        case .w4, .w4x: return .w2
        case .w4m: return .w2m32
        }
    }

    /// The status filter of this variant.
    public var filter: Filter {
        switch self {
        case .w4, .w4m: return .pending
        case .w4x: return .connected
        }
    }
}
