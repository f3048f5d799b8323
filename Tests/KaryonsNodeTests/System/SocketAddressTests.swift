import KaryonsCore
import Testing
@testable import KaryonsNode

@Suite struct SocketAddressTests {
    @Test(arguments: [
        "127.0.0.1:80", "0.0.0.0:0", "255.255.255.255:65535", "10.0.0.1:4000",
        "[::1]:4000", "[::]:0", "[2001:db8::1]:1", "[::ffff:1.2.3.4]:5", "[fe80::1:2:3:4]:65535",
        "[2001:db8:1:2:3:4:5:6]:443",
    ])
    func canonicalTextRoundTrips(text: String) throws {
        let address = try SocketAddress(parsing: text)
        #expect(address.description == text)
        #expect(try SocketAddress(parsing: address.description) == address)
    }

    @Test func nonCanonicalIPv6PrintsCanonically() throws {
        let address = try SocketAddress(parsing: "[2001:0DB8:0:0:0:0:0:0001]:80")
        #expect(address.description == "[2001:db8::1]:80")
        #expect(address.family == .ipv6)
        #expect(address.port == 80)
        #expect(address.host == "2001:db8::1")
    }

    @Test func fieldsOfAParsedIPv4Address() throws {
        let address = try SocketAddress(parsing: "192.168.1.20:8080")
        #expect(address.family == .ipv4)
        #expect(address.port == 8080)
        #expect(address.addressBytes == [192, 168, 1, 20])
        #expect(address == SocketAddress(ipv4: 192, 168, 1, 20, port: 8080))
        #expect(address == SocketAddress(addressBytes: [192, 168, 1, 20], port: 8080))
        var moved = address
        moved.port = 9
        #expect(moved.description == "192.168.1.20:9")
        #expect(moved != address)
    }

    @Test func addressBytesBuildBothFamiliesAndRejectOtherLengths() {
        let six = SocketAddress(addressBytes: [UInt8](repeating: 0, count: 15) + [1], port: 7)
        #expect(six == .ipv6Loopback(port: 7))
        #expect(six?.addressBytes.count == 16)
        #expect(SocketAddress(addressBytes: [1, 2, 3], port: 1) == nil)
        #expect(SocketAddress(addressBytes: [UInt8](repeating: 0, count: 5), port: 1) == nil)
    }

    @Test func mappedIPv4IsUnmapped() throws {
        let mapped = try SocketAddress(parsing: "[::ffff:10.1.2.3]:99")
        #expect(mapped.unmappingIPv4 == SocketAddress(ipv4: 10, 1, 2, 3, port: 99))
        #expect(SocketAddress.ipv6Loopback(port: 1).unmappingIPv4 == .ipv6Loopback(port: 1))
        #expect(SocketAddress.ipv4Loopback(port: 3).mappingToIPv6.description == "[::ffff:127.0.0.1]:3")
    }

    @Test func equalAddressesHashEqually() throws {
        let set: Set<SocketAddress> = [
            try SocketAddress(parsing: "[::1]:1"), .ipv6Loopback(port: 1), .ipv4Loopback(port: 1),
            try SocketAddress(parsing: "127.0.0.1:1"),
        ]
        #expect(set.count == 2)
    }

    @Test(arguments: [
        ("", SocketAddressError.empty),
        (String(repeating: "1", count: 65), .tooLong(length: 65)),
        ("127.0.0.1", .missingPort("127.0.0.1")),
        ("[::1]", .missingPort("[::1]")),
        ("[::1]80", .missingPort("[::1]80")),
        ("127.0.0.1:", .invalidPort("")),
        ("127.0.0.1:65536", .invalidPort("65536")),
        ("127.0.0.1:123456", .invalidPort("123456")),
        ("127.0.0.1:-1", .invalidPort("-1")),
        ("127.0.0.1:8a", .invalidPort("8a")),
        ("127.0.0.1: 80", .invalidPort(" 80")),
        ("[::1]:x", .invalidPort("x")),
        ("localhost:80", .invalidIPv4("localhost")),
        ("1.2.3:80", .invalidIPv4("1.2.3")),
        ("1.2.3.4.5:80", .invalidIPv4("1.2.3.4.5")),
        ("256.0.0.1:80", .invalidIPv4("256.0.0.1")),
        ("01.2.3.4:80", .invalidIPv4("01.2.3.4")),
        ("1..3.4:80", .invalidIPv4("1..3.4")),
        (":80", .invalidIPv4("")),
        ("::1:80", .unbracketedIPv6("::1:80")),
        ("[::1:80", .missingClosingBracket("[::1:80")),
        ("[1.2.3.4]:80", .invalidIPv6("1.2.3.4")),
        ("[::g]:80", .invalidIPv6("::g")),
        ("[fe80::1%eth0]:80", .invalidIPv6("fe80::1%eth0")),
        ("[::1\u{0}x]:80", .invalidIPv6("::1\u{0}x")),
        ("[]:80", .invalidIPv6("")),
    ])
    func badInputsGetTheirError(text: String, expected: SocketAddressError) {
        #expect(throws: expected) { try SocketAddress(parsing: text) }
    }

    @Test func errorDescriptionsSayWhatIsWrong() {
        #expect(SocketAddressError.invalidPort("99999").description == "invalid port '99999' (expected 0...65535)")
        #expect(SocketAddressError.unbracketedIPv6("::1:80").description.contains("[::1]:4000"))
    }

    @Test(arguments: 0..<20)
    func randomAddressesRoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let count = random.chance(0.5) ? 4 : 16
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let port = UInt16(truncatingIfNeeded: random.next())
            let address = try #require(SocketAddress(addressBytes: bytes, port: port))
            let parsed = try SocketAddress(parsing: address.description)
            #expect(parsed == address)
            #expect(parsed.addressBytes == bytes)
            #expect(parsed.port == port)
        }
    }
}
