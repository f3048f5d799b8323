import NIOCore
import NIOPosix
import PingPong

/// The SwiftNIO baselines: `DatagramBootstrap` for UDP, `ServerBootstrap`/`ClientBootstrap` with a
/// length-prefix frame decoder for TCP. The server and the client each get their own
/// single-threaded `MultiThreadedEventLoopGroup`, pinned like the C threads. Written the way a NIO
/// user would write them (handlers, `ByteBuffer`, no unsafe tricks), with the same protocol and
/// checks as the C baselines.
public struct NIOPingPong: PingPongImplementation {
    public let name = "NIO"

    public init() {}

    /// The largest payload (the smallest is 4 bytes: the UDP epoch).
    public static let payloadSizeMax = 1024
    /// The largest UDP window.
    public static let windowMax = 4096
    /// The largest UDP batch.
    public static let batchSizeMax = 64
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
        let loops = EventLoopPair()
        defer { loops.shutdown() }
        do {
            try loops.pin(run.pinning)
            switch run.workload.transport {
            case .udp(let window, let batchMax):
                return try UDPRun(run: run, window: window, batchMax: batchMax, loops: loops).measure()
            case .tcp(let connections):
                return try TCPRun(run: run, connections: connections, loops: loops).measure()
            }
        } catch {
            throw .failed(implementation: name, reason: "\(error)")
        }
    }
}

/// Why a NIO run failed (the promise's error).
struct NIORunFailure: Error, CustomStringConvertible {
    var description: String
}

/// Tells a client handler to start its timed phase (sent once its channels are set up).
struct StartSignal: Sendable {}

/// Two single-threaded event loop groups, one per side.
final class EventLoopPair: Sendable {
    let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    var serverLoop: EventLoop { serverGroup.next() }
    var clientLoop: EventLoop { clientGroup.next() }

    /// Pins each loop's thread as the C baselines pin theirs.
    func pin(_ pinning: CPUPinning) throws {
        for (loop, cpu) in [(serverLoop, pinning.serverCPU), (clientLoop, pinning.clientCPU)] {
            let code = try loop.submit { MachineCPUs.pinCurrentThread(to: cpu) }.wait()
            if code != 0 { throw NIORunFailure(description: "sched_setaffinity failed with errno \(code)") }
        }
    }

    func shutdown() {
        try? clientGroup.syncShutdownGracefully()
        try? serverGroup.syncShutdownGracefully()
    }
}

/// What a client handler needs to know about its run.
struct ClientPlan: Sendable {
    var payloadSize: Int
    var roundTripsMax: UInt64?
    var durationNanoseconds: UInt64?
    var giveUpNanoseconds: UInt64

    init(_ run: PingPongRun) {
        payloadSize = run.workload.payloadSize
        switch run.stop {
        case .roundTrips(let count): roundTripsMax = UInt64(max(count, 0))
        case .duration(let seconds): durationNanoseconds = UInt64(max(seconds, 0) * 1e9)
        }
        giveUpNanoseconds = UInt64(max(run.giveUpSeconds, 0) * 1e9)
    }

    /// True once the duration is over (duration mode only).
    func isOver(elapsed: UInt64) -> Bool {
        durationNanoseconds.map { elapsed >= $0 } ?? false
    }
}

extension NIODeadline {
    /// Nanoseconds from `start` to now.
    static func nanoseconds(since start: NIODeadline) -> UInt64 {
        let now = NIODeadline.now().uptimeNanoseconds
        return now >= start.uptimeNanoseconds ? now - start.uptimeNanoseconds : 0
    }
}
