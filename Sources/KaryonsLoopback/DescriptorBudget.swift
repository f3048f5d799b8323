import KaryonsCore
import KaryonsSimulation

/// The most file descriptors one node can hold at once, by kind.
///
/// A listening node holds its data and lookup TCP listeners and its refresh UDP socket; an
/// outbound-only node holds one ephemeral UDP socket (refresh pings). Connections are bounded by
/// the slots: the core refuses an inbound connection beyond them (the accepted socket is closed in
/// the same callback, before the next accept, so at most one such socket exists in the process at
/// a time; the reserve covers it), and queues lookups and dials beyond them. Every connection of a
/// loopback run has both ends in the process, and each end is counted at its own node.
public struct NodeDescriptors: Hashable, Sendable {
    /// Listener and datagram sockets.
    public var listeners: Int
    public var peerInbound: Int
    public var peerOutbound: Int
    public var lookupInbound: Int
    public var lookupOutbound: Int

    /// The worst case of a node with `configuration`.
    public init(_ configuration: NodeConfiguration) {
        let slots = configuration.slots
        let listens = configuration.peerListener != nil
        listeners = listens ? 3 : 1
        peerInbound = listens ? slots.inbound : 0
        peerOutbound = slots.outbound
        lookupInbound = listens ? slots.lookupInbound : 0
        lookupOutbound = slots.lookupOutbound
    }

    /// All of them.
    public var total: Int { listeners + peerInbound + peerOutbound + lookupInbound + lookupOutbound }

    /// `3 listeners + 24 peer slots (12 in, 12 out) + 8 lookup slots (4 in, 4 out) = 35`.
    public var arithmetic: String {
        "\(listeners) \(listeners == 1 ? "socket" : "listeners") + \(peerInbound + peerOutbound) peer slots "
            + "(\(peerInbound) in, \(peerOutbound) out) + \(lookupInbound + lookupOutbound) lookup slots "
            + "(\(lookupInbound) in, \(lookupOutbound) out) = \(total)"
    }
}

/// The descriptor budget of a loopback run: the process limit, less a reserve, against the sum of
/// every node's worst case (`NodeDescriptors`), with the lookup slots the run uses.
///
/// `fit` picks the lookup slots: an explicit number is kept for every node (and refused when the
/// nodes do not fit); otherwise the configured number, lowered to the most that fits, never below
/// `lookupSlotsMin`. The first `seeds` hosts (the scenario's seeds, which answer every joiner's
/// bootstrap lookups) keep their configured slots while the others are lowered, when that fits. A
/// node count that cannot fit even so is refused with the arithmetic.
public struct DescriptorBudget: Hashable, Sendable {
    /// The fewest lookup slots per direction a run lowers to (one would serialise every lookup).
    public static let lookupSlotsMin = 2

    /// The process's descriptor limit.
    public var limit: Int
    /// Descriptors kept out of the node budget.
    public var reserved: Int
    /// Lookup slots per direction of every node but the seeds that keep theirs.
    public var lookupSlots: Int
    /// Whether `lookupSlots` is lower than configured (to fit).
    public var lookupSlotsLowered: Bool
    /// Hosts `0..<seedsKeepingLookupSlots` keep their configured lookup slots.
    public var seedsKeepingLookupSlots: Int
    /// Every host's worst case, with its lookup slots applied.
    public var hosts: [NodeDescriptors]

    /// What the nodes may use.
    public var available: Int { limit - reserved }
    /// What the nodes may use at worst.
    public var required: Int { hosts.reduce(0) { $0 + $1.total } }

    /// The budget for nodes configured as `configurations` (seeds first), or the reason they cannot fit.
    public static func fit(
        _ configurations: [NodeConfiguration], seeds: Int = 0, limit: Int, reserved: Int, lookupSlots: Int?
    ) throws(LoopbackError) -> DescriptorBudget {
        let configured = configurations.map { max($0.slots.lookupInbound, $0.slots.lookupOutbound) }.max() ?? lookupSlotsMin
        func budget(_ slots: Int, keeping kept: Int) -> DescriptorBudget {
            var budget = DescriptorBudget(
                limit: limit, reserved: reserved, lookupSlots: slots, lookupSlotsLowered: slots < configured,
                seedsKeepingLookupSlots: kept, hosts: [])
            budget.hosts = configurations.enumerated().map { NodeDescriptors(budget.configuration(ofHost: $0, $1)) }
            return budget
        }
        if let lookupSlots {
            let chosen = budget(lookupSlots, keeping: 0)
            guard chosen.required <= chosen.available else { throw .descriptorsExceeded(chosen.shortfall) }
            return chosen
        }
        for kept in Set([min(seeds, configurations.count), 0]).sorted(by: >) {
            var slots = max(configured, lookupSlotsMin)
            while slots > lookupSlotsMin && budget(slots, keeping: kept).required > budget(slots, keeping: kept).available { slots -= 1 }
            let chosen = budget(slots, keeping: kept)
            if chosen.required <= chosen.available { return chosen }
        }
        throw .descriptorsExceeded(
            budget(lookupSlotsMin, keeping: 0).shortfall + " (lookup slots already at their minimum, \(lookupSlotsMin) per direction)")
    }

    /// Host `index`'s configuration with the lookup slots of this budget.
    public func configuration(ofHost index: Int, _ configuration: NodeConfiguration) -> NodeConfiguration {
        index < seedsKeepingLookupSlots ? configuration : Self.applying(lookupSlots: lookupSlots, to: configuration)
    }

    /// `configuration` with `lookupSlots` inbound and outbound lookup slots.
    public static func applying(lookupSlots: Int, to configuration: NodeConfiguration) -> NodeConfiguration {
        var configuration = configuration
        configuration.slots.lookupInbound = lookupSlots
        configuration.slots.lookupOutbound = lookupSlots
        return configuration
    }

    /// The budget in one line: `500 nodes x 35 = 17,500 of 19,936 (20,000 less 64 reserved)`.
    public var summary: String {
        "\(hostTerms) = \(ReportFormat.grouped(required)) of \(ReportFormat.grouped(available)) descriptors "
            + "(limit \(ReportFormat.grouped(limit)) less \(reserved) reserved)"
    }

    /// The refusal's arithmetic.
    var shortfall: String {
        let widest = hosts.map(\.total).max() ?? 1
        return "\(hosts.count) nodes need \(ReportFormat.grouped(required)) descriptors at worst (\(hostTerms)), "
            + "but only \(ReportFormat.grouped(available)) are available (RLIMIT_NOFILE \(ReportFormat.grouped(limit)) "
            + "less \(reserved) reserved): at most \(available / widest) nodes of \(widest) fit"
    }

    /// `490 nodes x 35 (3 listeners + ...) + 10 nodes x ...`, one term per distinct worst case.
    private var hostTerms: String {
        var order: [NodeDescriptors] = []
        var counts: [NodeDescriptors: Int] = [:]
        for host in hosts {
            if counts[host] == nil { order.append(host) }
            counts[host, default: 0] += 1
        }
        return order.map { "\(counts[$0]!) x [\($0.arithmetic)]" }.joined(separator: " + ")
    }
}
