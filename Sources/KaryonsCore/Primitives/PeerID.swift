/// A node's 256-bit identity and its routing-table key.
///
/// Stored as four big-endian 64-bit words (word 0 holds bytes 0...7, byte 0 most significant), so
/// XOR distance, comparison and hashing work a word at a time and never allocate. The textual form
/// is all 64 lowercase hex digits (the Rust original printed an ambiguous unpadded prefix).
/// IDs are not yet bound to a key: a peer may claim any ID (see DESIGN.md, "Later").
public struct PeerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The size of an ID on the wire and in the routing table.
    public static let byteCount = 32

    @usableFromInline var w0: UInt64
    @usableFromInline var w1: UInt64
    @usableFromInline var w2: UInt64
    @usableFromInline var w3: UInt64

    /// Creates an ID from its four big-endian words.
    @inlinable
    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// The all-zero ID. Never a valid node identity; the wire layer rejects it in Peer records.
    public static let zero = PeerID(0, 0, 0, 0)

    /// Creates an ID from exactly 32 bytes; nil for any other count.
    @inlinable
    public init?(bytes: some Sequence<UInt8>) {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var count = 0
        for byte in bytes {
            guard count < Self.byteCount else { return nil }
            let value = UInt64(byte)
            switch count >> 3 {
            case 0: words.0 = words.0 << 8 | value
            case 1: words.1 = words.1 << 8 | value
            case 2: words.2 = words.2 << 8 | value
            default: words.3 = words.3 << 8 | value
            }
            count += 1
        }
        guard count == Self.byteCount else { return nil }
        self.init(words.0, words.1, words.2, words.3)
    }

    /// A uniformly random ID drawn from `rng`.
    @inlinable
    public static func random(using rng: inout SplitMix64) -> PeerID {
        PeerID(rng.next(), rng.next(), rng.next(), rng.next())
    }

    /// Parses exactly 64 hex digits (either case); nil for anything else.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        var index = 0
        while index < digits.count {
            guard let high = Self.hexValue(digits[index]), let low = Self.hexValue(digits[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes: bytes)
    }

    /// Word `index` (0...3) in big-endian order.
    @inlinable
    public func word(_ index: Int) -> UInt64 {
        switch index {
        case 0: return w0
        case 1: return w1
        case 2: return w2
        default:
            precondition(index == 3, "BUG in Karyons: PeerID word index \(index)")
            return w3
        }
    }

    /// Byte `index` (0...31); byte 0 is the most significant.
    @inlinable
    public func byte(_ index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: word(index >> 3) >> UInt64(8 * (7 - (index & 7))))
    }

    /// The 32 bytes, most significant first. Allocates; hot paths use `word(_:)` or `byte(_:)`.
    public var bytes: [UInt8] { (0..<Self.byteCount).map { byte($0) } }

    /// The XOR distance to `other`.
    @inlinable
    public func distance(to other: PeerID) -> Distance {
        Distance(w0 ^ other.w0, w1 ^ other.w1, w2 ^ other.w2, w3 ^ other.w3)
    }

    @inlinable
    public static func < (lhs: PeerID, rhs: PeerID) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0 < rhs.w0 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        return lhs.w3 < rhs.w3
    }

    /// All 64 lowercase hex digits.
    public var description: String {
        var text = ""
        text.reserveCapacity(2 * Self.byteCount)
        for word in [w0, w1, w2, w3] {
            let digits = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return text
    }

    /// The first 8 hex digits, for logs and tables where the full ID is too wide.
    public var shortDescription: String { String(description.prefix(8)) }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The XOR distance between two IDs, ordered as a 256-bit big-endian unsigned integer.
///
/// Smaller is closer. Comparison is four word compares; nothing allocates.
public struct Distance: Hashable, Comparable, Sendable, CustomStringConvertible {
    @usableFromInline var w0: UInt64
    @usableFromInline var w1: UInt64
    @usableFromInline var w2: UInt64
    @usableFromInline var w3: UInt64

    @inlinable
    init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// The distance from an ID to itself.
    public static let zero = Distance(0, 0, 0, 0)

    /// The largest possible distance.
    public static let max = Distance(.max, .max, .max, .max)

    /// Leading zero bits of the 256-bit value (256 for zero).
    @inlinable
    public var leadingZeroBitCount: Int {
        if w0 != 0 { return w0.leadingZeroBitCount }
        if w1 != 0 { return 64 + w1.leadingZeroBitCount }
        if w2 != 0 { return 128 + w2.leadingZeroBitCount }
        return 192 + w3.leadingZeroBitCount
    }

    /// The index (0...31) of the first non-zero byte, or nil for the zero distance.
    @inlinable
    public var firstNonZeroByteIndex: Int? {
        let zeros = leadingZeroBitCount
        return zeros == 256 ? nil : zeros >> 3
    }

    /// The top 64 bits, for cheap approximate ordering.
    @inlinable
    public var highWord: UInt64 { w0 }

    @inlinable
    public static func < (lhs: Distance, rhs: Distance) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0 < rhs.w0 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        return lhs.w3 < rhs.w3
    }

    /// All 64 lowercase hex digits.
    public var description: String { PeerID(w0, w1, w2, w3).description }
}
