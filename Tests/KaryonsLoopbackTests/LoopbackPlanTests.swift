import KaryonsCore
import KaryonsSimulation
import Testing
@testable import KaryonsLoopback

/// The scenario a loopback run plans: the virtual run's, moved, or refused.
@Suite struct LoopbackPlanTests {
    @Test func virtualOnlyOptionsAreRefusedEachWithItsReason() {
        var options = LoopbackOptions()
        options.simulation.nodes = 10
        options.simulation.loss = 0.1
        options.simulation.churn = 0.2
        options.simulation.partitions = [Partition(fraction: 0.5, start: .zero, end: Instant(nanoseconds: 1_000_000_000))]
        options.simulation.addresses = .publicSubnets(hostsPerSubnet: 1)
        options.simulation.latency = .milliseconds(5)...Duration.milliseconds(5)
        let reasons = options.unsupportedOptions
        #expect(reasons.count == 5)
        for option in ["--loss", "--churn", "--partition", "--addresses public", "--latency"] {
            #expect(reasons.contains { $0.hasPrefix(option) }, "no reason for \(option) in \(reasons)")
        }
        #expect(throws: LoopbackError.unsupportedOptions(reasons)) { try LoopbackPlan(options: options, descriptorLimit: 20_000) }
    }

    @Test func theDefaultsHaveNothingUnsupported() {
        #expect(LoopbackOptions().unsupportedOptions.isEmpty)
    }

    @Test func hostsKeepTheScenarioMovedToTheFirstAddress() throws {
        var options = LoopbackOptions()
        options.simulation.nodes = 300
        options.simulation.seed = 9
        options.firstAddress = IPAddress("127.50.0.1")!
        let plan = try LoopbackPlan(options: options, descriptorLimit: 20_000)
        let scenario = Scenario(options.simulation)
        #expect(plan.hosts.count == 300)
        #expect(plan.protectedHosts == scenario.protectedHosts)
        let host = plan.hosts[260]
        #expect(host.address == IPAddress("127.50.1.5")!)
        #expect(host.configuration.peerListener == .tcp(IPAddress("127.50.1.5")!, Scenario.dataPort))
        #expect(host.configuration.lookupListener == .tcp(IPAddress("127.50.1.5")!, Scenario.discoveryPort))
        #expect(host.configuration.refreshListener == .udp(IPAddress("127.50.1.5")!, Scenario.discoveryPort))
        #expect(host.configuration.bootstrapPeers == [.tcp(IPAddress("127.50.0.1")!, 30_010), .tcp(IPAddress("127.50.0.2")!, 30_010), .tcp(IPAddress("127.50.0.3")!, 30_010)])
        #expect(host.start == Duration(nanoseconds: scenario.hosts[260].start.nanoseconds))
        #expect(host.id == Simulation.firstIdentity(host: 260, plan: scenario.hosts[260], seed: 9))
        #expect(host.configuration.slots.lookupOutbound == plan.budget.lookupSlots)
        #expect(plan.hosts[0].configuration.slots.lookupInbound == 20)  // a seed keeps its lookup slots
        #expect(Set(plan.hosts.map(\.id)).count == 300)
    }

    @Test func seed12KeepsItsIdentitiesPortsAndDialPeer() throws {
        var options = LoopbackOptions()
        options.simulation.preset = .seed12
        options.firstAddress = IPAddress("127.51.0.1")!
        let plan = try LoopbackPlan(options: options, descriptorLimit: 20_000)
        #expect(plan.hosts.count == 12)
        #expect(plan.hosts[0].id == SHA256.peerID("peer1"))
        #expect(plan.hosts[0].configuration.lookupListener == .tcp(IPAddress("127.51.0.1")!, 30_010))
        #expect(plan.hosts[7].configuration.dialPeers == [.tcp(IPAddress("127.51.0.6")!, 30_005)])
        #expect(plan.hosts[7].configuration.peerListener == nil)
        #expect(plan.hosts[7].start == .seconds(3))
    }

    @Test func addressesMustStayInsideTheLoopbackNetwork() {
        var options = LoopbackOptions()
        options.simulation.nodes = 10
        options.firstAddress = IPAddress("10.0.0.1")!
        #expect(throws: LoopbackError.self) { try LoopbackPlan(options: options, descriptorLimit: 20_000) }
        options.firstAddress = IPAddress("127.255.255.250")!
        #expect(throws: LoopbackError.self) { try LoopbackPlan(options: options, descriptorLimit: 20_000) }
        options.firstAddress = IPAddress("127.255.255.245")!
        #expect(throws: Never.self) { try LoopbackPlan(options: options, descriptorLimit: 20_000) }
    }
}
