import CBaselines
import Foundation
import KaryonsPingPong
import NIOPingPong
import PingPong
import Testing

/// Every implementation against every standard workload over real loopback sockets. Serialized:
/// the runs pin threads and count open descriptors, so they must not overlap.
@Suite("Ping-pong implementations over loopback", .serialized)
struct ImplementationTests {
    static let implementations: [any PingPongImplementation] = [CBaselinePingPong(), NIOPingPong(), KaryonsPingPong()]
    static let names = implementations.map(\.name)

    static var cases: [(String, PingPongWorkload)] {
        implementations.flatMap { implementation in PingPongWorkload.standard.map { (implementation.name, $0) } }
    }

    static func implementation(named name: String) throws -> any PingPongImplementation {
        try #require(implementations.first { $0.name == name })
    }

    static func openDescriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    @Test("A count-limited run completes exactly that many round trips", arguments: cases)
    func exactRoundTrips(name: String, workload: PingPongWorkload) throws {
        let implementation = try Self.implementation(named: name)
        // More than one window (and than one ping per TCP connection), so pongs release pings.
        let count = 2_500
        let result = try implementation.run(PingPongRun(workload: workload, stop: .roundTrips(count), pinning: MachineCPUs.split, giveUpSeconds: 30))
        #expect(result.roundTrips == UInt64(count))
        #expect(result.elapsedNanoseconds > 0)
        #expect(result.roundTripsPerSecond > 0)
    }

    @Test("A duration-limited run lasts at least that long and makes progress", arguments: names)
    func durationRun(name: String) throws {
        let implementation = try Self.implementation(named: name)
        let run = PingPongRun(workload: .udpWindow64, stop: .duration(seconds: 0.05), pinning: .none)
        let result = try implementation.run(run)
        #expect(result.elapsedNanoseconds >= 50_000_000)
        #expect(result.roundTrips > 0)
    }

    @Test("A run that outlasts its give-up limit fails instead of hanging", arguments: cases.filter { [PingPongWorkload.udpWindow1, .tcpConnections1].contains($0.1) })
    func giveUpLimit(name: String, workload: PingPongWorkload) throws {
        let implementation = try Self.implementation(named: name)
        let run = PingPongRun(workload: workload, stop: .roundTrips(1_000_000_000), pinning: .none, giveUpSeconds: 0.2)
        let error = #expect(throws: PingPongError.self) { try implementation.run(run) }
        #expect(error?.description.contains("gave up") == true)
    }

    @Test("Runs leave no descriptor behind", arguments: names)
    func noLeakedDescriptors(name: String) throws {
        let implementation = try Self.implementation(named: name)
        // One run first, so lazily opened process-wide descriptors are already there.
        _ = try implementation.run(PingPongRun(workload: .tcpConnections1, stop: .roundTrips(10), pinning: .none))
        let before = Self.openDescriptorCount()
        for workload in [PingPongWorkload.udpWindow64Batched, .tcpConnections1000] {
            _ = try implementation.run(PingPongRun(workload: workload, stop: .roundTrips(1_000), pinning: .none))
        }
        #expect(Self.openDescriptorCount() == before)
    }

    @Test("Pinning to a CPU the process may not use fails with a typed error", arguments: names)
    func badPinningFails(name: String) throws {
        let implementation = try Self.implementation(named: name)
        let pinning = CPUPinning(clientCPU: 1000, serverCPU: MachineCPUs.allowed(0))
        let run = PingPongRun(workload: .udpWindow1, stop: .roundTrips(10), pinning: pinning)
        #expect(throws: PingPongError.self) { try implementation.run(run) }
    }

    @Test("Workloads outside an implementation's limits are unsupported, not run", arguments: names)
    func unsupportedWorkloads(name: String) throws {
        let implementation = try Self.implementation(named: name)
        let tooSmall = PingPongWorkload(name: "tiny", transport: .udp(window: 1, batchMax: 1), payloadSize: 3)
        let noWindow = PingPongWorkload(name: "no-window", transport: .udp(window: 0, batchMax: 1))
        let tooManyConnections = PingPongWorkload(name: "many", transport: .tcp(connections: 8_001))
        let tooLarge = PingPongWorkload(name: "large", transport: .udp(window: 1, batchMax: 1), payloadSize: 1025)
        let batchTooLarge = PingPongWorkload(name: "batch", transport: .udp(window: 64, batchMax: 65))
        let windowTooLarge = PingPongWorkload(name: "window", transport: .udp(window: 4097, batchMax: 1))
        for workload in [tooSmall, noWindow, tooManyConnections, tooLarge, batchTooLarge, windowTooLarge] {
            #expect(!implementation.supports(workload))
            #expect(throws: PingPongError.unsupported(implementation: name, workload: workload.name)) {
                try implementation.run(PingPongRun(workload: workload, stop: .roundTrips(1), pinning: .none))
            }
        }
        // The largest supported payload and batch do run (Karyons batches at most 16, its transport's cap).
        let batchMax = name == KaryonsPingPong.columnName ? KaryonsPingPong.batchSizeMax : 64
        let overBatch = PingPongWorkload(name: "over-batch", transport: .udp(window: 64, batchMax: batchMax + 1))
        #expect(!implementation.supports(overBatch))
        let largest = PingPongWorkload(name: "largest", transport: .udp(window: 64, batchMax: batchMax), payloadSize: 1024)
        let result = try implementation.run(PingPongRun(workload: largest, stop: .roundTrips(200), pinning: .none))
        #expect(result.roundTrips == 200)
    }

    @Test("The C entry points reject invalid parameters with a message")
    func cRejectsInvalidParameters() {
        var parameters = cbaseline_params()
        var result = cbaseline_result()
        parameters.payload_size = 40
        parameters.window = 1
        parameters.batch_max = 1
        parameters.round_trips_max = 1
        // give_up_ns is 0: the run must refuse rather than risk hanging.
        #expect(cbaseline_udp_ping_pong(&parameters, &result) == -1)
        let message = withUnsafeBytes(of: &result.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(message == "invalid parameters: give_up_ns is 0")
        parameters.give_up_ns = 1_000_000_000
        parameters.batch_max = CBASELINE_BATCH_MAX + 1
        #expect(cbaseline_udp_ping_pong(&parameters, &result) == -1)
        parameters.connections = 0
        #expect(cbaseline_tcp_ping_pong(&parameters, &result) == -1)
    }
}
