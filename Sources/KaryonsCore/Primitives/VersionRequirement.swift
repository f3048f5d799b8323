/// Which remote versions a node or protocol accepts: Cargo's semver requirement language.
///
/// A requirement is a comma-separated list of comparators that must all match (AND); spaces are
/// allowed around commas and between an operator and its version. An empty list (`*`) matches
/// every version. Comparators follow Cargo (the Rust `semver` crate) exactly, including partial
/// versions and the 0.x rules:
///
/// | text | matches |
/// |---|---|
/// | `=1.2.3` / `=1.2` / `=1` | exactly 1.2.3 / 1.2.x / 1.x.y |
/// | `>1.2.3` / `>1.2` / `>1` | above 1.2.3 / ≥ 1.3.0 / ≥ 2.0.0 |
/// | `>=1.2.3` / `>=1.2` / `>=1` | ≥ 1.2.3 / ≥ 1.2.0 / ≥ 1.0.0 |
/// | `<1.2.3` / `<1.2` / `<1` | below 1.2.3 / below 1.2.0 / below 1.0.0 |
/// | `<=1.2.3` / `<=1.2` / `<=1` | ≤ 1.2.3 / below 1.3.0 / below 2.0.0 |
/// | `~1.2.3` / `~1.2` / `~1` | [1.2.3, 1.3.0) / 1.2.x / 1.x.y |
/// | `^1.2.3` / `^0.2.3` / `^0.0.3` | [1.2.3, 2.0.0) / [0.2.3, 0.3.0) / exactly 0.0.3 |
/// | `^1.2` / `^0.2` / `^0.0` / `^1` / `^0` | [1.2.0, 2.0.0) / 0.2.x / 0.0.x / 1.x.y / 0.x.y |
/// | `1.2.3` (no operator) | same as `^1.2.3` |
/// | `1.2.*` / `1.*` / `1.*.*` / `*` | 1.2.x / 1.x.y / 1.x.y / anything |
///
/// Wildcards may be written `*`, `x` or `X`. A wildcard component after an operator just drops that
/// component (`>=1.*` is `>=1`); a number after a wildcard is an error; `*` must stand alone.
/// Our versions have no pre-release part, so pre-release rules never apply, and pre-release or build
/// text in a requirement is rejected. Versions are `UInt32`, so larger numbers are rejected too.
public struct VersionRequirement: Hashable, Sendable, CustomStringConvertible {
    /// The comparators, all of which must match; empty means any version.
    public private(set) var comparators: [VersionComparator]

    /// The most comparators one requirement may hold (requirements are configuration, but parsing
    /// stays bounded anyway).
    public static let comparatorsMax = 32

    /// Matches every version (`*`).
    public static let any = VersionRequirement(comparators: [])

    /// A requirement of the given comparators, all of which must match.
    public init(comparators: [VersionComparator]) {
        precondition(
            comparators.count <= Self.comparatorsMax,
            "BUG in Karyons: a requirement with \(comparators.count) comparators")
        self.comparators = comparators
    }

    /// `^version`: what a bare version string means.
    public static func caret(_ version: Version) -> VersionRequirement {
        VersionRequirement(comparators: [.init(.caret, version.major, version.minor, version.patch)])
    }

    /// Parses a requirement such as `">=0.1.0, <0.3.0"`, `"^1.2"` or `"*"`.
    public init(parsing text: some StringProtocol) throws(VersionParseError) {
        self = try VersionTextCursor.parse(Array(text.utf8)[...]) { (cursor) throws(VersionParseError) in
            try VersionRequirement(cursor: &cursor)
        }
    }

    /// Parses a whole requirement from the cursor's text.
    init(cursor: inout VersionTextCursor) throws(VersionParseError) {
        cursor.skipSpaces()
        if cursor.isAtEnd { throw .empty }
        var comparators: [VersionComparator] = []
        var starCount = 0
        repeat {
            cursor.skipSpaces()
            guard comparators.count + starCount < Self.comparatorsMax else {
                throw .tooManyComparators(comparators.count + starCount + 1)
            }
            if let comparator = try VersionComparator.parse(&cursor) {
                comparators.append(comparator)
            } else {
                starCount += 1
            }
        } while try Self.consumeSeparator(&cursor)
        if starCount > 0 && comparators.count + starCount > 1 { throw .wildcardNotAlone }
        self.comparators = comparators
    }

    /// Consumes `,` (with spaces around it) and returns true, or returns false at the end.
    private static func consumeSeparator(_ cursor: inout VersionTextCursor) throws(VersionParseError) -> Bool {
        cursor.skipSpaces()
        if cursor.isAtEnd { return false }
        guard cursor.consume(ASCII.comma) else { throw .unexpectedText(cursor.rest) }
        cursor.skipSpaces()
        if cursor.isAtEnd || cursor.peek == ASCII.comma { throw .emptyComparator }
        return true
    }

    /// True when `version` satisfies every comparator.
    @inlinable
    public func matches(_ version: Version) -> Bool {
        comparators.allSatisfy { $0.matches(version) }
    }

    /// The canonical text: comparators joined by `", "`, or `*` when empty. Parses back to `self`.
    public var description: String {
        comparators.isEmpty ? "*" : comparators.map(\.description).joined(separator: ", ")
    }
}

/// One comparator of a `VersionRequirement`: an operator and a version that may be partial
/// (`major`, `major.minor` or `major.minor.patch`). See `VersionRequirement` for the semantics.
public struct VersionComparator: Hashable, Sendable, CustomStringConvertible {
    /// The comparison a comparator makes.
    public enum Operator: Hashable, Sendable, CaseIterable {
        /// `=`: equal in every given component.
        case exact
        /// `>`.
        case greater
        /// `>=`.
        case greaterOrEqual
        /// `<`.
        case less
        /// `<=`.
        case lessOrEqual
        /// `~`: patch updates allowed.
        case tilde
        /// `^` (also a comparator without operator): updates right of the first non-zero part allowed.
        case caret
        /// `I.*` / `I.J.*`: equal in the given components (like `exact`, printed with `.*`).
        case wildcard
    }

    /// The comparison.
    public let op: Operator
    /// The major number (always given).
    public let major: UInt32
    /// The minor number, or nil if omitted or a wildcard.
    public let minor: UInt32?
    /// The patch number, or nil if omitted or a wildcard; never set when `minor` is nil.
    public let patch: UInt32?

    /// Creates a comparator. `patch` requires `minor`, and a `wildcard` comparator has no patch.
    public init(_ op: Operator, _ major: UInt32, _ minor: UInt32? = nil, _ patch: UInt32? = nil) {
        precondition(patch == nil || minor != nil, "BUG in Karyons: comparator with a patch but no minor")
        precondition(op != .wildcard || patch == nil, "BUG in Karyons: wildcard comparator with a patch")
        self.op = op
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// True when `version` satisfies this comparator (Cargo semantics, see `VersionRequirement`).
    public func matches(_ version: Version) -> Bool {
        switch op {
        case .exact, .wildcard: return matchesExactly(version)
        case .greater: return !matchesLessOrEqual(version)
        case .greaterOrEqual: return !matchesLess(version)
        case .less: return matchesLess(version)
        case .lessOrEqual: return matchesLessOrEqual(version)
        case .tilde:
            guard version.major == major else { return false }
            guard let minor else { return true }
            return version.minor == minor && version.patch >= (patch ?? 0)
        case .caret: return matchesCaret(version)
        }
    }

    /// Equal in every given component.
    private func matchesExactly(_ version: Version) -> Bool {
        guard version.major == major else { return false }
        guard let minor else { return true }
        guard version.minor == minor else { return false }
        guard let patch else { return true }
        return version.patch == patch
    }

    /// Below the lowest version the given components allow (missing components count as 0).
    private func matchesLess(_ version: Version) -> Bool {
        version < Version(major, minor ?? 0, patch ?? 0)
    }

    /// Below or within the given components (`<=1.2` is below 1.3.0).
    private func matchesLessOrEqual(_ version: Version) -> Bool {
        if version.major != major { return version.major < major }
        guard let minor else { return true }
        if version.minor != minor { return version.minor < minor }
        guard let patch else { return true }
        return version.patch <= patch
    }

    /// Cargo's caret: equal up to the first non-zero given component, then at least as large.
    private func matchesCaret(_ version: Version) -> Bool {
        guard version.major == major else { return false }
        guard let minor else { return true }
        if major > 0 { return version >= Version(major, minor, patch ?? 0) }
        guard version.minor == minor else { return false }
        guard let patch else { return true }
        if minor > 0 { return version.patch >= patch }
        return version.patch == patch
    }

    public var description: String {
        var text: String
        switch op {
        case .exact: text = "="
        case .greater: text = ">"
        case .greaterOrEqual: text = ">="
        case .less: text = "<"
        case .lessOrEqual: text = "<="
        case .tilde: text = "~"
        case .caret: text = "^"
        case .wildcard: text = ""
        }
        text += "\(major)"
        if let minor { text += ".\(minor)" }
        if let patch { text += ".\(patch)" }
        if op == .wildcard { text += ".*" }
        return text
    }

    /// Parses one comparator at the cursor; nil for a bare `*` (any version).
    static func parse(_ cursor: inout VersionTextCursor) throws(VersionParseError) -> VersionComparator? {
        let explicitOp = parseOperator(&cursor)
        if explicitOp == nil && cursor.peek == ASCII.comma { throw .emptyComparator }
        cursor.skipSpaces()
        if cursor.consumeWildcard() {
            if explicitOp != nil { throw .wildcardWithOperator }
            try consumeTrailingWildcards(&cursor)
            return nil
        }
        let major = try cursor.number()
        var minor: UInt32?, patch: UInt32?
        var sawWildcard = false
        for position in 0..<2 {
            guard cursor.consume(ASCII.dot) else { break }
            if cursor.consumeWildcard() {
                sawWildcard = true
            } else if sawWildcard {
                throw .numberAfterWildcard(cursor.rest)
            } else if position == 0 {
                minor = try cursor.number()
            } else {
                patch = try cursor.number()
            }
        }
        if let next = cursor.peek, next != ASCII.space, next != ASCII.comma {
            throw .unexpectedText(cursor.rest)
        }
        let op = explicitOp ?? (sawWildcard ? .wildcard : .caret)
        return VersionComparator(op, major, minor, op == .wildcard ? nil : patch)
    }

    /// After a wildcard major only wildcards may follow (`*.*`).
    private static func consumeTrailingWildcards(_ cursor: inout VersionTextCursor) throws(VersionParseError) {
        for _ in 0..<2 {
            guard cursor.consume(ASCII.dot) else { break }
            guard cursor.consumeWildcard() else { throw .numberAfterWildcard(cursor.rest) }
        }
        if let next = cursor.peek, next != ASCII.space, next != ASCII.comma {
            throw .unexpectedText(cursor.rest)
        }
    }

    private static func parseOperator(_ cursor: inout VersionTextCursor) -> Operator? {
        if cursor.consume(ASCII.equals) { return .exact }
        if cursor.consume(ASCII.tilde) { return .tilde }
        if cursor.consume(ASCII.caret) { return .caret }
        if cursor.consume(ASCII.greater) { return cursor.consume(ASCII.equals) ? .greaterOrEqual : .greater }
        if cursor.consume(ASCII.less) { return cursor.consume(ASCII.equals) ? .lessOrEqual : .less }
        return nil
    }
}

/// A node's or protocol's version string in the seed's form: the version it speaks, then the
/// requirement it applies to remote versions.
///
/// `"0.2.0, >0.1.0"` means "I am 0.2.0 and accept remotes above 0.1.0". A bare `"0.1.0"` means
/// `"0.1.0, ^0.1.0"`. The text is split at its *first* comma: what follows is a full requirement,
/// so `"0.2.0, >=0.1.0, <0.3.0"` and `"0.2.0,>=0.1.0,<0.3.0"` are both valid (the Rust original
/// split on the exact two characters `", "` and rejected the first). Surrounding spaces are trimmed.
public struct ProtocolVersion: Hashable, Sendable, CustomStringConvertible {
    /// The version this side speaks (sent in Version, Verack and lookup Ping).
    public var version: Version
    /// The versions this side accepts from the remote.
    public var requirement: VersionRequirement

    /// A version and its requirement; without one, `^version`.
    public init(_ version: Version, requirement: VersionRequirement? = nil) {
        self.version = version
        self.requirement = requirement ?? .caret(version)
    }

    /// Parses `"<version>"` or `"<version>, <requirement>"`.
    public init(parsing text: some StringProtocol) throws(VersionParseError) {
        let utf8 = Array(text.utf8)
        guard let comma = utf8.firstIndex(of: ASCII.comma) else {
            self.init(try VersionTextCursor.parse(utf8[...]) { (cursor) throws(VersionParseError) in try Version(cursor: &cursor) })
            return
        }
        let version = try VersionTextCursor.parse(utf8[..<comma]) { (cursor) throws(VersionParseError) in
            try Version(cursor: &cursor)
        }
        let requirement = try VersionTextCursor.parse(utf8[(comma + 1)...]) { (cursor) throws(VersionParseError) in
            try VersionRequirement(cursor: &cursor)
        }
        self.init(version, requirement: requirement)
    }

    /// True when a remote speaking `remote` is acceptable to this side.
    @inlinable
    public func accepts(_ remote: Version) -> Bool { requirement.matches(remote) }

    /// `"<version>, <requirement>"`; parses back to `self`.
    public var description: String { "\(version), \(requirement)" }
}
