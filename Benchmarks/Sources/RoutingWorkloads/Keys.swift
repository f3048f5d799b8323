import KaryonsCore

/// How a workload key is derived from the generator: the rules of routing-table-workloads.md.
///
/// `fixed(k)` takes the next key and overwrites its first `k` bytes with the local key's, so the
/// key lands in bucket `31 - k` with probability 255/256. `mixed(m)` first draws `k = next() % m`
/// (before the key's four words), then applies `fixed(k)`.
public enum PrefixRule: Hashable, Sendable, CustomStringConvertible {
    /// Copy exactly this many leading bytes (0...32) of the local key.
    case fixed(Int)
    /// Copy `next() % m` leading bytes; `m` is in 1...33.
    case mixed(Int)

    public var description: String {
        switch self {
        case .fixed(let count): return "k\(count)"
        case .mixed(let modulus): return "kmix\(modulus)"
        }
    }
}

/// Key construction shared by every workload stream.
///
/// A key is 32 bytes made of four consecutive `SplitMix64.next()` outputs, each written
/// little-endian: `key[8j ..< 8j+8] = LE(output j)`. The bytes become a `PeerID` in order
/// (byte 0 of the key is byte 0, the most significant, of the ID), exactly as
/// `PeerID(bytes: key)`; this type builds the words directly so that generating a million keys
/// does not allocate.
public enum WorkloadKeys {
    /// The seed of the local key's generator.
    public static let localSeed: UInt64 = 0x10CA1

    /// The local key of every table: the first key of `SplitMix64(localSeed)`.
    public static let local: PeerID = {
        var generator = SplitMix64(seed: localSeed)
        return nextKey(&generator)
    }()

    /// The next plain key of `generator` (four outputs, little-endian bytes).
    @inlinable
    public static func nextKey(_ generator: inout SplitMix64) -> PeerID {
        // LE bytes of an output, read as a big-endian word, are the byte-swapped output.
        let w0 = generator.next().byteSwapped
        let w1 = generator.next().byteSwapped
        let w2 = generator.next().byteSwapped
        let w3 = generator.next().byteSwapped
        return PeerID(w0, w1, w2, w3)
    }

    /// The next key of `generator` under `rule`, with `local` as the prefix source.
    @inlinable
    public static func nextKey(_ generator: inout SplitMix64, rule: PrefixRule, local: PeerID = local) -> PeerID {
        switch rule {
        case .fixed(let prefixCount):
            return withPrefix(nextKey(&generator), copied: prefixCount, from: local)
        case .mixed(let modulus):
            precondition((1...33).contains(modulus), "BUG in Karyons benchmarks: mixed(\(modulus))")
            let prefixCount = Int(generator.next() % UInt64(modulus))
            return withPrefix(nextKey(&generator), copied: prefixCount, from: local)
        }
    }

    /// `key` with its first `count` bytes (0...32) replaced by those of `source`.
    @inlinable
    public static func withPrefix(_ key: PeerID, copied count: Int, from source: PeerID) -> PeerID {
        precondition((0...PeerID.byteCount).contains(count), "BUG in Karyons benchmarks: prefix of \(count) bytes")
        var words = (key.word(0), key.word(1), key.word(2), key.word(3))
        let sources = (source.word(0), source.word(1), source.word(2), source.word(3))
        words.0 = merged(words.0, sources.0, bytesFromSource: count)
        words.1 = merged(words.1, sources.1, bytesFromSource: count - 8)
        words.2 = merged(words.2, sources.2, bytesFromSource: count - 16)
        words.3 = merged(words.3, sources.3, bytesFromSource: count - 24)
        return PeerID(words.0, words.1, words.2, words.3)
    }

    /// A big-endian word whose first `bytesFromSource` bytes (clamped to 0...8) come from `source`.
    @inlinable
    static func merged(_ word: UInt64, _ source: UInt64, bytesFromSource: Int) -> UInt64 {
        if bytesFromSource <= 0 { return word }
        if bytesFromSource >= 8 { return source }
        let sourceMask = ~(UInt64.max >> UInt64(8 * bytesFromSource))
        return (source & sourceMask) | (word & ~sourceMask)
    }
}
