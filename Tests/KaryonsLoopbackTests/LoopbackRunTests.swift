#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KaryonsCore
import KaryonsSimulation
import Testing
@testable import KaryonsLoopback

/// Loopback runs on real sockets. Each test draws its own 127.x.0.0/16 block, so tests running in
/// parallel (and test runs in other checkouts) do not compete for the scenario's fixed ports. A run
/// blocks its thread, so it gets one of its own rather than one of the test pool's.
@Suite struct LoopbackRunTests {
    @Test func twentyFourNodesOnRealSocketsConvergeToOneComponent() async throws {
        var options = LoopbackOptions()
        options.simulation.nodes = 24
        options.simulation.seed = 5
        options.simulation.duration = .seconds(60)  // the deadline; the run ends when it converges
        options.simulation.sampleInterval = .milliseconds(200)
        options.firstAddress = freshLoopbackBlock()
        options.stopsWhenConverged = true
        let (report, misaddressed) = try await runOnOwnThread(options) { run in
            // Every entry a node learned carries the address of the host with that ID: each node's
            // connections came from its own address, not the kernel's 127.0.0.1.
            run.nodes.compactMap { $0 }.flatMap { node in
                node.driver.routingTable.entries(matching: .all).compactMap { entry -> String? in
                    let host = run.plan.hosts.first { $0.id == entry.id }
                    return host?.address == entry.record.address ? nil : "\(entry.record.address) for host \(host?.index ?? -1)"
                }
            }
        }
        let misaddressedCount = misaddressed.count
        #expect(misaddressedCount == 0, "for example \(misaddressed.prefix(5))")

        let summary = report.summary(resources: nil)
        let converged = report.convergedAt
        let convergedAt = try #require(converged, "not converged within 60 s:\n\(summary)")
        #expect(convergedAt < .seconds(60))
        let final = try #require(report.final)
        #expect(final.nodesUp == 24)
        #expect(final.components == 1)
        #expect(final.largestComponentShare == 1)
        #expect(final.verifiedEntriesMean >= 1)
        #expect(final.nodesWithoutVerifiedEntry == 0, "converged: every node knows a verified entry")
        #expect(final.peersMean >= 1)
        #expect(final.lookupsSucceeded > 0)
        #expect(report.violationCount == 0, "\(report.violations)")
        #expect(report.traffic.framesSent > 0)
        #expect(report.budget.lookupSlots == 20)
        let peak = try #require(report.descriptorsPeak)
        #expect(peak <= report.budget.limit)
        #expect(peak > 24 * 3)  // every node's three listeners at least
        // (The peak counts the whole test process, where other tests hold descriptors too, so it is
        // not compared with this run's budget here.)
    }

    /// The original's 12 peers: six outbound-only nodes (one datagram socket each, bound to their own
    /// address) joining 3 s later, peer8 dialling peer6's data port directly.
    @Test func theSeed12PresetConvergesOnRealSockets() async throws {
        var options = LoopbackOptions()
        options.simulation.preset = .seed12
        options.simulation.duration = .seconds(60)
        options.simulation.sampleInterval = .milliseconds(200)
        options.firstAddress = freshLoopbackBlock()
        options.stopsWhenConverged = true
        let (report, peer8Peers) = try await runOnOwnThread(options) { run in
            run.nodes[7].map { node in node.driver.peers.compactMap { peer in run.plan.hosts.first { $0.id == peer.id }?.index } } ?? []
        }
        let converged = report.convergedAt
        #expect(converged != nil, "not converged within 60 s")
        #expect(report.final?.nodesUp == 12)
        #expect(report.final?.components == 1)
        #expect(report.violationCount == 0)
        #expect(peer8Peers.contains(5), "peer8 is not connected to peer6, its dial peer: \(peer8Peers)")
        #expect(report.budget.hosts.filter { $0.listeners == 1 }.count == 6)
    }

    @Test func theReportCarriesTheVirtualRunsFieldNames() async throws {
        var options = LoopbackOptions()
        options.simulation.nodes = 6
        options.simulation.duration = .seconds(60)
        options.simulation.sampleInterval = .milliseconds(200)
        options.firstAddress = freshLoopbackBlock()
        options.stopsWhenConverged = true
        let report = try await runOnOwnThread(options)
        let text = report.json(resources: SimulationReport.Resources(wallSeconds: 1.5, maxResidentBytes: 1_000)).serialized()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for key in ["nodes", "seed", "wallSeconds", "routingTableFillMean", "verifiedEntriesMean", "outboundSlotFillMean",
                    "lookupSuccessRate", "components", "messagesSent", "convergedSeconds", "descriptors", "samples"] {
            #expect(object[key] != nil, "no \(key) in \(text.prefix(400))")
        }
        #expect(object["nodes"] as? Int == 6)
        #expect(object["mode"] as? String == "real")
        #expect(object["wallSeconds"] as? Double == 1.5)
        #expect(object["components"] as? Int == 1)
        let summary = report.summary(resources: nil)
        #expect(summary.contains("converged after"))
        #expect(summary.contains("6 / 6"))
        let chart = report.svgChart()
        #expect(chart.hasPrefix("<svg"))
        #expect(chart.contains("wall time"))
        #expect(chart.contains("peer-graph components"))
    }

    @Test func aPortInUseEndsTheRunWithTheReason() async throws {
        let block = freshLoopbackBlock()
        let blocker = try listeningSocket(host: "\(block)", port: Scenario.dataPort)
        defer { close(blocker) }
        var options = LoopbackOptions()
        options.simulation.nodes = 3
        options.simulation.duration = .seconds(60)
        options.firstAddress = block
        await #expect {
            _ = try await runOnOwnThread(options)
        } throws: { error in
            guard case .listenFailed(let reason) = error as? LoopbackError else { return false }
            return reason.contains("host 0") && reason.contains("30000")
        }
    }

    @Test func aNodeCountBeyondTheProcessLimitIsRefusedWhenPlanned() throws {
        let hard = try ProcessDescriptors.limits().hard
        try #require(hard < 1_000_000, "the hard limit is too large to exceed with a scenario in a test")
        var options = LoopbackOptions()
        options.simulation.nodes = hard / 31 + 1  // 31: the smallest worst case of a listening node
        #expect {
            _ = try LoopbackRun(options: options)
        } throws: { error in
            guard case .descriptorsExceeded(let arithmetic) = error as? LoopbackError else { return false }
            return arithmetic.contains("\(options.simulation.nodes) nodes need")
        }
    }

    @Test func virtualOnlyOptionsAreRefusedWhenPlanned() {
        var options = LoopbackOptions()
        options.simulation.nodes = 5
        options.simulation.reordering = 0.1
        options.simulation.duplication = 0.1
        #expect {
            _ = try LoopbackRun(options: options)
        } throws: { error in
            guard case .unsupportedOptions(let reasons) = error as? LoopbackError else { return false }
            return reasons.count == 2 && reasons[0].hasPrefix("--duplication") && reasons[1].hasPrefix("--reordering")
        }
    }
}

/// 127.b.0.1 for a random b in 64...243, a block no other test of this process uses.
func freshLoopbackBlock() -> IPAddress {
    LoopbackBlocks.shared.next()
}

final class LoopbackBlocks: @unchecked Sendable {
    static let shared = LoopbackBlocks()
    private let lock = NSLock()
    private var used = Set<UInt32>()

    func next() -> IPAddress {
        lock.lock()
        defer { lock.unlock() }
        var block = UInt32.random(in: 64...243)
        while used.contains(block) { block = UInt32.random(in: 64...243) }
        used.insert(block)
        return .v4(0x7F00_0001 | block << 16)
    }
}

/// Runs a loopback run on a thread of its own and waits for its report.
func runOnOwnThread(_ options: LoopbackOptions) async throws -> LoopbackReport {
    try await runOnOwnThread(options) { _ in () }.0
}

/// Runs a loopback run on a thread of its own, then `inspect`s it there; returns the report and what
/// `inspect` found.
func runOnOwnThread<Found: Sendable>(
    _ options: LoopbackOptions, inspect: @escaping @Sendable (LoopbackRun) -> Found
) async throws -> (LoopbackReport, Found) {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                let run = try LoopbackRun(options: options)
                let report = try run.run()
                continuation.resume(returning: (report, inspect(run)))
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// A blocking TCP socket listening on `host:port`, to occupy the port.
func listeningSocket(host: String, port: UInt16) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(descriptor >= 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(bound == 0, "cannot bind \(host):\(port): errno \(errno)")
    try #require(listen(descriptor, 8) == 0)
    return descriptor
}
