import KaryonsCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks nodes' invariants on a second thread while the network goes on with the next events.
///
/// The network submits a check after every step of a node, exactly where it would run the check
/// itself, and must not touch that node again until the check is done: `awaitChecks(of:)`, which
/// the network calls before lending a node, and which runs the check on the network's own thread if
/// the checker has not taken it yet (so the network never waits for the checks queued before it,
/// only, at worst, for the one the checker is running). A host therefore has at most one check
/// outstanding, and every check reads its node in the state the inline check would have read,
/// with no copy: the results are the same, only the thread differs. Problems are collected
/// (`drain`) in submission order, so the violations of a run do not depend on the threads' timing.
///
/// Submissions go into a ring of `batchSize` slots. Each slot has an atomic state naming the
/// submission it holds and its phase (pending, taken, done); taking a check is a
/// compare-and-exchange, so exactly one thread runs it. The checker watches the slot of the next
/// submission, so a submission moves one cache line to the checker and nothing else: no shared
/// count is written per check. When the ring is full, the network collects the oldest half,
/// waiting only if the checker has not finished them.
///
/// Threads: the network's thread calls every method, and only it touches the bookkeeping below the
/// atomics (hence `@exclusivity(unchecked)`: no runtime access tracking on the hot path); the
/// checker's own thread only runs checks. When idle it spins for a few hundred microseconds (about
/// a hundred events) before it sleeps on a condition variable until woken: waking it is a system
/// call on the network's thread, so it must be rare. It keeps the checker alive until `stop()`,
/// which the network calls.
final class ConcurrentInvariantChecker<Node: SimulatedNode>: @unchecked Sendable {
    /// One submitted check.
    struct Check {
        var node: UnsafeMutablePointer<Node>
        var host: Int
        var time: Instant
        var problems: [String]
    }

    /// Checks in one batch (a power of two): the ring's size, and how often problems are collected.
    static var batchSize: Int { 1024 }

    private let checks: UnsafeMutablePointer<Check>
    /// Each slot's state, one per cache line (`stateStride` atomics apart): neighbouring slots are
    /// written by different threads at the same time, and sharing a line would bounce it between
    /// the cores on every check.
    private let states: UnsafeMutablePointer<Atomic<Int>>
    private static var stateStride: Int { 8 }
    /// `isSleeping` and `isStopping`, a cache line apart and away from the states: the network
    /// reads `isSleeping` after every submission, so it must stay in its cache.
    private let flags: UnsafeMutablePointer<Atomic<Bool>>
    private static var flagStride: Int { 64 }
    /// How many times the idle checker looks for a new check before it sleeps (each look is a load
    /// from its own cache, about a nanosecond). With 4,096 it slept after one check in ten on a
    /// 3,000-node run, and the wake-ups cost the network's thread 8%.
    private static var idleSpinsBeforeSleep: Int { 1 << 18 }
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeUp: UnsafeMutablePointer<pthread_cond_t>
    private var thread = pthread_t()
    private var isRunning = false

    // The network's thread only:
    /// Checks submitted.
    @exclusivity(unchecked) private var submitted = 0
    /// Checks collected: their slots are free again.
    @exclusivity(unchecked) private var collected = 0
    /// For each host, 1 + the submission index of its latest check.
    @exclusivity(unchecked) private var latestCheck: [Int] = []
    /// Checks the network ran itself because the checker had not taken them when they were due.
    @exclusivity(unchecked) private(set) var checksRunByNetwork = 0

    init() {
        checks = .allocate(capacity: Self.batchSize)
        states = .allocate(capacity: Self.batchSize * Self.stateStride)
        // Slot i first holds submission i: before it, its state is below that submission's pending.
        for index in 0..<Self.batchSize * Self.stateStride { (states + index).initialize(to: Atomic(State.free)) }
        flags = .allocate(capacity: 2 * Self.flagStride)
        for index in 0..<2 * Self.flagStride { (flags + index).initialize(to: Atomic(false)) }
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
        wakeUp = .allocate(capacity: 1)
        wakeUp.initialize(to: pthread_cond_t())
        pthread_cond_init(wakeUp, nil)
        let body = ThreadBody { [self] in serve() }
        let context = Unmanaged.passRetained(body).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(result == 0, "BUG in Karyons: the invariant checker's thread did not start (\(result))")
        isRunning = true
    }

    deinit {
        // Runs only after `stop()`: until then the checker's thread holds the checker.
        checks.deinitialize(count: min(submitted, Self.batchSize))
        checks.deallocate()
        states.deinitialize(count: Self.batchSize * Self.stateStride)
        states.deallocate()
        flags.deinitialize(count: 2 * Self.flagStride)
        flags.deallocate()
        pthread_cond_destroy(wakeUp)
        wakeUp.deallocate()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Stops the checker's thread after it finished what it took.
    func stop() {
        guard isRunning else { return }
        isRunning = false
        isStopping.pointee.store(true, ordering: .sequentiallyConsistent)
        signal()
        pthread_join(thread, nil)
    }

    // MARK: The network's side

    /// Submits a check of the node at `node` (the host's), made at `time`. When the ring is full,
    /// collects the oldest half first, handing their problems to `collect`.
    func submit(
        _ node: UnsafeMutablePointer<Node>, host: Int, time: Instant,
        collect: (_ time: Instant, _ host: Int, _ problems: [String]) -> Void
    ) {
        if submitted - collected == Self.batchSize { collectChecks(before: collected + Self.batchSize / 2, collect) }
        let index = submitted & (Self.batchSize - 1)
        let check = Check(node: node, host: host, time: time, problems: [])
        if submitted < Self.batchSize { (checks + index).initialize(to: check) } else { checks[index] = check }
        state(index).pointee.store(State.pending(submitted), ordering: .releasing)
        submitted += 1
        if host >= latestCheck.count { latestCheck.append(contentsOf: repeatElement(0, count: host + 1 - latestCheck.count)) }
        latestCheck[host] = submitted
        // Not ordered after the store above (a fence per check costs more than it saves): the
        // checker may fall asleep just as this check comes, unseen. The next submission then sees
        // it asleep and wakes it, and a check it has not taken is one the network can run itself.
        if isSleeping.pointee.load(ordering: .relaxed) { signal() }
    }

    /// Returns once the host's check is done (the node may then be touched): at once if it was,
    /// after running it here if the checker had not taken it, or after the checker finished it.
    @inline(__always)
    func awaitChecks(of host: Int) {
        guard host < latestCheck.count, latestCheck[host] > collected else { return }
        finish(latestCheck[host] - 1)
    }

    /// Waits for every submitted check and hands the problems found to `collect`, in submission order.
    func drain(collect: (_ time: Instant, _ host: Int, _ problems: [String]) -> Void) {
        collectChecks(before: submitted, collect)
    }

    /// Waits for the checks submitted before the `end`-th and hands their problems to `collect`,
    /// in submission order; their slots are free again.
    private func collectChecks(before end: Int, _ collect: (_ time: Instant, _ host: Int, _ problems: [String]) -> Void) {
        while collected < end {
            finish(collected)
            let check = checks + (collected & (Self.batchSize - 1))
            if !check.pointee.problems.isEmpty {
                collect(check.pointee.time, check.pointee.host, check.pointee.problems)
                check.pointee.problems = []
            }
            collected += 1
        }
    }

    /// Makes sure the check submitted `submission`-th is done, running it here if it still waits.
    private func finish(_ submission: Int) {
        let index = submission & (Self.batchSize - 1)
        // Read before trying to take it: a failed compare-and-exchange would still pull the line
        // over from the checker's core.
        let observed = state(index).pointee.load(ordering: .acquiring)
        if observed == State.done(submission) { return }
        if observed == State.pending(submission) && runIfPending(index, submission: submission) {
            checksRunByNetwork += 1
            return
        }
        var spins = 0
        while state(index).pointee.load(ordering: .acquiring) != State.done(submission) {
            spins += 1
            // A machine with one free core runs the checker only when this thread lets it.
            if spins & 255 == 0 { sched_yield() }
        }
    }

    private func signal() {
        pthread_mutex_lock(lock)
        pthread_cond_signal(wakeUp)
        pthread_mutex_unlock(lock)
    }

    // MARK: Either side

    @inline(__always)
    private func state(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> { states + index * Self.stateStride }

    private var isSleeping: UnsafeMutablePointer<Atomic<Bool>> { flags }
    private var isStopping: UnsafeMutablePointer<Atomic<Bool>> { flags + Self.flagStride }

    /// Takes the slot's check if it still waits and runs it; false if another thread took it first.
    private func runIfPending(_ index: Int, submission: Int) -> Bool {
        guard state(index).pointee.compareExchange(
            expected: State.pending(submission), desired: State.taken(submission), ordering: .acquiring
        ).exchanged
        else { return false }
        let check = checks + index
        check.pointee.problems = check.pointee.node.pointee.invariantViolations()
        state(index).pointee.store(State.done(submission), ordering: .releasing)
        return true
    }

    // MARK: The checker's side

    private func serve() {
        var next = 0
        var idleSpins = 0
        while true {
            let index = next & (Self.batchSize - 1)
            let observed = state(index).pointee.load(ordering: .acquiring)
            // Submitted (the slot names this submission or, if the network ran it and the ring came
            // round, a later one): run it unless the network took it.
            if observed >= State.pending(next) {
                if observed == State.pending(next) { _ = runIfPending(index, submission: next) }
                next += 1
                idleSpins = 0
                continue
            }
            if isStopping.pointee.load(ordering: .relaxed) { return }
            idleSpins += 1
            if idleSpins < Self.idleSpinsBeforeSleep { continue }
            idleSpins = 0
            sleep(until: next)
        }
    }

    /// Sleeps until the `submission`-th check is submitted or the checker stops; the network wakes
    /// it when it sees `isSleeping` (see `submit`). `stop()` sets `isStopping` before it signals,
    /// under the lock, so the checker always sees the stop.
    private func sleep(until submission: Int) {
        let slot = state(submission & (Self.batchSize - 1))
        pthread_mutex_lock(lock)
        isSleeping.pointee.store(true, ordering: .sequentiallyConsistent)
        while slot.pointee.load(ordering: .sequentiallyConsistent) < State.pending(submission)
            && !isStopping.pointee.load(ordering: .sequentiallyConsistent)
        {
            pthread_cond_wait(wakeUp, lock)
        }
        isSleeping.pointee.store(false, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(lock)
    }
}

/// A check slot's state: the submission it holds, and whether its check waits, runs, or has run.
/// States only grow, so a slot's state is below `pending(n)` until the `n`-th submission is in it.
private enum State {
    static let free = -1
    static func pending(_ submission: Int) -> Int { submission * 4 + 1 }
    static func taken(_ submission: Int) -> Int { submission * 4 + 2 }
    static func done(_ submission: Int) -> Int { submission * 4 + 3 }
}

/// The body of a thread started with `pthread_create`.
private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
