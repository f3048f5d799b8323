import Testing
@testable import KaryonsCore

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80::", "fe80::"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"), ("::ffff:10.1.2.3", "::ffff:10.1.2.3"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::", "1::"), ("0:0:0:0:0:0:0:1", "::1"),
    ])
    func parsesAndPrintsCanonically(input: String, printed: String) throws {
        let address = try #require(IPAddress(input))
        #expect(address.description == printed)
        #expect(IPAddress(printed) == address)
        #expect(IPAddress(bytes: address.bytes) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1:::2", "1::2::3",
        "12345::", "g::1", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1:2:3:4:5:6:7", "fe80::1%eth0", "::1.2.3",
        "[::1]", " 1.2.3.4",
    ])
    func rejectsMalformedText(input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func classifiesRanges() throws {
        #expect(try #require(IPAddress("127.5.0.1")).isLoopback)
        #expect(try #require(IPAddress("::ffff:127.0.0.1")).isLoopback)
        #expect(try #require(IPAddress("10.9.8.7")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("172.31.0.1")).isPrivateOrLinkLocal)
        #expect(try !#require(IPAddress("172.32.0.1")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("192.168.1.1")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("100.64.0.1")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("169.254.3.3")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("fd00::1")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("fe80::1")).isPrivateOrLinkLocal)
        #expect(try #require(IPAddress("8.8.8.8")).isPublic)
        #expect(try #require(IPAddress("2001:db8::1")).isPublic)
        #expect(try !#require(IPAddress("::")).isPublic)
    }

    @Test func diversitySubnetsAreSlash24AndSlash64WithLoopbackPairsExempt() throws {
        let a = try #require(IPAddress("203.0.113.7")), b = try #require(IPAddress("203.0.113.200"))
        let c = try #require(IPAddress("203.0.114.7"))
        #expect(a.sharesDiversitySubnet(with: b))
        #expect(!a.sharesDiversitySubnet(with: c))
        let v6a = try #require(IPAddress("2001:db8:1:2::1")), v6b = try #require(IPAddress("2001:db8:1:2:ffff::9"))
        let v6c = try #require(IPAddress("2001:db8:1:3::1"))
        #expect(v6a.sharesDiversitySubnet(with: v6b))
        #expect(!v6a.sharesDiversitySubnet(with: v6c))
        #expect(!IPAddress.loopbackV4.sharesDiversitySubnet(with: .loopbackV4))
        #expect(!IPAddress.loopbackV6.sharesDiversitySubnet(with: .loopbackV6))
        #expect(try #require(IPAddress("::ffff:203.0.113.9")).sharesDiversitySubnet(with: a))
    }
}
