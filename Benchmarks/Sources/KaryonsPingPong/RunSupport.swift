#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import KaryonsNode
import PingPong

/// Carries a loop-confined (non-Sendable) object into a job for the reactor that owns it.
///
/// Sound only because every use dereferences it on that reactor's loop thread (or before the
/// reactor runs, or after it stopped).
struct LoopBound<Object: AnyObject>: @unchecked Sendable {
    let object: Object
}

/// The two reactors of a run, each on a thread of its own, pinned as asked.
final class ReactorPair {
    let server: Reactor
    let client: Reactor

    init() throws(PingPongError) {
        do {
            server = try Reactor()
            client = try Reactor()
        } catch {
            throw .failed(implementation: KaryonsPingPong.columnName, reason: "reactor: \(error)")
        }
    }

    /// Starts both loops and pins each thread; throws if a thread cannot be pinned.
    func start(pinning: CPUPinning) throws(PingPongError) {
        for (reactor, cpu, side) in [(server, pinning.serverCPU, "server"), (client, pinning.clientCPU, "client")] {
            do {
                try reactor.start()
            } catch {
                throw .failed(implementation: KaryonsPingPong.columnName, reason: "\(side) reactor: \(error)")
            }
            let pinned = Rendezvous<Int32>()
            reactor.execute { pinned.complete(MachineCPUs.pinCurrentThread(to: cpu)) }
            let code = pinned.wait(seconds: 10)
            guard code == 0 else {
                let reason = code.map { "sched_setaffinity(\(side)) failed with errno \($0)" } ?? "\(side) did not start"
                throw .failed(implementation: KaryonsPingPong.columnName, reason: reason)
            }
        }
    }

    /// Shuts both reactors down (after the jobs already submitted) and waits for their threads.
    func stop() {
        client.shutdown()
        server.shutdown()
        client.waitUntilStopped()
        server.waitUntilStopped()
    }
}

/// What the client of a run measures and when it stops; shared by the UDP and TCP clients.
struct ClientSchedule {
    /// Stop after this many round trips (nil: after `durationNanoseconds`).
    var roundTripsMax: UInt64?
    var durationNanoseconds: UInt64?
    var giveUpNanoseconds: UInt64

    init(_ run: PingPongRun) {
        switch run.stop {
        case .roundTrips(let count): roundTripsMax = UInt64(max(count, 0))
        case .duration(let seconds): durationNanoseconds = UInt64(max(seconds, 0) * 1e9)
        }
        giveUpNanoseconds = UInt64(max(run.giveUpSeconds, 0) * 1e9)
    }

    /// Whether the client may put one more ping in flight, given what is completed and in flight.
    @inline(__always)
    func maySend(completed: UInt64, inFlight: UInt64) -> Bool {
        guard let roundTripsMax else { return true }
        return completed + inFlight < roundTripsMax
    }

    /// Whether a timed phase that started at `start` is over at `now` with `completed` round trips.
    @inline(__always)
    func isOver(completed: UInt64, start: Instant, now: Instant) -> Bool {
        if let roundTripsMax { return completed >= roundTripsMax }
        guard let durationNanoseconds else { return true }
        return now.nanoseconds &- start.nanoseconds >= durationNanoseconds
    }
}
