import Foundation
import KaryonsCore
import KaryonsSimulation
import Testing

@Suite("Simulation options")
struct SimulationOptionsTests {
    @Test("durations parse in every unit and combination, and format back to the same value")
    func durations() throws {
        let cases: [(String, UInt64)] = [
            ("10m", 600_000_000_000), ("90s", 90_000_000_000), ("1h30m", 5_400_000_000_000), ("2m30s", 150_000_000_000),
            ("250ms", 250_000_000), ("1.5s", 1_500_000_000), ("20us", 20_000), ("7ns", 7), ("0", 0),
        ]
        for (text, nanoseconds) in cases {
            let duration = try SimulationOptions.parseDuration(text)
            #expect(duration.nanoseconds == nanoseconds, "\(text)")
            #expect(try SimulationOptions.parseDuration(SimulationOptions.format(duration)) == duration, "\(text)")
        }
        #expect(SimulationOptions.format(.seconds(150)) == "2m30s")
        #expect(SimulationOptions.format(.milliseconds(1_250)) == "1s250ms")
    }

    @Test("bad durations are refused with a message, never trapped", arguments: ["", "10", "m", "10x", "1..2s", "-5s", "9999999999h"])
    func badDurations(text: String) {
        #expect(throws: OptionParseError.self) { try SimulationOptions.parseDuration(text) }
    }

    @Test("option text longer than optionTextLengthMax is refused before it is scanned")
    func textLengthLimit() throws {
        let long = String(repeating: "1s", count: SimulationOptions.optionTextLengthMax / 2 + 1)
        #expect(throws: OptionParseError.self) { try SimulationOptions.parseDuration(long) }
        let fits = String(repeating: "1s", count: SimulationOptions.optionTextLengthMax / 2)
        #expect(try SimulationOptions.parseDuration(fits) == .seconds(UInt64(SimulationOptions.optionTextLengthMax / 2)))
    }

    @Test("latency ranges, probabilities and partitions")
    func ranges() throws {
        #expect(try SimulationOptions.parseLatency("20ms..80ms") == Duration.milliseconds(20)...Duration.milliseconds(80))
        #expect(try SimulationOptions.parseLatency("50ms") == Duration.milliseconds(50)...Duration.milliseconds(50))
        #expect(throws: OptionParseError.self) { try SimulationOptions.parseLatency("80ms..20ms") }
        #expect(try SimulationOptions.parseProbability("0.25") == 0.25)
        #expect(try SimulationOptions.parseProbability("5%") == 0.05)
        #expect(throws: OptionParseError.self) { try SimulationOptions.parseProbability("1.5") }
        #expect(throws: OptionParseError.self) { try SimulationOptions.parseProbability("lots") }
        let partition = try SimulationOptions.parsePartition("50%@2m..5m")
        #expect(partition == Partition(fraction: 0.5, start: .zero + .seconds(120), end: .zero + .seconds(300)))
        #expect(SimulationOptions.format(partition) == "50%@2m..5m")
        #expect(throws: OptionParseError.self) { try SimulationOptions.parsePartition("50%@5m..2m") }
        #expect(throws: OptionParseError.self) { try SimulationOptions.parsePartition("50%") }
    }

    @Test("the replay command names every option that differs from the defaults")
    func commandLine() throws {
        var options = SimulationOptions()
        #expect(options.commandLine == "karyons sim --nodes 1000 --seed 1 --duration 10m")
        options.nodes = 200
        options.seed = 42
        options.loss = 0.1
        options.latency = Duration.milliseconds(10)...Duration.milliseconds(30)
        options.churn = 0.2
        options.partitions = [try SimulationOptions.parsePartition("30%@1m..2m")]
        options.addresses = .publicSubnets(hostsPerSubnet: 4)
        options.checksInvariants = false
        #expect(options.commandLine == "karyons sim --nodes 200 --seed 42 --duration 10m --latency 10ms..30ms --loss 0.1 "
            + "--churn 0.2 --partition 30%@1m..2m --addresses public --hosts-per-subnet 4 --no-invariants")
        options.preset = .seed12
        #expect(options.commandLine.hasPrefix("karyons sim --preset seed12 --seed 42"))
        #expect(options.nodeCount == 12)
    }

    @Test("defaults scale with the node count: seeds 1 per 100 (1...8) and 1 per 1,250 beyond, join window 100 ms per node up to 1m")
    func scaledDefaults() {
        var options = SimulationOptions()
        options.nodes = 10
        #expect(options.effectiveSeedNodes == 1)
        #expect(options.effectiveJoinWindow == .milliseconds(900))
        options.nodes = 1_000
        #expect(options.effectiveSeedNodes == 8)
        options.nodes = 10_000
        #expect(options.effectiveSeedNodes == 8)
        #expect(options.effectiveJoinWindow == .seconds(60))
        options.nodes = 12_500
        #expect(options.effectiveSeedNodes == 10)
        options.nodes = 100_000
        #expect(options.effectiveSeedNodes == 80)
        options.seedNodes = 3
        #expect(options.effectiveSeedNodes == 3)
    }

    @Test("scenario addresses: loopback per host, or public /24s holding a given number of hosts")
    func addresses() {
        #expect(Scenario.address(of: 0, plan: .loopback) == IPAddress("127.0.0.1"))
        #expect(Scenario.address(of: 70_000, plan: .loopback) == IPAddress("127.1.17.113"))
        #expect(Scenario.address(of: 0, plan: .publicSubnets(hostsPerSubnet: 2)) == IPAddress("20.0.0.1"))
        #expect(Scenario.address(of: 1, plan: .publicSubnets(hostsPerSubnet: 2)) == IPAddress("20.0.0.2"))
        #expect(Scenario.address(of: 2, plan: .publicSubnets(hostsPerSubnet: 2)) == IPAddress("20.0.1.1"))
        #expect(Scenario.address(of: SimulationLimits.nodesMax - 1, plan: .publicSubnets(hostsPerSubnet: 1)).isPublic == true)
        #expect(Scenario.address(of: SimulationLimits.nodesMax - 1, plan: .loopback).isLoopback)
    }
}

@Suite("SHA-256, JSON and SVG writers")
struct SimulationWriterTests {
    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    @Test("SHA-256 matches the FIPS 180-4 examples")
    func sha256Vectors() {
        #expect(hex(SHA256.hash(Array("".utf8))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: 0x61, count: 1_000))).count == 64)
    }

    @Test("the seed12 IDs put every other peer in bucket 31, as the original's test vectors say")
    func seed12Buckets() {
        let ids = (1...12).map { SHA256.peerID("peer\($0)") }
        for a in ids {
            for b in ids where a != b { #expect(RoutingTable.bucketIndex(of: b, relativeTo: a) == 31) }
        }
    }

    @Test("JSON: members in order, strings escaped, integers without a point, non-finite numbers as null")
    func json() {
        let value = JSONValue.object([
            ("name", .string("a \"quoted\"\\ line\n\u{1}")), ("count", .int(3)), ("ratio", .number(0.25)),
            ("whole", .number(12)), ("nan", .number(.nan)), ("list", .array([.bool(true), .null])),
        ])
        #expect(value.serialized()
            == #"{"name":"a \"quoted\"\\ line\n\u0001","count":3,"ratio":0.25,"whole":12,"nan":null,"list":[true,null]}"#)
    }

    @Test("SVG: one polyline per series with points, escaped text, one panel per metric group")
    func svg() {
        var chart = SVGChart(title: "a < b & c") { "\(Int($0))s" }
        chart.panels = [
            .init(title: "first", series: [
                .init(name: "up", color: "#000", points: [(0, 1), (10, 3), (20, 2)]),
                .init(name: "empty", color: "#111", points: []),
            ]),
            .init(title: "second", series: [.init(name: "share", color: "#222", points: [(0, 0.5), (20, 1)])], yRange: 0...1),
        ]
        let svg = chart.render()
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.contains("a &lt; b &amp; c"))
        #expect(!svg.contains("a < b"))
        #expect(svg.contains(">first<") && svg.contains(">second<") && svg.contains(">20s<"))
    }
}

/// `karyons sim --trace-host N` prints `Simulation.inspection(ofHost:)` at the end: it must report
/// the node's real state, and say so plainly for a host that is down or does not exist.
@Suite("Host inspection")
struct HostInspectionTests {
    @Test("reports the node's table by status, its peers by direction and its dials")
    func reportsNodeState() throws {
        var options = SimulationOptions()
        options.nodes = 12
        options.duration = .seconds(40)
        let simulation = Simulation(options: options)
        _ = simulation.run()
        let host = 7
        let text = simulation.inspection(ofHost: host)
        let expected = try #require(simulation.network.withNode(host) { node -> [String] in
            var outbound = 0
            var inbound = 0
            node.forEachPeer { _, direction in if direction == .outbound { outbound += 1 } else { inbound += 1 } }
            let table = node.routingTable
            return [
                "host \(host) (\(simulation.network.address(of: host))), up since",
                "id \(node.id.shortDescription)",
                "routing table: \(table.count) entries (\(table.count(of: .unverified)) unverified, "
                    + "\(table.count(of: .verified)) verified, \(table.count(of: .connected)) connected, \(table.count(of: .failed)) failed)",
                "peers: \(outbound) outbound, \(inbound) inbound",
                "dials: \(node.statistics.dialsStarted) started, \(node.statistics.dialsSucceeded) produced a peer",
            ]
        })
        for line in expected { #expect(text.contains(line), "missing \"\(line)\" in:\n\(text)") }
        #expect(simulation.network.withNode(host) { $0.peers.isEmpty } == false, "the inspected node has peers to report")
    }

    @Test("a down host and a host that does not exist are named as such")
    func downAndMissingHosts() {
        var options = SimulationOptions()
        options.nodes = 3
        options.duration = .seconds(5)
        let simulation = Simulation(options: options)
        simulation.network.crash(2, at: .seconds(1))
        _ = simulation.run()
        #expect(simulation.inspection(ofHost: 2).hasPrefix("host 2 (\(simulation.network.address(of: 2))): down"))
        #expect(simulation.inspection(ofHost: 3) == "host 3: no such host\n")
    }
}
