import KaryonsCore

extension Simulation {
    /// A readable account of one host's node as it stands now, for studying a node that a run's
    /// liveness check names (`karyons sim --trace-host N` prints it at the end): its routing table
    /// by status and by bucket, its peers by direction, its connections, and what its dials and
    /// lookups came to.
    public func inspection(ofHost host: Int) -> String {
        guard host >= 0 && host < network.hostCount else { return "host \(host): no such host\n" }
        let header = "host \(host) (\(network.address(of: host)))"
        guard let lines = network.withNode(host, { Self.describe($0) }) else {
            return "\(header): down (restarted \(network.incarnation(of: host)) times)\n"
        }
        return "\(header), up since \(network.bootTime(of: host)!), restarted \(network.incarnation(of: host)) times\n"
            + lines.map { "  \($0)\n" }.joined()
    }

    private static func describe(_ node: NodeCore) -> [String] {
        let table = node.routingTable
        let statuses = EntryStatus.allCases.map { "\(table.count(of: $0)) \($0)" }.joined(separator: ", ")
        let buckets = (0..<RoutingTable.bucketCount).compactMap { bucket -> String? in
            let entries = table.entries(inBucket: bucket)
            guard !entries.isEmpty else { return nil }
            let shareable = entries.filter { EntryStatusSet.shareable.contains($0.status) }.count
            return "\(bucket):\(entries.count)/\(shareable)"
        }
        var outbound = 0
        var inbound = 0
        node.forEachPeer { _, direction in if direction == .outbound { outbound += 1 } else { inbound += 1 } }
        let statistics = node.statistics
        let failures = DialFailureKind.allCases.filter { statistics.dialFailures($0) > 0 }
            .map { "\($0) \(statistics.dialFailures($0))" }.joined(separator: ", ")
        return [
            "id \(node.id.shortDescription)",
            "routing table: \(table.count) entries (\(statuses))",
            "buckets (bucket:entries/shareable): \(buckets.isEmpty ? "none" : buckets.joined(separator: " "))",
            "peers: \(outbound) outbound, \(inbound) inbound",
            "connections: \(node.connectionCount(.peer)) peer, \(node.connectionCount(.lookup)) lookup",
            "dials: \(statistics.dialsStarted) started, \(statistics.dialsSucceeded) produced a peer"
                + (failures.isEmpty ? "" : "; failed: \(failures)"),
            "lookup sessions succeeded: \(statistics.lookupsSucceeded)",
        ]
    }
}
