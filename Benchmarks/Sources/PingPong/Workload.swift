/// One ping-pong workload: what the client and the server exchange over 127.0.0.1.
///
/// A round trip is one ping from the client and its echo (the pong) from the server, checked by
/// the client. Every implementation runs the same workloads so their rates compare directly.
public struct PingPongWorkload: Hashable, Sendable, CustomStringConvertible {
    /// How the bytes travel.
    public enum Transport: Hashable, Sendable {
        /// Datagrams of `payloadSize` bytes; the client keeps `window` pings in flight. With
        /// `batchMax` > 1 both sides move datagrams in batches (recvmmsg/sendmmsg) of at most that many.
        case udp(window: Int, batchMax: Int)
        /// Frames of a 4-byte big-endian length and `payloadSize` bytes, over `connections`
        /// connections made before the timed phase, each with one ping in flight.
        case tcp(connections: Int)
    }

    /// Short name used on the command line and in tables.
    public var name: String
    /// How the bytes travel.
    public var transport: Transport
    /// Bytes per ping and per pong (the datagram, or the frame body).
    public var payloadSize: Int

    /// A workload; `payloadSize` defaults to the standard 40 bytes.
    public init(name: String, transport: Transport, payloadSize: Int = PingPongWorkload.standardPayloadSize) {
        self.name = name
        self.transport = transport
        self.payloadSize = payloadSize
    }

    /// The payload of every standard workload: about the size of the refresh plane's 33-byte datagram.
    public static let standardPayloadSize = 40

    /// UDP, one ping in flight: pure latency.
    public static let udpWindow1 = PingPongWorkload(name: "udp-w1", transport: .udp(window: 1, batchMax: 1))
    /// UDP, 64 pings in flight, one syscall per datagram.
    public static let udpWindow64 = PingPongWorkload(name: "udp-w64", transport: .udp(window: 64, batchMax: 1))
    /// UDP, 64 pings in flight, recvmmsg/sendmmsg in batches of at most 16.
    public static let udpWindow64Batched = PingPongWorkload(
        name: "udp-w64-mmsg16",
        transport: .udp(window: 64, batchMax: 16)
    )
    /// TCP framed, one connection.
    public static let tcpConnections1 = PingPongWorkload(name: "tcp-c1", transport: .tcp(connections: 1))
    /// TCP framed, 1,000 connections (1,000 pings in flight).
    public static let tcpConnections1000 = PingPongWorkload(name: "tcp-c1000", transport: .tcp(connections: 1000))

    /// The workloads `bench-compare` runs by default, in table order.
    public static let standard: [PingPongWorkload] = [
        udpWindow1, udpWindow64, udpWindow64Batched, tcpConnections1, tcpConnections1000,
    ]

    public var description: String {
        switch transport {
        case .udp(let window, let batchMax):
            let batching = batchMax > 1 ? ", recvmmsg/sendmmsg <= \(batchMax)" : ""
            return "UDP \(payloadSize) B, window \(window)\(batching)"
        case .tcp(let connections):
            return "TCP framed 4+\(payloadSize) B, \(connections) connection\(connections == 1 ? "" : "s")"
        }
    }
}

/// When the timed phase of a run ends.
public enum StopCondition: Hashable, Sendable, CustomStringConvertible {
    /// After this many round trips (the same work for every implementation).
    case roundTrips(Int)
    /// After this many seconds (the same time for every implementation).
    case duration(seconds: Double)

    public var description: String {
        switch self {
        case .roundTrips(let count): return "\(count) round trips"
        case .duration(let seconds): return "\(seconds) s"
        }
    }
}

/// Where the two sides of a run execute.
public struct CPUPinning: Hashable, Sendable, CustomStringConvertible {
    /// The CPU of the client thread (or event loop), nil to leave it to the scheduler.
    public var clientCPU: Int?
    /// The CPU of the server thread (or event loop), nil to leave it to the scheduler.
    public var serverCPU: Int?

    /// Pins the two sides as given.
    public init(clientCPU: Int?, serverCPU: Int?) {
        self.clientCPU = clientCPU
        self.serverCPU = serverCPU
    }

    /// Neither side is pinned.
    public static let none = CPUPinning(clientCPU: nil, serverCPU: nil)

    public var description: String {
        func text(_ cpu: Int?) -> String { cpu.map { "CPU \($0)" } ?? "unpinned" }
        return "client \(text(clientCPU)), server \(text(serverCPU))"
    }
}

/// Everything one measurement needs.
public struct PingPongRun: Hashable, Sendable {
    /// What to exchange.
    public var workload: PingPongWorkload
    /// When the timed phase ends.
    public var stop: StopCondition
    /// Where each side runs.
    public var pinning: CPUPinning
    /// A run whose timed phase lasts longer than this fails, so that a lost peer never hangs a run.
    public var giveUpSeconds: Double

    /// A run; the give-up limit defaults to a generous multiple of the stop condition.
    public init(workload: PingPongWorkload, stop: StopCondition, pinning: CPUPinning, giveUpSeconds: Double? = nil) {
        self.workload = workload
        self.stop = stop
        self.pinning = pinning
        switch stop {
        case .duration(let seconds): self.giveUpSeconds = giveUpSeconds ?? max(10, 4 * seconds)
        case .roundTrips: self.giveUpSeconds = giveUpSeconds ?? 60
        }
    }
}

/// The outcome of one measurement.
public struct PingPongResult: Hashable, Sendable {
    /// Round trips completed in the timed phase.
    public var roundTrips: UInt64
    /// The timed phase's length, measured by the client, in nanoseconds.
    public var elapsedNanoseconds: UInt64
    /// UDP: times the client assumed its window lost after a silence and re-sent it (0 normally).
    public var recoveries: UInt64

    /// A result.
    public init(roundTrips: UInt64, elapsedNanoseconds: UInt64, recoveries: UInt64 = 0) {
        self.roundTrips = roundTrips
        self.elapsedNanoseconds = elapsedNanoseconds
        self.recoveries = recoveries
    }

    /// Round trips per second (0 for an empty timed phase).
    public var roundTripsPerSecond: Double {
        elapsedNanoseconds == 0 ? 0 : Double(roundTrips) * 1e9 / Double(elapsedNanoseconds)
    }
}

/// Why a measurement produced no result.
public enum PingPongError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The implementation has no variant for this workload.
    case unsupported(implementation: String, workload: String)
    /// Bad parameters, a failed syscall, a protocol violation or the give-up limit.
    case failed(implementation: String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let implementation, let workload): return "\(implementation) does not support \(workload)"
        case .failed(let implementation, let reason): return "\(implementation) failed: \(reason)"
        }
    }
}

/// A ping-pong implementation: one column of `bench-compare`.
///
/// `run(_:)` sets up a server and a client over 127.0.0.1 (each side on its own thread or event
/// loop, pinned as asked), connects them, runs the timed phase until `run.stop`, tears everything
/// down and returns what the client measured. Setup and teardown are not timed. It is called from
/// one thread at a time and must leave no thread or socket behind when it returns.
public protocol PingPongImplementation: Sendable {
    /// The column name ("C", "NIO", "Karyons").
    var name: String { get }
    /// Whether this implementation has a variant for `workload` (otherwise the table shows "n/a").
    func supports(_ workload: PingPongWorkload) -> Bool
    /// One measurement.
    func run(_ run: PingPongRun) throws(PingPongError) -> PingPongResult
}
