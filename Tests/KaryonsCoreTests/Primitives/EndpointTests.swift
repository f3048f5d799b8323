import Testing
@testable import KaryonsCore

@Suite struct EndpointTests {
    @Test(arguments: [
        ("tcp://127.0.0.1:30000", Endpoint.tcp(.loopbackV4, 30000), "tcp://127.0.0.1:30000"),
        ("udp://[::1]:9000", .udp(.loopbackV6, 9000), "udp://[::1]:9000"),
        ("tcp://127.0.0.1:30010 ", .tcp(.loopbackV4, 30010), "tcp://127.0.0.1:30010"),
        ("\t TCP://10.0.0.1:0\n", .tcp(IPAddress("10.0.0.1")!, 0), "tcp://10.0.0.1:0"),
        ("tcp://[2001:DB8::1]:65535", .tcp(IPAddress("2001:db8::1")!, 65535), "tcp://[2001:db8::1]:65535"),
        ("udp://[::ffff:1.2.3.4]:1", .udp(IPAddress("::ffff:1.2.3.4")!, 1), "udp://[::ffff:1.2.3.4]:1"),
        ("tcp://0.0.0.0:00080", .tcp(.anyV4, 80), "tcp://0.0.0.0:80"),
        ("udp://[::]:5", .udp(.anyV6, 5), "udp://[::]:5"),
    ])
    func parsesAndPrintsCanonically(text: String, expected: Endpoint, printed: String) throws {
        let endpoint = try Endpoint(parsing: text)
        #expect(endpoint == expected)
        #expect(endpoint.description == printed)
        #expect(try Endpoint(parsing: printed) == endpoint)
    }

    @Test(arguments: [
        ("", EndpointParseError.empty), ("   ", .empty), ("127.0.0.1:80", .missingScheme), ("unix:/tmp/x", .missingScheme),
        ("http://1.2.3.4:80", .unknownScheme("http")), ("unix:///tmp/x", .unknownScheme("unix")),
        ("://1.2.3.4:80", .unknownScheme("")), ("tcp://1.2.3.4", .missingPort), ("tcp://1.2.3.4:", .missingPort),
        ("tcp://[::1]", .missingPort), ("tcp://[::1]:", .missingPort),
        ("tcp://1.2.3.4:65536", .invalidPort("65536")), ("tcp://1.2.3.4:-1", .invalidPort("-1")),
        ("tcp://1.2.3.4:80/", .invalidPort("80/")), ("tcp://1.2.3.4:123456", .invalidPort("123456")),
        ("tcp://1.2.3.4:8 0", .invalidPort("8 0")), ("tcp://[::1]80", .invalidPort("80")),
        ("tcp://::1:80", .invalidHost("::1")), ("tcp://[1.2.3.4]:80", .invalidHost("1.2.3.4")),
        ("tcp://[::1:80", .invalidHost("[::1:80")), ("tcp://1.2.3.256:80", .invalidHost("1.2.3.256")),
        ("tcp://1.2 .3.4:80", .invalidHost("1.2 .3.4")), ("tcp://[fe80::1%eth0]:80", .invalidHost("fe80::1%eth0")),
        ("tcp://user@1.2.3.4:80", .invalidHost("user@1.2.3.4")), ("tcp://:80", .invalidHost("")),
        ("tcp://localhost:80", .hostNameUnsupported("localhost")),
        ("udp://seed-1.example.org:30010", .hostNameUnsupported("seed-1.example.org")),
        (String(repeating: " ", count: 300) + "tcp://1.2.3.4:5", .tooLong(315)),
    ])
    func refusesAnythingElseWithATypedError(text: String, error: EndpointParseError) {
        #expect(throws: error) { try Endpoint(parsing: text) }
    }

    @Test(arguments: 0..<10)
    func randomEndpointsRoundTrip(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<100 {
            let endpoint = Endpoint(
                rng.chance(0.5) ? .tcp : .udp, address: WireSamples.address(&rng),
                port: UInt16(truncatingIfNeeded: rng.next()))
            #expect(try Endpoint(parsing: endpoint.description) == endpoint)
        }
    }
}
