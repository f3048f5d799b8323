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
        self = try VersionTextCursor.parse(Array(text.utf8)[...]) { (cursor) throws(VersionParseError) in
            try Version(cursor: &cursor)
        }
    }

    /// Parses a whole version from the cursor's text.
    init(cursor: inout VersionTextCursor) throws(VersionParseError) {
        cursor.skipSpaces()
        if cursor.isAtEnd { throw .empty }
        let major = try cursor.number()
        guard cursor.consume(ASCII.dot) else {
            throw cursor.isAtEnd || cursor.peek == ASCII.space ? .componentCount(1) : .unexpectedText(cursor.rest)
        }
        let minor = try cursor.number()
        var patch: UInt32 = 0
        var count = 2
        while cursor.consume(ASCII.dot) {
            let number = try cursor.number()
            count += 1
            if count == 3 { patch = number }
        }
        cursor.skipSpaces()
        if !cursor.isAtEnd { throw .unexpectedText(cursor.rest) }
        guard count <= 3 else { throw .componentCount(count) }
        self.init(major, minor, patch)
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

/// Bytes the version parsers look for (plain constants: cheap even in unoptimised builds).
enum ASCII {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let dot: UInt8 = 0x2E
    static let comma: UInt8 = 0x2C
    static let star: UInt8 = 0x2A
    static let lowercaseX: UInt8 = 0x78
    static let uppercaseX: UInt8 = 0x58
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let equals: UInt8 = 0x3D
    static let less: UInt8 = 0x3C
    static let greater: UInt8 = 0x3E
    static let tilde: UInt8 = 0x7E
    static let caret: UInt8 = 0x5E
}

/// A byte cursor over version text; internal to the version parsers. It reads through a buffer
/// pointer that is valid only inside `parse(_:_:)`, and must not escape it.
struct VersionTextCursor {
    /// Component texts in error messages are cut to this many bytes.
    static let errorTextMax = 32

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Runs `body` with a cursor over `text`.
    static func parse<Result>(
        _ text: ArraySlice<UInt8>,
        _ body: (inout VersionTextCursor) throws(VersionParseError) -> Result
    ) throws(VersionParseError) -> Result {
        try text.withUnsafeBufferPointer { (buffer) throws(VersionParseError) -> Result in
            var cursor = VersionTextCursor(buffer)
            return try body(&cursor)
        }
    }

    var isAtEnd: Bool { position == bytes.count }
    var rest: String { text(position..<min(bytes.count, position + Self.errorTextMax)) }
    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == ASCII.space || bytes[position] == ASCII.tab { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Consumes a wildcard component (`*`, `x` or `X`) if one is next.
    mutating func consumeWildcard() -> Bool {
        consume(ASCII.star) || consume(ASCII.lowercaseX) || consume(ASCII.uppercaseX)
    }

    /// A decimal number: at least one digit, no leading zero, at most `UInt32.max`.
    mutating func number() throws(VersionParseError) -> UInt32 {
        let start = position
        var value: UInt32 = 0
        var overflow = false
        while position < bytes.count, bytes[position] >= ASCII.zero && bytes[position] <= ASCII.nine {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt32(bytes[position] - ASCII.zero))
            overflow = overflow || overflow1 || overflow2
            value = sum
            position += 1
        }
        let count = position - start
        guard count > 0 else { throw .invalidNumber(componentText(from: start)) }
        if count > 1 && bytes[start] == ASCII.zero { throw .leadingZero(text(start..<position)) }
        if overflow { throw .numberOutOfRange(text(start..<min(position, start + Self.errorTextMax))) }
        return value
    }

    private func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }

    /// The text of the component starting at `start`, up to the next separator, for error messages.
    private func componentText(from start: Int) -> String {
        var end = start
        while end < bytes.count && end - start < Self.errorTextMax {
            let byte = bytes[end]
            if byte == ASCII.dot || byte == ASCII.comma || byte == ASCII.space { break }
            end += 1
        }
        return text(start..<end)
    }
}
