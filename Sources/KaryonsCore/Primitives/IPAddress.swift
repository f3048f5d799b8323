/// An IPv4 or IPv6 address, parsed and printed without the C library.
///
/// The core needs addresses for subnet diversity in the routing table, for the observed address of
/// lookup peers, and on the wire (`PeerRecord`); the reactor converts them to `sockaddr`s.
/// Parsing is strict: dotted quads without leading zeros, RFC 4291 IPv6 text (one `::`, optional
/// trailing dotted quad), no zone IDs. Printing follows RFC 5952 (lowercase, longest zero run
/// compressed) and prints IPv4-mapped addresses as `::ffff:a.b.c.d`.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address; `a.b.c.d` is `a << 24 | b << 16 | c << 8 | d`.
    case v4(UInt32)
    /// An IPv6 address as two big-endian halves.
    case v6(high: UInt64, low: UInt64)

    /// 127.0.0.1.
    public static let loopbackV4 = IPAddress.v4(0x7F00_0001)
    /// ::1.
    public static let loopbackV6 = IPAddress.v6(high: 0, low: 1)
    /// 0.0.0.0.
    public static let anyV4 = IPAddress.v4(0)
    /// ::.
    public static let anyV6 = IPAddress.v6(high: 0, low: 0)

    /// Parses an IPv4 or IPv6 literal (IPv6 without brackets); nil if it is neither.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        if utf8.contains(UInt8(ascii: ":")) {
            guard let (high, low) = Self.parseV6(utf8) else { return nil }
            self = .v6(high: high, low: low)
        } else {
            guard let value = Self.parseV4(utf8[...]) else { return nil }
            self = .v4(value)
        }
    }

    /// Creates an address from 4 or 16 network-order bytes; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high: high, low: low)
        default: return nil
        }
    }

    /// 4 for IPv4, 6 for IPv6 (the wire's family byte).
    public var family: UInt8 {
        switch self {
        case .v4: return 4
        case .v6: return 6
        }
    }

    /// The address in network byte order (4 or 16 bytes).
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value): return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }
        case .v6(let high, let low):
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else `self`.
    public var unmapped: IPAddress {
        if case .v6(0, let low) = self, low >> 32 == 0xFFFF { return .v4(UInt32(truncatingIfNeeded: low)) }
        return self
    }

    /// 127.0.0.0/8 or ::1 (IPv4-mapped loopback included).
    public var isLoopback: Bool {
        switch unmapped {
        case .v4(let value): return value >> 24 == 127
        case .v6(let high, let low): return high == 0 && low == 1
        }
    }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool {
        switch unmapped {
        case .v4(let value): return value == 0
        case .v6(let high, let low): return high == 0 && low == 0
        }
    }

    /// Private, shared or link-local ranges that must not be relayed by a public peer:
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7, fe80::/10.
    public var isPrivateOrLinkLocal: Bool {
        switch unmapped {
        case .v4(let value):
            return value >> 24 == 10 || value >> 20 == 0xAC1 || value >> 16 == 0xC0A8
                || value >> 22 == (100 << 2 | 1) || value >> 16 == 0xA9FE
        case .v6(let high, _):
            return high >> 57 == 0x7E || high >> 54 == 0x3FA
        }
    }

    /// True for addresses a remote peer may legitimately be reached at from the public Internet.
    public var isPublic: Bool { !isLoopback && !isUnspecified && !isPrivateOrLinkLocal }

    /// The subnet used for diversity limits: IPv4 /24, IPv6 /64 (IPv4-mapped counted as IPv4).
    public var diversitySubnet: Subnet {
        switch unmapped {
        case .v4(let value): return Subnet(family: 4, prefix: UInt64(value >> 8))
        case .v6(let high, _): return Subnet(family: 6, prefix: high)
        }
    }

    /// True when two addresses fall in one diversity subnet; a pair of loopback addresses never does,
    /// so that local simulations with every node on 127.0.0.1 are not restricted.
    public func sharesDiversitySubnet(with other: IPAddress) -> Bool {
        if isLoopback && other.isLoopback { return false }
        return diversitySubnet == other.diversitySubnet
    }

    public var description: String {
        switch self {
        case .v4(let value): return Self.formatV4(value)
        case .v6(let high, let low): return Self.formatV6(high: high, low: low)
        }
    }

    /// A subnet key (family plus prefix bits), for counting entries per subnet.
    public struct Subnet: Hashable, Sendable {
        /// 4 or 6.
        public var family: UInt8
        /// The /24 (IPv4) or /64 (IPv6) prefix, right-aligned.
        public var prefix: UInt64
    }
}

// MARK: - Parsing and formatting

extension IPAddress {
    private static func parseV4(_ text: ArraySlice<UInt8>) -> UInt32? {
        let parts = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }
            let octet = part.reduce(UInt32(0)) { $0 * 10 + UInt32($1 - 48) }
            guard octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func parseV6(_ text: [UInt8]) -> (UInt64, UInt64)? {
        guard text.count <= 45 else { return nil }
        let colon = UInt8(ascii: ":")
        // Split around the one "::" gap, if any; each side is a plain list of groups.
        var gapAt: Int?
        var index = 0
        while index + 1 < text.count {
            if text[index] == colon && text[index + 1] == colon {
                guard gapAt == nil else { return nil }
                gapAt = index
                index += 2
            } else {
                index += 1
            }
        }
        let head: [UInt16], tail: [UInt16]
        if let gap = gapAt {
            guard let left = parseGroups(text[..<gap], allowsTrailingV4: false),
                let right = parseGroups(text[(gap + 2)...], allowsTrailingV4: true),
                left.count + right.count <= 7
            else { return nil }
            head = left
            tail = right
        } else {
            guard let all = parseGroups(text[...], allowsTrailingV4: true), all.count == 8 else { return nil }
            head = all
            tail = []
        }
        let words = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        let high = words[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = words[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    /// Colon-separated hex groups with no empty group; an empty slice is zero groups. The last
    /// group may be a dotted quad (two groups) when `allowsTrailingV4`.
    private static func parseGroups(_ text: ArraySlice<UInt8>, allowsTrailingV4: Bool) -> [UInt16]? {
        if text.isEmpty { return [] }
        let groups = text.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        var words: [UInt16] = []
        for (position, group) in groups.enumerated() {
            if allowsTrailingV4, position == groups.count - 1, group.contains(UInt8(ascii: ".")) {
                guard let v4 = parseV4(group) else { return nil }
                words += [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
            } else {
                guard (1...4).contains(group.count), let word = hexWord(group) else { return nil }
                words.append(word)
            }
        }
        return words.count <= 8 ? words : nil
    }

    private static func hexWord(_ digits: ArraySlice<UInt8>) -> UInt16? {
        var value: UInt16 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case 48...57: nibble = digit - 48
            case 97...102: nibble = digit - 87
            case 65...70: nibble = digit - 55
            default: return nil
            }
            value = value << 4 | UInt16(nibble)
        }
        return value
    }

    private static func formatV4(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    private static func formatV6(high: UInt64, low: UInt64) -> String {
        if high == 0, low >> 32 == 0xFFFF { return "::ffff:" + formatV4(UInt32(truncatingIfNeeded: low)) }
        let words = (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64($0))) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64($0))) }
        // The longest run of two or more zero words is written as "::" (the first, on a tie).
        var bestStart = -1, bestLength = 1, runStart = -1
        for index in 0...8 {
            if index < 8 && words[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength { bestStart = runStart; bestLength = index - runStart }
                runStart = -1
            }
        }
        func hex(_ slice: ArraySlice<UInt16>) -> String { slice.map { String($0, radix: 16) }.joined(separator: ":") }
        guard bestStart >= 0 else { return hex(words[...]) }
        return hex(words[..<bestStart]) + "::" + hex(words[(bestStart + bestLength)...])
    }
}
