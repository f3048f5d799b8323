#if canImport(Glibc)
import Glibc
#endif
import CEpoll

/// An IPv4 or IPv6 socket address: an IP address and a port.
///
/// Parses and prints the forms `203.0.113.7:4000` and `[2001:db8::1]:4000` (IPv6 always in
/// brackets; host names are not resolved here, and IPv6 zone identifiers are not supported).
/// Parsing never traps: bad input gets a `SocketAddressError` that says what is wrong.
/// A value type holding the kernel's `sockaddr_in`/`sockaddr_in6`, so handing it to a system call
/// costs no allocation. Two addresses are equal when family, address bytes and port are equal.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address family.
    public enum Family: Hashable, Sendable {
        /// IPv4 (`AF_INET`).
        case ipv4
        /// IPv6 (`AF_INET6`).
        case ipv6
    }

    enum Storage {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }

    private(set) var storage: Storage

    /// The longest text `init(parsing:)` accepts (`[` + 45-character IPv6 + `]:` + 5-digit port, with room).
    public static let textLengthMax = 64

    init(_ address: sockaddr_in) { storage = .v4(address) }
    init(_ address: sockaddr_in6) { storage = .v6(address) }

    /// An IPv4 address from its four octets in network order, `a.b.c.d`.
    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = (UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)).bigEndian
        storage = .v4(address)
    }

    /// An address from raw bytes in network order: 4 bytes make IPv4, 16 bytes IPv6, any other count nil.
    public init?(addressBytes bytes: some Collection<UInt8>, port: UInt16) {
        switch bytes.count {
        case 4:
            let octets = Array(bytes)
            self.init(ipv4: octets[0], octets[1], octets[2], octets[3], port: port)
        case 16:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { raw in raw.copyBytes(from: bytes) }
            self.init(address)
        default:
            return nil
        }
    }

    /// `127.0.0.1:port`.
    public static func ipv4Loopback(port: UInt16) -> SocketAddress { SocketAddress(ipv4: 127, 0, 0, 1, port: port) }
    /// `0.0.0.0:port` (every IPv4 interface, for listening).
    public static func ipv4Any(port: UInt16) -> SocketAddress { SocketAddress(ipv4: 0, 0, 0, 0, port: port) }
    /// `[::1]:port`.
    public static func ipv6Loopback(port: UInt16) -> SocketAddress {
        SocketAddress(addressBytes: [UInt8](repeating: 0, count: 15) + [1], port: port)!
    }
    /// `[::]:port` (every IPv6 interface, for listening).
    public static func ipv6Any(port: UInt16) -> SocketAddress {
        SocketAddress(addressBytes: [UInt8](repeating: 0, count: 16), port: port)!
    }

    /// The address family.
    public var family: Family {
        switch storage {
        case .v4: return .ipv4
        case .v6: return .ipv6
        }
    }

    /// The port, in host byte order.
    public var port: UInt16 {
        get {
            switch storage {
            case .v4(let address): return UInt16(bigEndian: address.sin_port)
            case .v6(let address): return UInt16(bigEndian: address.sin6_port)
            }
        }
        set {
            switch storage {
            case .v4(var address):
                address.sin_port = newValue.bigEndian
                storage = .v4(address)
            case .v6(var address):
                address.sin6_port = newValue.bigEndian
                storage = .v6(address)
            }
        }
    }

    /// The IP address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var addressBytes: [UInt8] { withAddressBytes { Array($0) } }

    /// The address without the port: `127.0.0.1`, or `::1` (no brackets).
    public var host: String {
        switch storage {
        case .v4(let address):
            let value = UInt32(bigEndian: address.sin_addr.s_addr)
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .v6(var address):
            var text = [CChar](repeating: 0, count: Int(CEPOLL_INET6_ADDRSTRLEN))
            let written = inet_ntop(AF_INET6, &address.sin6_addr, &text, socklen_t(text.count))
            precondition(written != nil, "BUG in Karyons: inet_ntop rejected a valid IPv6 address")
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// `host:port` for IPv4, `[host]:port` for IPv6; `init(parsing:)` reads it back.
    public var description: String {
        switch storage {
        case .v4: return "\(host):\(port)"
        case .v6: return "[\(host)]:\(port)"
        }
    }

    /// An IPv4 address in IPv6 form (`::ffff:a.b.c.d`) is returned as plain IPv4; others unchanged.
    ///
    /// A dual-stack IPv6 socket reports IPv4 peers in mapped form; unmapping makes them compare equal
    /// to the addresses the peers advertise. Allocates nothing (it runs once per received datagram).
    public var unmappingIPv4: SocketAddress {
        guard case .v6(var address) = storage else { return self }
        let octets: (UInt8, UInt8, UInt8, UInt8)? = withUnsafeBytes(of: &address.sin6_addr) { bytes in
            for index in 0..<10 where bytes[index] != 0 { return nil }
            guard bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
            return (bytes[12], bytes[13], bytes[14], bytes[15])
        }
        guard let octets else { return self }
        return SocketAddress(ipv4: octets.0, octets.1, octets.2, octets.3, port: UInt16(bigEndian: address.sin6_port))
    }

    /// This IPv4 address as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), for a dual-stack IPv6
    /// socket; IPv6 addresses unchanged. Allocates nothing.
    var mappingToIPv6: SocketAddress {
        guard case .v4(var address) = storage else { return self }
        var mapped = sockaddr_in6()
        mapped.sin6_family = sa_family_t(AF_INET6)
        mapped.sin6_port = address.sin_port
        withUnsafeMutableBytes(of: &mapped.sin6_addr) { target in
            target[10] = 0xFF
            target[11] = 0xFF
            withUnsafeBytes(of: &address.sin_addr) { source in
                for index in 0..<4 { target[12 + index] = source[index] }
            }
        }
        return SocketAddress(mapped)
    }

    /// Calls `body` with the IP address bytes in network order (4 or 16), without allocating.
    public func withAddressBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch storage {
        case .v4(var address): return try withUnsafeBytes(of: &address.sin_addr, body)
        case .v6(var address): return try withUnsafeBytes(of: &address.sin6_addr, body)
        }
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.family == rhs.family && lhs.port == rhs.port else { return false }
        return lhs.withAddressBytes { left in rhs.withAddressBytes { right in left.elementsEqual(right) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(family)
        hasher.combine(port)
        withAddressBytes { hasher.combine(bytes: $0) }
    }

    // MARK: - Kernel representation

    /// Calls `body` with a `sockaddr` pointer and its length, for bind/connect/sendto.
    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> Result)
        throws(SystemError) -> Result
    {
        switch storage {
        case .v4(var address):
            return try withUnsafePointer(to: &address) { (pointer) throws(SystemError) -> Result in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) -> Result in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(var address):
            return try withUnsafePointer(to: &address) { (pointer) throws(SystemError) -> Result in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) -> Result in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Writes the address into `storage` (a `sockaddr_storage`) and returns its length.
    func write(to storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        switch self.storage {
        case .v4(let address):
            UnsafeMutableRawPointer(storage).storeBytes(of: address, as: sockaddr_in.self)
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let address):
            UnsafeMutableRawPointer(storage).storeBytes(of: address, as: sockaddr_in6.self)
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    /// Reads an address the kernel wrote into a `sockaddr_storage`; nil for other families.
    init?(reading storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        let raw = UnsafeRawPointer(storage)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET where length >= socklen_t(MemoryLayout<sockaddr_in>.size):
            self.init(raw.loadUnaligned(as: sockaddr_in.self))
        case AF_INET6 where length >= socklen_t(MemoryLayout<sockaddr_in6>.size):
            self.init(raw.loadUnaligned(as: sockaddr_in6.self))
        default:
            return nil
        }
    }
}

/// Why a text is not a socket address. Each case carries the offending part of the input.
public enum SocketAddressError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text is empty.
    case empty
    /// The text is longer than `SocketAddress.textLengthMax`.
    case tooLong(length: Int)
    /// There is no `:port` after the host.
    case missingPort(String)
    /// The port is not a decimal number from 0 to 65535.
    case invalidPort(String)
    /// The host is not a dotted-quad IPv4 address (host names are not resolved).
    case invalidIPv4(String)
    /// The text in brackets is not an IPv6 address.
    case invalidIPv6(String)
    /// An IPv6 address must be written in brackets: `[::1]:4000`.
    case unbracketedIPv6(String)
    /// A `[` without its `]`.
    case missingClosingBracket(String)

    public var description: String {
        switch self {
        case .empty: return "empty socket address"
        case .tooLong(let length):
            return "socket address too long (\(length) characters, at most \(SocketAddress.textLengthMax))"
        case .missingPort(let text): return "missing ':port' in '\(text)'"
        case .invalidPort(let text): return "invalid port '\(text)' (expected 0...65535)"
        case .invalidIPv4(let text): return "invalid IPv4 address '\(text)'"
        case .invalidIPv6(let text): return "invalid IPv6 address '\(text)'"
        case .unbracketedIPv6(let text): return "IPv6 address needs brackets, as in '[::1]:4000': '\(text)'"
        case .missingClosingBracket(let text): return "missing ']' in '\(text)'"
        }
    }
}

extension SocketAddress {
    /// Parses `a.b.c.d:port` or `[ipv6]:port`.
    public init(parsing text: String) throws(SocketAddressError) {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty else { throw .empty }
        guard utf8.count <= Self.textLengthMax else { throw .tooLong(length: utf8.count) }
        if utf8.first == UInt8(ascii: "[") {
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")) else { throw .missingClosingBracket(text) }
            let host = String(decoding: utf8[1..<close], as: UTF8.self)
            let rest = utf8[(close + 1)...]
            guard rest.first == UInt8(ascii: ":") else { throw .missingPort(text) }
            let port = try Self.parsePort(rest.dropFirst())
            guard var address = Self.parseIPv6(host) else { throw .invalidIPv6(host) }
            address.sin6_port = port.bigEndian
            self.init(address)
        } else {
            guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")) else { throw .missingPort(text) }
            let hostBytes = utf8[..<colon]
            if hostBytes.contains(UInt8(ascii: ":")) { throw .unbracketedIPv6(text) }
            let port = try Self.parsePort(utf8[(colon + 1)...])
            guard let octets = Self.parseIPv4(hostBytes) else {
                throw .invalidIPv4(String(decoding: hostBytes, as: UTF8.self))
            }
            self.init(ipv4: octets.0, octets.1, octets.2, octets.3, port: port)
        }
    }

    /// 1 to 5 decimal digits, at most 65535; no sign, no spaces.
    private static func parsePort(_ digits: ArraySlice<UInt8>) throws(SocketAddressError) -> UInt16 {
        let text = String(decoding: digits, as: UTF8.self)
        guard (1...5).contains(digits.count) else { throw .invalidPort(text) }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { throw .invalidPort(text) }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        guard value <= Int(UInt16.max) else { throw .invalidPort(text) }
        return UInt16(value)
    }

    /// Strict dotted quad: four decimal octets of 1 to 3 digits, no leading zeros, each at most 255.
    private static func parseIPv4(_ bytes: ArraySlice<UInt8>) -> (UInt8, UInt8, UInt8, UInt8)? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets = [UInt8]()
        for part in parts {
            guard (1...3).contains(part.count), part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
            var value = 0
            for digit in part {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
                value = value * 10 + Int(digit - UInt8(ascii: "0"))
            }
            guard value <= 255 else { return nil }
            octets.append(UInt8(value))
        }
        return (octets[0], octets[1], octets[2], octets[3])
    }

    private static func parseIPv6(_ host: String) -> sockaddr_in6? {
        // inet_pton stops at a NUL, so "::1\0junk" would otherwise parse as ::1.
        guard !host.utf8.contains(0) else { return nil }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        let result = host.withCString { inet_pton(AF_INET6, $0, &address.sin6_addr) }
        return result == 1 ? address : nil
    }
}
