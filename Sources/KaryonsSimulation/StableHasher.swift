import KaryonsCore

/// FNV-1a (64-bit): a small hash whose value is the same in every process and on every platform,
/// for run digests. Swift's `Hasher` is seeded per process, so it cannot be used for a digest that
/// must match between two runs of the same seed.
///
/// Integers are fed as 8 little-endian bytes each, so `combine(1)` and `combine(UInt64(1))` agree.
public struct StableHasher: Sendable {
    /// The FNV-1a 64-bit offset basis.
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    /// The FNV-1a 64-bit prime.
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// The hash of everything fed so far.
    public private(set) var value: UInt64 = StableHasher.offsetBasis

    public init() {}

    /// Feeds one byte.
    @inline(__always)
    public mutating func combine(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* Self.prime
    }

    /// Feeds bytes in order.
    public mutating func combine(bytes: some Sequence<UInt8>) {
        for byte in bytes { combine(byte: byte) }
    }

    /// Feeds a 64-bit word, least significant byte first.
    @inline(__always)
    public mutating func combine(_ word: UInt64) {
        var remaining = word
        for _ in 0..<8 {
            combine(byte: UInt8(truncatingIfNeeded: remaining))
            remaining >>= 8
        }
    }

    /// Feeds an integer as a 64-bit word.
    @inline(__always)
    public mutating func combine(_ value: Int) { combine(UInt64(bitPattern: Int64(value))) }

    /// Feeds a string's UTF-8 bytes, then its length (so that "ab","c" and "a","bc" differ).
    public mutating func combine(_ string: String) {
        combine(bytes: string.utf8)
        combine(string.utf8.count)
    }

    /// Feeds a double's bit pattern.
    public mutating func combine(_ value: Double) { combine(value.bitPattern) }

    /// Feeds an instant's nanoseconds.
    public mutating func combine(_ instant: Instant) { combine(instant.nanoseconds) }

    /// Feeds the four words of an ID.
    public mutating func combine(_ id: PeerID) {
        for index in 0..<4 { combine(id.word(index)) }
    }

    /// Feeds an address: family, then its bits.
    public mutating func combine(_ address: IPAddress) {
        switch address {
        case .v4(let value):
            combine(byte: 4)
            combine(UInt64(value))
        case .v6(let high, let low):
            combine(byte: 6)
            combine(high)
            combine(low)
        }
    }

    /// Feeds an endpoint: transport, address, port.
    public mutating func combine(_ endpoint: Endpoint) {
        combine(byte: endpoint.transport == .tcp ? 1 : 2)
        combine(endpoint.address)
        combine(UInt64(endpoint.port))
    }

    /// The value as 16 lowercase hex digits.
    public var hexDigest: String { Self.hex(value) }

    /// `value` as 16 lowercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
