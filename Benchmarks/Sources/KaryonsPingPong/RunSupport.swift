#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import KaryonsNode
import PingPong

/// A one-shot result handed from a reactor thread to the thread that waits for it.
///
/// The first `complete` wins; later ones are ignored (a failure found during teardown cannot
/// overwrite a result). `wait(seconds:)` gives up after a deadline, so a run whose reactor thread
/// stopped answering fails instead of hanging.
final class Rendezvous<Value: Sendable>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Value?

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Publishes `newValue` unless a value is already there. Called from any thread.
    func complete(_ newValue: Value) {
        pthread_mutex_lock(mutex)
        if value == nil {
            value = newValue
            pthread_cond_broadcast(condition)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The value, waiting up to `seconds` for it; nil if it did not come in time.
    func wait(seconds: Double) -> Value? {
        let deadline = SystemClock.now() + Duration(seconds: max(seconds, 0))
        var limit = timespec(
            tv_sec: Int(deadline.nanoseconds / 1_000_000_000), tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while value == nil {
            if pthread_cond_timedwait(condition, mutex, &limit) == ETIMEDOUT { break }
        }
        return value
    }
}

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
        return now.nanoseconds &- start.nanoseconds >= durationNanoseconds!
    }
}
