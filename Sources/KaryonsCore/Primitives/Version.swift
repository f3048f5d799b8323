/// A network or protocol version: `major.minor.patch`, each an unsigned 32-bit number.
///
/// On the wire a version is three big-endian `UInt32`s (12 bytes). There are no pre-release or
/// build parts, so ordering is plain lexicographic order of the three numbers. The text form is
/// `major.minor.patch`; parsing also accepts `major.minor` (patch 0), as the Rust original did.
/// Numbers are decimal without leading zeros (semver) and at most `UInt32.max`.
public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Incremented for incompatible changes.
    public var major: UInt32
    /// Incremented for compatible additions.
    public var minor: UInt32
    /// Incremented for compatible fixes.
    public var patch: UInt32

    /// Creates `major.minor.patch`.
    @inlinable
    public init(_ major: UInt32, _ minor: UInt32, _ patch: UInt32) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `major.minor.patch` or `major.minor`, after trimming surrounding ASCII spaces.
    public init(parsing text: some StringProtocol) throws(VersionParseError) {
        var cursor = VersionTextCursor(text)
        cursor.skipSpaces()
        if cursor.isAtEnd { throw .empty }
        let major = try cursor.number()
        var parts = [major]
        while cursor.consume(UInt8(ascii: ".")) {
            parts.append(try cursor.number())
        }
        cursor.skipSpaces()
        if !cursor.isAtEnd { throw .unexpectedText(cursor.rest) }
        guard parts.count == 2 || parts.count == 3 else { throw .componentCount(parts.count) }
        self.init(parts[0], parts[1], parts.count == 3 ? parts[2] : 0)
    }

    @inlinable
    public static func < (lhs: Version, rhs: Version) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}

/// Why a version, requirement or version string could not be parsed.
public enum VersionParseError: Error, Hashable, Sendable {
    /// Nothing (or only spaces) where a version or requirement was expected.
    case empty
    /// A component that is not a decimal number or a wildcard, e.g. `q` in `1.q.0`.
    case invalidNumber(String)
    /// A number written with a leading zero, e.g. `01` (semver forbids it).
    case leadingZero(String)
    /// A number above `UInt32.max`, the wire's limit.
    case numberOutOfRange(String)
    /// A version with other than 2 or 3 components, e.g. `1` or `1.2.3.4`.
    case componentCount(Int)
    /// Text left after a complete version or comparator: a pre-release (`-alpha`), build metadata
    /// (`+x`), a fourth component, or two comparators without a comma.
    case unexpectedText(String)
    /// A number after a wildcard component, e.g. `1.*.3`.
    case numberAfterWildcard(String)
    /// A wildcard major (`*`, `x`, `X`) with an operator, e.g. `>=*`.
    case wildcardWithOperator
    /// `*` combined with other comparators; it must stand alone.
    case wildcardNotAlone
    /// An empty comparator between commas, or a trailing comma.
    case emptyComparator
    /// More comparators than `VersionRequirement.comparatorsMax`.
    case tooManyComparators(Int)
}

/// A byte cursor over version text; internal to the version parsers.
struct VersionTextCursor {
    private let bytes: [UInt8]
    private var position = 0

    init(_ text: some StringProtocol) { bytes = Array(text.utf8) }

    var isAtEnd: Bool { position == bytes.count }
    var rest: String { String(decoding: bytes[position...], as: UTF8.self) }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpaces() {
        while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    /// Consumes a wildcard component (`*`, `x` or `X`) if one is next.
    mutating func consumeWildcard() -> Bool {
        consume(UInt8(ascii: "*")) || consume(UInt8(ascii: "x")) || consume(UInt8(ascii: "X"))
    }

    /// A decimal number: at least one digit, no leading zero, at most `UInt32.max`.
    mutating func number() throws(VersionParseError) -> UInt32 {
        let start = position
        while let byte = peek, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { position += 1 }
        let digits = bytes[start..<position]
        let text = String(decoding: digits, as: UTF8.self)
        guard !digits.isEmpty else { throw .invalidNumber(componentText(from: start)) }
        if digits.count > 1 && digits.first == UInt8(ascii: "0") { throw .leadingZero(text) }
        var value: UInt32 = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt32(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 { throw .numberOutOfRange(text) }
            value = sum
        }
        return value
    }

    /// The text of the component starting at `start`, up to the next separator, for error messages.
    private func componentText(from start: Int) -> String {
        var end = start
        while end < bytes.count, ![UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: " ")].contains(bytes[end]) {
            end += 1
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
