/// A transport address in URL form: `tcp://host:port` or `udp://host:port`.
///
/// Used in configuration (listen, bootstrap and manual peer endpoints) and in events. The host is an
/// IP literal: IPv4 dotted quad, or IPv6 in brackets (`udp://[::1]:9000`). Host names are refused
/// with `.hostNameUnsupported`, because the reactor does no DNS (resolve names before configuring).
/// Parsing trims leading and trailing ASCII whitespace, as the Rust original's URL parser did (its
/// simulation script passes `"tcp://127.0.0.1:30010 "`); the scheme is case-insensitive. Nothing may
/// follow the port (no path, query or user info). Port 0 is allowed: it asks the kernel for an
/// ephemeral port when listening. Printing gives the canonical text, which parses back to `self`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The transport named by the URL scheme.
    public enum Transport: String, Hashable, Sendable, CaseIterable {
        /// `tcp://`: data connections and lookups.
        case tcp
        /// `udp://`: the refresh plane.
        case udp
    }

    /// The transport.
    public var transport: Transport
    /// The IP address.
    public var address: IPAddress
    /// The port; 0 means "any" when listening.
    public var port: UInt16

    /// Creates an endpoint from its parts.
    public init(_ transport: Transport, address: IPAddress, port: UInt16) {
        self.transport = transport
        self.address = address
        self.port = port
    }

    /// A TCP endpoint.
    public static func tcp(_ address: IPAddress, _ port: UInt16) -> Endpoint { Endpoint(.tcp, address: address, port: port) }

    /// A UDP endpoint.
    public static func udp(_ address: IPAddress, _ port: UInt16) -> Endpoint { Endpoint(.udp, address: address, port: port) }

    /// The longest text `init(parsing:)` looks at (the longest valid endpoint is 59 characters).
    public static let textLengthMax = 256

    /// Parses `scheme://host:port`; see the type's documentation for the accepted forms.
    public init(parsing text: some StringProtocol) throws(EndpointParseError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.textLengthMax else { throw .tooLong(utf8.count) }
        var start = 0, end = utf8.count
        while start < end, Self.isWhitespace(utf8[start]) { start += 1 }
        while end > start, Self.isWhitespace(utf8[end - 1]) { end -= 1 }
        let trimmed = utf8[start..<end]
        guard let separator = Self.schemeSeparator(in: trimmed) else {
            throw trimmed.isEmpty ? .empty : .missingScheme
        }
        let scheme = String(decoding: trimmed[..<separator.lowerBound], as: UTF8.self).lowercased()
        guard let transport = Transport(rawValue: scheme) else { throw .unknownScheme(scheme) }
        let (address, port) = try Self.parseAuthority(trimmed[separator.upperBound...])
        self.init(transport, address: address, port: port)
    }

    /// `tcp://1.2.3.4:5` or `udp://[::1]:5`.
    public var description: String {
        let host = address.family == 6 ? "[\(address)]" : "\(address)"
        return "\(transport.rawValue)://\(host):\(port)"
    }

    private static func parseAuthority(_ text: ArraySlice<UInt8>) throws(EndpointParseError) -> (IPAddress, UInt16) {
        let hostText: ArraySlice<UInt8>, portText: ArraySlice<UInt8>?
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { throw .invalidHost(string(text)) }
            hostText = text[(text.startIndex + 1)..<close]
            let afterHost = text[(close + 1)...]
            if afterHost.isEmpty {
                portText = nil
            } else {
                guard afterHost.first == UInt8(ascii: ":") else { throw .invalidPort(string(afterHost)) }
                portText = afterHost.dropFirst()
            }
            guard hostText.contains(UInt8(ascii: ":")), let address = IPAddress(string(hostText)) else {
                throw .invalidHost(string(hostText))
            }
            return (address, try parsePort(portText))
        }
        if let colon = text.lastIndex(of: UInt8(ascii: ":")) {
            hostText = text[..<colon]
            portText = text[(colon + 1)...]
        } else {
            hostText = text
            portText = nil
        }
        guard let address = IPAddress(string(hostText)), address.family == 4 else {
            throw isHostName(hostText) ? .hostNameUnsupported(string(hostText)) : .invalidHost(string(hostText))
        }
        return (address, try parsePort(portText))
    }

    private static func parsePort(_ text: ArraySlice<UInt8>?) throws(EndpointParseError) -> UInt16 {
        guard let text, !text.isEmpty else { throw .missingPort }
        guard text.count <= 5, text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw .invalidPort(string(text))
        }
        let value = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard let port = UInt16(exactly: value) else { throw .invalidPort(string(text)) }
        return port
    }

    /// A syntactically valid DNS name (letters, digits, hyphens, dots; not all digits and dots).
    private static func isHostName(_ text: ArraySlice<UInt8>) -> Bool {
        guard !text.isEmpty, text.count <= 253 else { return false }
        let allowed = text.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: ".")
        }
        let hasLetter = text.contains { (UInt8(ascii: "A")...UInt8(ascii: "z")).contains($0) }
        return allowed && hasLetter && text.first != UInt8(ascii: ".") && text.first != UInt8(ascii: "-")
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == ASCII.space || byte == ASCII.tab || byte == 0x0A || byte == 0x0D  // \n, \r
    }

    /// The position of the first `://`.
    private static func schemeSeparator(in text: ArraySlice<UInt8>) -> Range<Int>? {
        var index = text.startIndex
        while index + 3 <= text.endIndex {
            if text[index] == 0x3A && text[index + 1] == 0x2F && text[index + 2] == 0x2F {  // "://"
                return index..<(index + 3)
            }
            index += 1
        }
        return nil
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}

/// Why a string is not a valid `Endpoint`.
public enum EndpointParseError: Error, Hashable, Sendable {
    /// Empty, or only whitespace.
    case empty
    /// Longer than `Endpoint.textLengthMax`.
    case tooLong(Int)
    /// No `scheme://` prefix.
    case missingScheme
    /// A scheme other than `tcp` or `udp` (lowercased).
    case unknownScheme(String)
    /// A host that is not an IP literal (IPv6 must be in brackets).
    case invalidHost(String)
    /// A DNS name; only IP literals are supported (the reactor does no DNS).
    case hostNameUnsupported(String)
    /// No `:port` after the host.
    case missingPort
    /// A port that is not a decimal number in 0...65535, or text after the port.
    case invalidPort(String)
}
