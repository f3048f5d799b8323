/// An IPv4 address as its four octets, held as the number `a << 24 | b << 16 | c << 8 | d`.
///
/// The routing table's own address type is written elsewhere; workloads produce raw octets and the
/// benchmark adapts them at the table's boundary.
public struct IPv4Octets: Hashable, Sendable, CustomStringConvertible {
    /// The address as a 32-bit number, first octet most significant (network order as a value).
    public var value: UInt32

    /// Creates an address from its numeric value.
    @inlinable
    public init(value: UInt32) { self.value = value }

    /// Creates `a.b.c.d`.
    @inlinable
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// 127.0.0.1.
    public static let loopback = IPv4Octets(127, 0, 0, 1)

    /// The four octets, first first. Allocates.
    public var octets: [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }

    /// The /24 network this address belongs to (the subnet-diversity key for IPv4).
    @inlinable
    public var subnet24: UInt32 { value >> 8 }

    /// Dotted quad, `a.b.c.d`.
    public var description: String { octets.map(String.init).joined(separator: ".") }
}

/// Which address a W2 entry gets, by its index in the stream.
public enum AddressPlan: Hashable, Sendable, CustomStringConvertible {
    /// Every entry in its own /24: `p = (i * 0x9E3779 + 0x5A5A5A) mod 2^24`,
    /// address `p>>16 . (p>>8)&255 . p&255 . (1 + i % 254)`. The multiplier is odd, so `p` is a
    /// bijection of `i` modulo 2^24 and no two of the first 2^24 entries share a /24.
    case distinct24
    /// 127.0.0.1 for every entry (loopback pairs are exempt from subnet limits).
    case loopback

    /// The address of the entry at `index` (0-based) in its stream.
    @inlinable
    public func address(ofEntry index: Int) -> IPv4Octets {
        switch self {
        case .distinct24:
            let mixed = (UInt64(index) &* 0x9E_3779 &+ 0x5A_5A5A) & 0xFF_FFFF
            let host = 1 + UInt64(index) % 254
            return IPv4Octets(value: UInt32(mixed << 8 | host))
        case .loopback:
            return .loopback
        }
    }

    public var description: String {
        switch self {
        case .distinct24: return "distinct/24"
        case .loopback: return "loopback"
        }
    }
}
