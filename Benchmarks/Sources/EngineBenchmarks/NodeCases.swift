import KaryonsCore

/// The node-level benchmarks (group "node"): a custom protocol's round trip between two nodes
/// through the async façade, through the façade's reactor callbacks and through the driver's, and
/// PING round trips with many connected peers in one process. The report's `node` section times
/// them, alternating, like the routing and wire cases, and the allocation pass counts their
/// allocations per round trip.
public enum NodeCases {
    /// The keep-alive period of the ping case: far shorter than any real deployment's, so that the
    /// offered load exceeds what the loop can carry (see `NodePing`).
    public static let pingInterval: Duration = .milliseconds(1)

    /// The node cases. `scale` > 1 (quick mode) shortens the loops, the ping window and the peer count.
    public static func cases(scale: Int = 1) -> [EngineCase] {
        precondition(scale >= 1, "BUG in Karyons benchmarks: scale \(scale)")
        let quick = scale > 1
        return [
            NodeRoundTrips.asyncFacade(roundTrips: quick ? 500 : 20_000),
            NodeRoundTrips.handlerCallbacks(roundTrips: quick ? 500 : 50_000),
            NodeRoundTrips.driverCallbacks(roundTrips: quick ? 500 : 50_000),
            NodePing.ping(peers: quick ? 100 : 1_000, window: quick ? 0.1 : 1.0, interval: pingInterval),
        ]
    }
}
