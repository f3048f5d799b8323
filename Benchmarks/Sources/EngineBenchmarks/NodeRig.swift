#if canImport(Glibc)
import Glibc
#endif
import CBaselines
import KaryonsCore
import KaryonsNode
import Logging
import PingPong

/// Shared pieces of the node-level benchmarks: configurations, a quiet logger, and the bridge from
/// the benchmark's (synchronous) thread to tasks and jobs on a reactor.
enum NodeRig {
    /// A logger that drops everything: the façade logs every peer at `info`, which would flood the
    /// report with 1,000 peers and put `print` in the timed loops.
    static let quietLogger = Logger(label: "karyons.bench", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The ID of the benchmarks' echo protocol.
    static let echoProtocolID: ProtocolID = "BENCH-ECHO"

    /// A node listening on 127.0.0.1 (data, lookup and refresh on ephemeral ports) that accepts up to
    /// `inbound` peers.
    static func listeningConfiguration(inbound: Int = 12) -> NodeConfiguration {
        var configuration = NodeConfiguration(peerListener: .tcp(.loopbackV4, 0))
        configuration.slots.inbound = inbound
        return configuration
    }

    /// An outbound-only node with one outbound slot, so that once `dialPeers` is connected its dialer
    /// is satisfied and it never seeds (no lookup traffic during the measurement).
    static func lightConfiguration(dialPeers: [Endpoint] = []) -> NodeConfiguration {
        var configuration = NodeConfiguration(dialPeers: dialPeers)
        configuration.slots.outbound = 1
        return configuration
    }

    /// Runs `body` in a task on `reactor` (task-executor preference: no hop to reach nodes on that
    /// reactor) and waits for its result on this thread; nil if it did not finish within `seconds`.
    static func runTask<Value: Sendable>(
        on reactor: Reactor, seconds: Double = 60, _ body: @escaping @Sendable () async -> Value
    ) -> Value? {
        let done = Rendezvous<Value>()
        Task(executorPreference: reactor.taskExecutor) { done.complete(await body()) }
        return done.wait(seconds: seconds)
    }

    /// Runs `body` as a job on `reactor`'s loop thread and waits for its result.
    static func onLoop<Value: Sendable>(_ reactor: Reactor, seconds: Double = 60, _ body: @escaping @Sendable () -> Value) -> Value? {
        let done = Rendezvous<Value>()
        guard reactor.execute({ done.complete(body()) }) else { return nil }
        return done.wait(seconds: seconds)
    }

    /// Polls `condition` on `reactor` every millisecond until it holds; false after `seconds`.
    static func waitUntil(
        on reactor: Reactor, seconds: Double = 60, _ condition: @escaping @Sendable () async -> Bool
    ) -> Bool {
        let deadline = cbaseline_now_ns() + UInt64(seconds * 1e9)
        while cbaseline_now_ns() < deadline {
            if runTask(on: reactor, seconds: seconds, condition) == true { return true }
            usleep(1_000)
        }
        return false
    }

    /// A reactor on a thread of its own, pinned to `cpu` (nil: not pinned).
    static func startReactor(pinnedTo cpu: Int? = nil) throws(NodeBenchmarkError) -> Reactor {
        let reactor: Reactor
        do {
            reactor = try Reactor()
            try reactor.start()
        } catch {
            throw NodeBenchmarkError("reactor: \(error)")
        }
        let pinned = onLoop(reactor) { MachineCPUs.pinCurrentThread(to: cpu) }
        guard pinned == 0 else {
            stop(reactor)
            throw NodeBenchmarkError("could not pin the reactor thread to CPU \(cpu ?? -1)")
        }
        return reactor
    }

    /// Shuts `reactor` down and waits for its thread.
    static func stop(_ reactor: Reactor) {
        reactor.shutdown()
        reactor.waitUntilStopped()
    }

    /// Shuts every node down (in a task on `reactor`), then the reactor.
    static func shutDown(_ nodes: [Node], reactor: Reactor) {
        _ = runTask(on: reactor) {
            for node in nodes { await node.shutdown() }
            return true
        }
        stop(reactor)
    }
}

/// Why a node benchmark could not run (a setup step failed or timed out).
public struct NodeBenchmarkError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Carries a loop-confined object across a `@Sendable` boundary; sound because it is only touched
/// on its reactor's loop thread.
struct LoopConfined<Object: AnyObject>: @unchecked Sendable {
    let object: Object
}

/// A one-slot, thread-safe hand-over of a value produced on a reactor (for example the `Peer` or
/// the handler a node created for the benchmark's connection).
final class HandOver<Value>: @unchecked Sendable {
    private let slot = Rendezvous<Box>()

    private struct Box: @unchecked Sendable { let value: Value }

    func put(_ value: Value) { slot.complete(Box(value: value)) }

    func take(seconds: Double = 30) -> Value? { slot.wait(seconds: seconds)?.value }
}
