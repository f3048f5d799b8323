import KaryonsCore
import KaryonsSimulation
import Testing
@testable import KaryonsLoopback

/// The descriptor budget's arithmetic, without opening a socket.
@Suite struct DescriptorBudgetTests {
    static func uniform(_ count: Int) -> [NodeConfiguration] {
        var options = SimulationOptions()
        options.nodes = count
        return Scenario(options).hosts.map(\.configuration)
    }

    @Test func aListeningNodeHoldsThreeListenersAndEverySlotAtWorst() {
        let node = NodeDescriptors(Self.uniform(2)[0])
        #expect(node.listeners == 3)
        #expect(node.total == 3 + 12 + 12 + 20 + 20)
        #expect(node.arithmetic == "3 listeners + 24 peer slots (12 in, 12 out) + 40 lookup slots (20 in, 20 out) = 67")
    }

    @Test func anOutboundOnlyNodeHoldsOneDatagramSocketAndItsOutboundSlots() {
        let node = NodeDescriptors(NodeConfiguration(bootstrapPeers: [.tcp(.loopbackV4, 30_010)]))
        #expect(node.listeners == 1)
        #expect(node.peerInbound == 0 && node.lookupInbound == 0)
        #expect(node.total == 1 + 12 + 20)
    }

    @Test func aSmallRunKeepsTheConfiguredLookupSlots() throws {
        let budget = try DescriptorBudget.fit(Self.uniform(30), limit: 20_000, reserved: 64, lookupSlots: nil)
        #expect(budget.lookupSlots == 20)
        #expect(!budget.lookupSlotsLowered)
        #expect(budget.required == 30 * 67)
    }

    @Test func fiveHundredNodesFitWithLookupSlotsLoweredToTheMostThatFits() throws {
        let budget = try DescriptorBudget.fit(Self.uniform(500), limit: 20_000, reserved: 64, lookupSlots: nil)
        #expect(budget.lookupSlots == 6)  // 500 x (27 + 2 x 6) = 19,500 <= 19,936; with 7: 20,500
        #expect(budget.lookupSlotsLowered)
        #expect(budget.seedsKeepingLookupSlots == 0)
        #expect(budget.required == 19_500)
        #expect(budget.hosts.allSatisfy { $0.lookupInbound == 6 && $0.lookupOutbound == 6 })
    }

    @Test func theSeedsKeepTheirLookupSlotsWhenThatStillFits() throws {
        let budget = try DescriptorBudget.fit(Self.uniform(500), seeds: 5, limit: 20_000, reserved: 64, lookupSlots: nil)
        #expect(budget.lookupSlots == 6)  // 5 x 67 + 495 x 39 = 19,640 <= 19,936; with 7: 20,630
        #expect(budget.seedsKeepingLookupSlots == 5)
        #expect(budget.required == 19_640)
        #expect(budget.hosts.prefix(5).allSatisfy { $0.lookupInbound == 20 && $0.lookupOutbound == 20 })
        #expect(budget.hosts.dropFirst(5).allSatisfy { $0.lookupInbound == 6 && $0.lookupOutbound == 6 })
        // 643 nodes fit only with every node at the minimum: 6 x 67 + 637 x 31 = 20,149 > 19,936.
        let tight = try DescriptorBudget.fit(Self.uniform(643), seeds: 6, limit: 20_000, reserved: 64, lookupSlots: nil)
        #expect(tight.seedsKeepingLookupSlots == 0)
        #expect(tight.lookupSlots == 2)
        #expect(tight.required == 19_933)
    }

    @Test func aNodeCountBeyondTheMinimumSlotsIsRefusedWithTheArithmetic() {
        // 644 x (27 + 2 x 2) = 19,964 > 19,936; 643 x 31 = 19,933 fits.
        #expect(throws: LoopbackError.self) {
            try DescriptorBudget.fit(Self.uniform(644), seeds: 6, limit: 20_000, reserved: 64, lookupSlots: nil)
        }
        do {
            _ = try DescriptorBudget.fit(Self.uniform(644), seeds: 6, limit: 20_000, reserved: 64, lookupSlots: nil)
        } catch {
            let text = "\(error)"
            #expect(text.contains("644 nodes need 19,964 descriptors"))
            #expect(text.contains("644 x [3 listeners + 24 peer slots (12 in, 12 out) + 4 lookup slots (2 in, 2 out) = 31]"))
            #expect(text.contains("only 19,936 are available (RLIMIT_NOFILE 20,000 less 64 reserved)"))
            #expect(text.contains("at most 643 nodes"))
        }
        #expect(throws: Never.self) { try DescriptorBudget.fit(Self.uniform(643), limit: 20_000, reserved: 64, lookupSlots: nil) }
    }

    @Test func explicitLookupSlotsAreKeptOrRefusedNeverLowered() throws {
        let kept = try DescriptorBudget.fit(Self.uniform(297), seeds: 2, limit: 20_000, reserved: 64, lookupSlots: 20)
        #expect(kept.lookupSlots == 20)
        #expect(kept.required == 297 * 67)
        let lowered = try DescriptorBudget.fit(Self.uniform(297), seeds: 2, limit: 20_000, reserved: 64, lookupSlots: 3)
        #expect(lowered.seedsKeepingLookupSlots == 0)  // explicit slots apply to every node, seeds too
        #expect(lowered.hosts.allSatisfy { $0.lookupInbound == 3 })
        #expect(throws: LoopbackError.self) {
            try DescriptorBudget.fit(Self.uniform(298), limit: 20_000, reserved: 64, lookupSlots: 20)
        }
    }

    @Test func theProcessLimitIsReadAndTheSoftLimitRaisedToTheHardOne() throws {
        let soft = try ProcessDescriptors.raiseSoftLimit()
        let limits = try ProcessDescriptors.limits()
        #expect(soft == limits.soft)
        #expect(limits.soft == limits.hard)
        let open = try #require(ProcessDescriptors.openCount())
        #expect(open >= 3)  // at least the standard streams
        #expect(open < soft)
    }
}
