/// The plug-in point for node-level benchmarks, which need the node's protocol halves (NodeCore,
/// the driver and the `Node` façade) and so are not on this branch yet.
///
/// Each planned benchmark becomes an `EngineCase` returned by `cases(scale:)` (group "node"); the
/// report's `node` section then times them, alternating, like the routing and wire cases, and the
/// allocation pass counts their allocations per operation with no other change. Round-trip
/// benchmarks over real sockets can instead be `PingPongImplementation`s (see KaryonsPingPong),
/// which puts them in the ping-pong table next to C and NIO.
public enum NodeCases {
    /// What the node section will measure, by name, with what each needs.
    public static let planned: [(name: String, what: String)] = [
        ("protocol-async", "custom protocol round trips through the async façade (Peer.send / messages), 2 nodes"),
        ("protocol-callback", "custom protocol round trips on the reactor-callback path (no async hop), 2 nodes"),
        ("ping-1000", "Ping protocol round trips with 1,000 connected peers in one process"),
    ]

    /// The node cases; empty until the node's protocol halves are merged.
    public static func cases(scale: Int = 1) -> [EngineCase] {
        precondition(scale >= 1, "BUG in Karyons benchmarks: scale \(scale)")
        return []
    }
}
