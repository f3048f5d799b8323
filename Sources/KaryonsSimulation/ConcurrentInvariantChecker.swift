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
/// Submissions go into a ring of `batchSize` slots, each with an atomic state (pending, taken,
/// done); taking a check is a compare-and-exchange, so exactly one thread runs it. When the ring is
/// full the network waits until the batch is done and collects its problems.
///
/// Threads: the network's thread calls every method, and only it touches the bookkeeping below the
/// atomics (hence `@exclusivity(unchecked)`: no runtime access tracking on the hot path); the
/// checker's own thread only runs checks. It spins briefly when idle, then sleeps on a condition
/// variable until woken. It keeps the checker alive until `stop()`, which the network calls.
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
    /// Checks published to the checker so far (written by the network's thread).
    private let published = Atomic<Int>(0)
    private let isStopping = Atomic<Bool>(false)
    private let isSleeping = Atomic<Bool>(false)
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let wakeUp: UnsafeMutablePointer<pthread_cond_t>
    private var thread = pthread_t()
    private var isRunning = false

    // The network's thread only:
    /// Checks submitted (the same as `published`).
    @exclusivity(unchecked) private var submitted = 0
    /// Checks collected: their slots are free again.
    @exclusivity(unchecked) private var collected = 0
    /// For each host, 1 + the submission index of its latest check.
    @exclusivity(unchecked) private var latestCheck: [Int] = []

    init() {
        checks = .allocate(capacity: Self.batchSize)
        states = .allocate(capacity: Self.batchSize * Self.stateStride)
        for index in 0..<Self.batchSize * Self.stateStride { (states + index).initialize(to: Atomic(State.done)) }
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
        pthread_cond_destroy(wakeUp)
        wakeUp.deallocate()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Stops the checker's thread after it finished what it took.
    func stop() {
        guard isRunning else { return }
        isRunning = false
        isStopping.store(true, ordering: .sequentiallyConsistent)
        signal()
        pthread_join(thread, nil)
    }

    // MARK: The network's side

    /// Submits a check of the node at `node` (the host's), made at `time`. When the ring is full,
    /// waits for the batch and hands its problems to `collect` first.
    func submit(
        _ node: UnsafeMutablePointer<Node>, host: Int, time: Instant,
        collect: (_ time: Instant, _ host: Int, _ problems: [String]) -> Void
    ) {
        if submitted - collected == Self.batchSize { drain(collect: collect) }
        let index = submitted & (Self.batchSize - 1)
        let check = Check(node: node, host: host, time: time, problems: [])
        if submitted < Self.batchSize { (checks + index).initialize(to: check) } else { checks[index] = check }
        state(index).pointee.store(State.pending, ordering: .releasing)
        submitted += 1
        if host >= latestCheck.count { latestCheck.append(contentsOf: repeatElement(0, count: host + 1 - latestCheck.count)) }
        latestCheck[host] = submitted
        published.store(submitted, ordering: .sequentiallyConsistent)
        if isSleeping.load(ordering: .sequentiallyConsistent) { signal() }
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
        while collected < submitted {
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
        if runIfPending(index) { return }
        var spins = 0
        while state(index).pointee.load(ordering: .acquiring) != State.done {
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

    /// Takes the slot's check if it waits and runs it; false if another thread took it first.
    private func runIfPending(_ index: Int) -> Bool {
        guard state(index).pointee.compareExchange(expected: State.pending, desired: State.taken, ordering: .acquiring).exchanged
        else { return false }
        let check = checks + index
        check.pointee.problems = check.pointee.node.pointee.invariantViolations()
        state(index).pointee.store(State.done, ordering: .releasing)
        return true
    }

    // MARK: The checker's side

    private func serve() {
        var next = 0
        var knownPublished = 0
        var idleSpins = 0
        while true {
            // The count is reloaded only once the checks known to be published are all taken: the
            // network writes it after every submission, and each load then moves its cache line.
            if next == knownPublished { knownPublished = published.load(ordering: .acquiring) }
            if next < knownPublished {
                _ = runIfPending(next & (Self.batchSize - 1))
                next += 1
                idleSpins = 0
                continue
            }
            if isStopping.load(ordering: .acquiring) { return }
            idleSpins += 1
            if idleSpins < 4096 { continue }
            idleSpins = 0
            sleep(untilPast: next)
        }
    }

    /// Sleeps until a check beyond `next` is published or the checker stops. The flag and the
    /// count are stored and read sequentially consistent on both sides, so either the network sees
    /// the checker asleep and wakes it, or the checker sees the new check and does not sleep.
    private func sleep(untilPast next: Int) {
        pthread_mutex_lock(lock)
        isSleeping.store(true, ordering: .sequentiallyConsistent)
        while published.load(ordering: .sequentiallyConsistent) == next && !isStopping.load(ordering: .sequentiallyConsistent) {
            pthread_cond_wait(wakeUp, lock)
        }
        isSleeping.store(false, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(lock)
    }
}

/// A check slot's state: its check waits, runs, or has run.
private enum State {
    static let pending = 0
    static let taken = 1
    static let done = 2
}

/// The body of a thread started with `pthread_create`.
private final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
