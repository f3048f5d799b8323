import KaryonsNode
import PingPong

/// The Karyons column: the ping-pong workloads on the KaryonsNode transports (`Reactor`,
/// `UDPSocket`, `TCPListener`/`TCPConnection`), public API only. The server and the client each
/// run on a reactor of their own, on its own thread, pinned as the C threads are; the protocol
/// and its checks are the C baselines' (see Benchmarks/README.md).
public struct KaryonsPingPong: PingPongImplementation {
    /// The column's name.
    public static let columnName = "Karyons"

    public let name = KaryonsPingPong.columnName

    public init() {}

    /// The largest payload (the smallest is 4 bytes: the UDP epoch).
    public static let payloadSizeMax = 1024
    /// The largest UDP window.
    public static let windowMax = 4096
    /// The largest UDP batch: the transport's own cap.
    public static let batchSizeMax = UDPSocket.batchSizeLimit
    /// The most TCP connections (two descriptors each, in one process).
    public static let connectionsMax = 8000

    public func supports(_ workload: PingPongWorkload) -> Bool {
        guard (4...Self.payloadSizeMax).contains(workload.payloadSize) else { return false }
        switch workload.transport {
        case .udp(let window, let batchMax):
            return (1...Self.windowMax).contains(window) && (1...Self.batchSizeMax).contains(batchMax)
        case .tcp(let connections):
            return (1...Self.connectionsMax).contains(connections)
        }
    }

    public func run(_ run: PingPongRun) throws(PingPongError) -> PingPongResult {
        guard supports(run.workload) else {
            throw .unsupported(implementation: name, workload: run.workload.name)
        }
        let reactors = try ReactorPair()
        switch run.workload.transport {
        case .udp(let window, let batchMax):
            return try KaryonsUDPRun(run: run, window: window, batchMax: batchMax).measure(on: reactors)
        case .tcp(let connections):
            return try KaryonsTCPRun(run: run, connections: connections).measure(on: reactors)
        }
    }

    static func failure(_ reason: String) -> PingPongError {
        .failed(implementation: columnName, reason: reason)
    }
}
