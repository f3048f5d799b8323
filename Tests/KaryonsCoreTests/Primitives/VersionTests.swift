import Testing
@testable import KaryonsCore

/// Version strings and Cargo-semver matching. The tables follow karyons-behaviour.md §4 and the
/// `semver` crate's documented operator semantics.
@Suite struct VersionTests {
    static func version(_ text: String) -> Version { try! Version(parsing: text) }

    /// (requirement, versions it matches, versions it does not).
    static let matchingTable: [(String, [String], [String])] = [
        // karyons-behaviour.md §4
        ("^0.1.0", ["0.1.0", "0.1.1", "0.1.99"], ["0.0.0", "0.0.9", "0.2.0", "1.0.0", "1.1.0"]),
        ("0.1.0", ["0.1.0", "0.1.7"], ["0.0.9", "0.2.0", "1.0.0"]),
        (">0.1.0", ["0.1.1", "0.2.0", "1.0.0", "2.0.0"], ["0.1.0", "0.0.5", "0.0.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.2", "0.0.4", "0.1.3", "1.0.3"]),
        ("^1.2.3", ["1.2.3", "1.2.4", "1.3.0", "1.99.0"], ["1.2.2", "1.0.0", "2.0.0", "0.2.3"]),
        (">=0.1.0,<0.3.0", ["0.1.0", "0.2.0", "0.2.99"], ["0.0.9", "0.3.0", "1.0.0"]),
        // Cargo: caret
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.2.2", "0.3.0", "1.2.3"]),
        ("^1.2", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0"]),
        ("^0.2", ["0.2.0", "0.2.7"], ["0.1.9", "0.3.0"]),
        ("^0.0", ["0.0.0", "0.0.7"], ["0.1.0", "1.0.0"]),
        ("^1", ["1.0.0", "1.9.9"], ["0.9.9", "2.0.0"]),
        ("^0", ["0.0.0", "0.9.9"], ["1.0.0"]),
        // Cargo: exact, comparisons
        ("=1.2.3", ["1.2.3"], ["1.2.4", "1.2.2", "1.3.3"]),
        ("=1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"]),
        ("=1", ["1.0.0", "1.9.0"], ["2.0.0", "0.9.0"]),
        (">1.2.3", ["1.2.4", "2.0.0"], ["1.2.3", "1.0.0"]),
        (">1.2", ["1.3.0", "2.0.0"], ["1.2.9", "1.2.0"]),
        (">1", ["2.0.0"], ["1.9.9", "1.0.0"]),
        (">=1.2.3", ["1.2.3", "1.3.0"], ["1.2.2"]),
        (">=1.2", ["1.2.0"], ["1.1.9"]),
        (">=1", ["1.0.0"], ["0.9.9"]),
        ("<1.2.3", ["1.2.2", "0.0.0"], ["1.2.3", "2.0.0"]),
        ("<1.2", ["1.1.9"], ["1.2.0"]),
        ("<1", ["0.9.9"], ["1.0.0"]),
        ("<=1.2.3", ["1.2.3", "1.2.2"], ["1.2.4"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("<=1", ["1.9.9"], ["2.0.0"]),
        // Cargo: tilde
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2", "2.2.3"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("~1", ["1.0.0", "1.9.9"], ["2.0.0", "0.9.9"]),
        ("~0.1.2", ["0.1.2", "0.1.5"], ["0.2.0", "0.1.1"]),
        // Cargo: wildcards
        ("1.2.*", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"]),
        ("1.*", ["1.0.0", "1.9.9"], ["2.0.0", "0.1.0"]),
        ("1.*.*", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("1.x", ["1.5.0"], ["2.0.0"]),
        ("*", ["0.0.0", "4294967295.4294967295.4294967295"], []),
        (">=1.*", ["1.0.0", "2.0.0"], ["0.9.0"]),
        // Comma is AND, with or without spaces
        (">=0.1.0, <0.3.0", ["0.2.0"], ["0.3.0"]),
        (" >= 0.1.0 ,< 0.3.0 ", ["0.1.0"], ["0.0.1"]),
        (">1.0.0, <1.0.1", [], ["1.0.0", "1.0.1"]),
        // The u32 edges: no overflow in `<=` or `>` arithmetic
        ("<=4294967295", ["4294967295.4294967295.4294967295"], []),
        (">4294967295", [], ["4294967295.4294967295.4294967295"]),
        ("^4294967295.0.0", ["4294967295.1.0"], ["4294967294.9.9"]),
    ]

    @Test(arguments: matchingTable.indices)
    func requirementsMatchAsCargoDoes(index: Int) throws {
        let (text, matching, notMatching) = Self.matchingTable[index]
        let requirement = try VersionRequirement(parsing: text)
        for version in matching { #expect(requirement.matches(Self.version(version)), "\(text) should match \(version)") }
        for version in notMatching { #expect(!requirement.matches(Self.version(version)), "\(text) should not match \(version)") }
        #expect(try VersionRequirement(parsing: requirement.description) == requirement, "\(text) round trip")
    }

    @Test(arguments: [
        ("", VersionParseError.empty), ("   ", .empty), (">=", .invalidNumber("")), (">=,1", .invalidNumber("")),
        ("1.2.3-alpha", .unexpectedText("-alpha")), ("1.2.3+build", .unexpectedText("+build")),
        ("01.2.3", .leadingZero("01")), ("1.02", .leadingZero("02")), ("1.q", .invalidNumber("q")),
        ("4294967296", .numberOutOfRange("4294967296")), ("1.99999999999", .numberOutOfRange("99999999999")),
        ("1.*.3", .numberAfterWildcard("3")), ("*.1", .numberAfterWildcard("1")), (">=*", .wildcardWithOperator),
        ("*, >1", .wildcardNotAlone), (">1, *", .wildcardNotAlone), ("*,*", .wildcardNotAlone),
        (">1,", .emptyComparator), (">1,,<2", .emptyComparator), (",>1", .emptyComparator),
        ("1.2.3 1.2.4", .unexpectedText("1.2.4")), ("1.2.3.4", .unexpectedText(".4")), ("~>1.2", .invalidNumber(">1")),
        (Array(repeating: ">1", count: 33).joined(separator: ","), .tooManyComparators(33)),
    ])
    func malformedRequirementsAreRefused(text: String, error: VersionParseError) {
        #expect(throws: error) { try VersionRequirement(parsing: text) }
    }

    @Test func thirtyTwoComparatorsAreAccepted() throws {
        let text = Array(repeating: ">1", count: VersionRequirement.comparatorsMax).joined(separator: ",")
        #expect(try VersionRequirement(parsing: text).comparators.count == 32)
    }

    @Test(arguments: [
        ("1.2.3", Version(1, 2, 3)), ("0.1", Version(0, 1, 0)), (" 4294967295.0.7 ", Version(UInt32.max, 0, 7)),
        ("0.0.0", Version(0, 0, 0)),
    ])
    func versionsParseAndPrint(text: String, expected: Version) throws {
        let version = try Version(parsing: text)
        #expect(version == expected)
        #expect(try Version(parsing: version.description) == version)
    }

    @Test(arguments: [
        ("", VersionParseError.empty), ("1", .componentCount(1)), ("1.2.3.4", .componentCount(4)),
        ("v1.2.3", .invalidNumber("v1")), ("1.2.3-rc1", .unexpectedText("-rc1")), ("1..2", .invalidNumber("")),
        ("1.2.", .invalidNumber("")), ("01.0.0", .leadingZero("01")), ("1.2.4294967296", .numberOutOfRange("4294967296")),
        ("^1.2.3", .invalidNumber("^1")),
    ])
    func malformedVersionsAreRefused(text: String, error: VersionParseError) {
        #expect(throws: error) { try Version(parsing: text) }
    }

    @Test func errorTextIsCutToAFewWords() {
        let junk = String(repeating: "q", count: 1000)
        #expect(throws: VersionParseError.invalidNumber(String(repeating: "q", count: 32))) {
            try Version(parsing: "1." + junk)
        }
        #expect(throws: VersionParseError.unexpectedText("-" + String(repeating: "q", count: 31))) {
            try VersionRequirement(parsing: "1.2.3-" + junk)
        }
    }

    @Test func versionsOrderLexicographically() {
        #expect(Version(0, 1, 9) < Version(0, 2, 0))
        #expect(Version(1, 0, 0) > Version(0, 99, 99))
        #expect(Version(1, 2, 3) < Version(1, 2, 4))
        #expect(!(Version(1, 2, 3) < Version(1, 2, 3)))
    }

    @Test func theSeedsProtocolVersionForm() throws {
        let readme = try ProtocolVersion(parsing: "0.2.0, >0.1.0")
        #expect(readme.version == Version(0, 2, 0))
        #expect(readme.requirement == VersionRequirement(comparators: [VersionComparator(.greater, 0, 1, 0)]))
        #expect(readme.accepts(Version(0, 1, 1)) && readme.accepts(Version(2, 0, 0)))
        #expect(!readme.accepts(Version(0, 1, 0)))
        #expect(readme.description == "0.2.0, >0.1.0")

        let bare = try ProtocolVersion(parsing: "0.1.0")
        #expect(bare == ProtocolVersion(Version(0, 1, 0), requirement: try VersionRequirement(parsing: "^0.1.0")))
        #expect(bare.accepts(Version(0, 1, 5)) && !bare.accepts(Version(0, 2, 0)))
        #expect(try ProtocolVersion(parsing: "0.1") == bare)
        #expect(try ProtocolVersion(parsing: bare.description) == bare)

        let chat = try ProtocolVersion(parsing: "0.1.0, 0.1.0")
        #expect(chat == bare)

        let ranges = [" 0.2.0, >=0.1.0, <0.3.0 ", "0.2.0,>=0.1.0,<0.3.0", "0.2.0 , >=0.1.0,<0.3.0"]
        for text in ranges {
            let parsed = try ProtocolVersion(parsing: text)
            #expect(parsed.version == Version(0, 2, 0))
            #expect(parsed.requirement.comparators == [VersionComparator(.greaterOrEqual, 0, 1, 0), VersionComparator(.less, 0, 3, 0)])
        }
    }

    @Test(arguments: [
        ("0.1.0,", VersionParseError.empty), (", >1", .empty), ("", .empty), ("0.1.0, ", .empty),
        ("0.1.0, >0.1.0,", .emptyComparator), ("x, >1", .invalidNumber("x")), ("0.1.0, 1.2.3-beta", .unexpectedText("-beta")),
    ])
    func malformedProtocolVersionsAreRefused(text: String, error: VersionParseError) {
        #expect(throws: error) { try ProtocolVersion(parsing: text) }
    }

    // MARK: An independent oracle: Cargo's documented "equivalent to" ranges, as half-open intervals.

    /// A version as a triple in a wider type, so that `I+1` cannot overflow.
    typealias Triple = (UInt64, UInt64, UInt64)

    static func less(_ a: Triple, _ b: Triple) -> Bool { a < b }

    /// The half-open interval [lower, upper) a comparator accepts (upper nil = unbounded).
    static func interval(_ c: VersionComparator) -> (lower: Triple, upper: Triple?) {
        let i = UInt64(c.major)
        let j = c.minor.map(UInt64.init), k = c.patch.map(UInt64.init)
        func exact() -> (Triple, Triple?) {
            guard let j else { return ((i, 0, 0), (i + 1, 0, 0)) }
            guard let k else { return ((i, j, 0), (i, j + 1, 0)) }
            return ((i, j, k), (i, j, k + 1))
        }
        switch c.op {
        case .exact, .wildcard: return exact()
        case .greater:
            guard let j else { return ((i + 1, 0, 0), nil) }
            guard let k else { return ((i, j + 1, 0), nil) }
            return ((i, j, k + 1), nil)
        case .greaterOrEqual: return ((i, j ?? 0, k ?? 0), nil)
        case .less: return ((0, 0, 0), (i, j ?? 0, k ?? 0))
        case .lessOrEqual: return ((0, 0, 0), exact().1)
        case .tilde:
            guard let j, let k else { return exact() }
            return ((i, j, k), (i, j + 1, 0))
        case .caret:
            guard let j else { return exact() }
            if i > 0 { return ((i, j, k ?? 0), (i + 1, 0, 0)) }
            if j > 0 { return ((0, j, k ?? 0), (0, j + 1, 0)) }
            guard let k else { return ((0, 0, 0), (0, 1, 0)) }
            return ((0, 0, k), (0, 0, k + 1))
        }
    }

    static func randomComparator(_ rng: inout SplitMix64) -> VersionComparator {
        let op = VersionComparator.Operator.allCases[rng.index(below: VersionComparator.Operator.allCases.count)]
        func number(_ rng: inout SplitMix64) -> UInt32 { rng.chance(0.05) ? UInt32.max : UInt32(rng.uniform(below: 3)) }
        let major = number(&rng)
        let minor = rng.chance(0.75) ? number(&rng) : nil
        let patch = minor != nil && op != .wildcard && rng.chance(0.7) ? number(&rng) : nil
        return VersionComparator(op, major, minor, patch)
    }

    @Test(arguments: 0..<20)
    func matchingAgreesWithCargosDocumentedRanges(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let comparator = Self.randomComparator(&rng)
            let (lower, upper) = Self.interval(comparator)
            #expect(try VersionRequirement(parsing: comparator.description).comparators == [comparator])
            for _ in 0..<20 {
                func number(_ rng: inout SplitMix64) -> UInt32 {
                    rng.chance(0.05) ? UInt32.max - UInt32(rng.uniform(below: 2)) : UInt32(rng.uniform(below: 4))
                }
                let version = Version(number(&rng), number(&rng), number(&rng))
                let triple: Triple = (UInt64(version.major), UInt64(version.minor), UInt64(version.patch))
                let expected = !Self.less(triple, lower) && upper.map { Self.less(triple, $0) } ?? true
                #expect(comparator.matches(version) == expected, "\(comparator) vs \(version)")
            }
        }
    }
}
