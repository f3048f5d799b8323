import KaryonsCore

/// The end-of-run liveness verdict: once partitions healed and nodes joined (plus a settle time),
/// lookups succeed, the peer graph is one component, and every settled node knows someone.
public struct LivenessResult: Hashable, Sendable {
    /// One judged property.
    public struct Check: Hashable, Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    /// The window judged (nil when the run was too short, or stopped at a violation).
    public var windowStart: Instant?
    /// Why it was not judged, when it was not.
    public var skippedBecause: String?
    /// The checks made.
    public var checks: [Check]

    /// True when judged and every check passed, or when not judged.
    public var passed: Bool { checks.allSatisfy(\.passed) }
}

extension Simulation {
    /// Judges liveness over `livenessWindowStart...end` (see `LivenessResult`). Nodes count as
    /// settled when they have been up for at least `settleTime` at the end.
    func judgeLiveness() -> LivenessResult {
        guard !network.isHalted else {
            return LivenessResult(windowStart: nil, skippedBecause: "the run stopped at a violation", checks: [])
        }
        guard let windowStart = livenessWindowStart,
            let first = samples.first(where: { $0.time >= windowStart }), let last = samples.last
        else {
            return LivenessResult(
                windowStart: nil,
                skippedBecause: "the run ends less than \(SimulationOptions.format(options.settleTime)) after the last heal or join",
                checks: [])
        }
        var checks = [lookupCheck(from: first, to: last)]
        let settled = (0..<network.hostCount).filter { host in
            guard let booted = network.bootTime(of: host) else { return false }
            return booted + options.settleTime <= network.now
        }
        if !settled.isEmpty {
            checks.append(componentCheck(settled))
            checks.append(tableCheck(settled))
        }
        return LivenessResult(windowStart: windowStart, skippedBecause: nil, checks: checks)
    }

    private func lookupCheck(from first: MetricsSample, to last: MetricsSample) -> LivenessResult.Check {
        let succeeded = last.lookupsSucceeded - first.lookupsSucceeded
        let failed = last.lookupsFailed - first.lookupsFailed
        let name = "lookups succeed after the heal"
        guard succeeded + failed > 0 else { return .init(name: name, passed: true, detail: "no lookup ended in the window") }
        let rate = Double(succeeded) / Double(succeeded + failed)
        return .init(
            name: name, passed: rate >= options.lookupSuccessMin,
            detail: "\(succeeded) of \(succeeded + failed) (\(percent(rate))), at least \(percent(options.lookupSuccessMin)) required")
    }

    /// The share of settled nodes in the largest component of the peer graph (all running nodes' links).
    private func componentCheck(_ settled: [Int]) -> LivenessResult.Check {
        var graph = peerGraph()
        var settledPerRoot: [Int: Int] = [:]
        var largest = 0
        for host in settled {
            let root = graph.root(host)
            settledPerRoot[root, default: 0] += 1
            largest = max(largest, settledPerRoot[root]!)
        }
        let share = Double(largest) / Double(settled.count)
        return .init(
            name: "peer graph is connected", passed: share >= options.largestComponentMin,
            detail: "\(largest) of \(settled.count) settled nodes in the largest component (\(percent(share))), "
                + "at least \(percent(options.largestComponentMin)) required")
    }

    private func tableCheck(_ settled: [Int]) -> LivenessResult.Check {
        let listeners = scenario.hosts.filter { $0.configuration.peerListener != nil }.count
        let name = "every settled node knows a verified peer"
        guard listeners >= 2 else { return .init(name: name, passed: true, detail: "fewer than two listening nodes") }
        let lonely = settled.filter { network.withNode($0) { $0.routingTable.count(matching: .shareable) == 0 } ?? false }
        let examples = lonely.prefix(5).map { "host \($0)" }.joined(separator: ", ")
        return .init(
            name: name, passed: lonely.isEmpty,
            detail: lonely.isEmpty ? "all \(settled.count)" : "\(lonely.count) of \(settled.count) know none (\(examples))")
    }

    /// Union-find over hosts joined by the running nodes' peer connections.
    func peerGraph() -> UnionFind {
        var hostOfID: [PeerID: Int] = [:]
        for host in 0..<network.hostCount {
            network.withNode(host) { hostOfID[$0.id] = host }
        }
        var graph = UnionFind(count: network.hostCount)
        for host in 0..<network.hostCount {
            network.withNode(host) { node in
                node.forEachPeer { peer, _ in
                    if let other = hostOfID[peer] { graph.union(host, other) }
                }
            }
        }
        return graph
    }
}

/// `0.975` as `97.5%`.
func percent(_ value: Double) -> String {
    let tenths = Int((value * 1000).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
}
