#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// A single-threaded event loop on epoll: descriptor readiness, timers, jobs from other threads,
/// and a serial executor so that actors can live on the loop.
///
/// **Threads.** A reactor runs on exactly one thread: the caller's, in `run()`, or a thread of its
/// own, with `start()`. One reactor per thread; any number of users (nodes, servers) may share one.
/// The loop-thread API (`register`, timers, `scheduleFlush`, `now`, the transports) may be called
/// only on the loop thread, or before the reactor runs (to set it up), or after it stopped (where it
/// reports `.shutDown` or does nothing). It traps when called from another thread while running.
/// `execute`, `enqueue` (the executor), `shutdown` and `waitUntilStopped` may be called from any
/// thread.
///
/// **The tick**, repeated until shutdown (each step bounded by `Limits`, so one busy source cannot
/// starve the others):
/// 1. `blockingWaitForWork`: `epoll_wait`, with a timeout reaching the earliest timer, or zero when
///    work is already pending.
/// 2. Readiness: each event goes to its registration's handler. An event whose registration ended
///    earlier in the same batch (its descriptor number may already be reused) is dropped.
/// 3. Due timers, in deadline order.
/// 4. Jobs from the inbox (closures from `execute`, actor and task jobs), in submission order.
/// 5. Flush handlers (`scheduleFlush`): drain state machines, then flush writes.
///
/// **Wake-ups.** Jobs from other threads enter an inbox under a lock; the eventfd that wakes the
/// loop is written only when no wake-up is already pending, so a burst of jobs costs one write.
///
/// **Shutdown** (`shutdown()`, from any thread): the loop finishes its tick, runs the jobs still in
/// the inbox, then closes every descriptor registered with it, disarms every timer, and runs no
/// handler callback afterwards. Executor jobs enqueued after that are a bug and trap. A reactor
/// and the transports on it refer to each other until it shuts down, so always shut a reactor down
/// (even one that never ran) to release its descriptors and memory.
public final class Reactor: @unchecked Sendable {
    /// The bounds on the work of one tick, and the buffer sizes. Each is named and tested.
    public struct Limits: Sendable, Hashable {
        /// Readiness events taken from the kernel per tick (`epoll_wait` `maxevents`).
        public var eventsPerTickMax = 256
        /// Due timers fired per tick; later ones fire on the next tick, which does not block.
        public var timersPerTickMax = 1_024
        /// Inbox jobs run per tick; the rest run on the next tick, which does not block.
        public var jobsPerTickMax = 1_024
        /// Flush handlers run per tick (including ones scheduled by flush handlers).
        public var flushesPerTickMax = 4_096
        /// Rounds of jobs run during shutdown before the reactor declares a livelock (a bug).
        public var shutdownRoundsMax = 1_000
        /// The reactor's read buffer, shared by its transports: the most one read returns.
        public var readBufferBytes = 64 * 1_024

        /// The defaults.
        public init() {}
    }

    /// Counters of the loop's work, for tests, metrics and benchmarks.
    public struct Statistics: Sendable, Hashable {
        /// Completed ticks.
        public var ticks: UInt64 = 0
        /// Readiness events delivered to handlers.
        public var eventsDispatched: UInt64 = 0
        /// Readiness events dropped because their registration had ended (or the bits were not wanted).
        public var staleEventsDropped: UInt64 = 0
        /// Timers fired.
        public var timersFired: UInt64 = 0
        /// Inbox jobs run.
        public var jobsRun: UInt64 = 0
        /// Flush handlers run.
        public var flushesRun: UInt64 = 0
        /// Wake-ups written to the eventfd by other threads (elided while one is pending).
        public var wakeupsSignalled: UInt64 = 0
        /// Live descriptor registrations.
        public var registrations = 0
        /// Armed timers.
        public var timersArmed = 0
    }

    /// The lifecycle, as seen by every thread (guarded by `shared`).
    enum Lifecycle: Equatable {
        /// Created; not yet running. Jobs queue up until it runs.
        case idle
        /// The loop is ticking.
        case running
        /// Shutdown requested: the loop runs the remaining jobs; no I/O is dispatched any more.
        case draining
        /// No more jobs are accepted; descriptors are being closed.
        case closing
        /// Every resource is released; `waitUntilStopped` returns.
        case stopped

        var acceptsJobs: Bool {
            switch self {
            case .idle, .running, .draining: return true
            case .closing, .stopped: return false
            }
        }
    }

    /// State shared with other threads, under `shared`'s lock.
    struct SharedState {
        var lifecycle = Lifecycle.idle
        var jobs: [ReactorJob] = []
        /// An eventfd write (or a loop-side note) is pending, so further submitters need not write.
        var wakePending = false
        var stopRequested = false
        var wakeupsSignalled: UInt64 = 0
        /// The thread started by `start()`, until joined.
        var ownThread: pthread_t?
    }

    /// The limits this reactor was created with.
    public let limits: Limits

    // MARK: Loop-confined state (touched only on the loop thread, or before it runs)

    let epoll: FileDescriptor
    let wakeEvent: FileDescriptor
    let events: UnsafeMutablePointer<epoll_event>
    /// Scratch buffer for transport reads; valid only during one read callback.
    let readBuffer: UnsafeMutableRawBufferPointer
    var registrations = RegistrationTable()
    var timers = TimerQueue()
    var flushQueue: [FlushTarget] = []
    var readyJobs: [ReactorJob] = []
    var readyJobIndex = 0
    /// The inbox may hold jobs: the eventfd fired, or the loop thread enqueued one itself.
    var inboxSignalled = false
    var stopRequested = false
    /// The loop's own view of the lifecycle.
    var phase = Lifecycle.idle
    var counters = Statistics()
    var currentTime: Instant

    // MARK: Shared state

    let shared = PthreadLock(SharedState())
    private var taskExecutorStorage: ReactorTaskExecutor!

    /// Creates a reactor: an epoll instance and an eventfd for wake-ups. It does not run yet.
    public init(limits: Limits = Limits()) throws(ReactorError) {
        precondition(limits.eventsPerTickMax > 0 && limits.timersPerTickMax > 0 && limits.jobsPerTickMax > 0
            && limits.flushesPerTickMax > 0 && limits.shutdownRoundsMax > 0 && limits.readBufferBytes > 0,
            "BUG in Karyons: Reactor.Limits must all be positive: \(limits)")
        self.limits = limits
        let epoll: FileDescriptor
        do {
            epoll = try Sys.epollCreate()
        } catch {
            throw .system(error)
        }
        do {
            wakeEvent = try Sys.eventCreate()
            try Sys.epollControl(epoll, CEPOLL_CTL_ADD, wakeEvent, events: CEPOLL_IN, token: Self.wakeToken)
        } catch {
            Sys.close(epoll)
            throw .system(error)
        }
        self.epoll = epoll
        events = .allocate(capacity: limits.eventsPerTickMax)
        readBuffer = .allocate(byteCount: limits.readBufferBytes, alignment: 16)
        currentTime = SystemClock.now()
        taskExecutorStorage = ReactorTaskExecutor(reactor: self)
    }

    deinit {
        // A running reactor is kept alive by its loop, so only these two phases can reach here.
        precondition(phase == .idle || phase == .stopped, "BUG in Karyons: Reactor deinit while \(phase)")
        if phase == .idle {
            closeEverything()
        }
        events.deallocate()
        readBuffer.deallocate()
    }

    /// The token of the wake-up eventfd in `epoll_event.data`; registration tokens never reach it
    /// (their generation would have to wrap to `UInt32.max` on slot `UInt32.max`).
    static let wakeToken = UInt64.max

    /// The executor for task-executor preference: `Task(executorPreference: reactor.taskExecutor)`
    /// runs the task's non-isolated code on the loop thread.
    public var taskExecutor: ReactorTaskExecutor { taskExecutorStorage }

    /// The monotonic time at the start of the current tick: one clock read per tick, shared by
    /// every handler of the tick. Loop thread only.
    public var now: Instant {
        preconditionLoopThread()
        return currentTime
    }

    /// Counters of the loop's work. Loop thread only (or before it runs, or after it stopped).
    public var statistics: Statistics {
        preconditionLoopThread()
        var result = counters
        result.wakeupsSignalled = shared.withLock { $0.wakeupsSignalled }
        result.registrations = registrations.liveCount
        result.timersArmed = timers.count
        return result
    }

    // MARK: - Threads

    /// The reactor whose loop runs on the calling thread, if any.
    public static var current: Reactor? {
        guard let pointer = pthread_getspecific(currentReactorKey) else { return nil }
        return Unmanaged<Reactor>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Whether the calling thread is this reactor's loop thread.
    public var isInLoopThread: Bool {
        pthread_getspecific(currentReactorKey) == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Traps unless called on the loop thread, or while the reactor is not running.
    @inline(__always)
    func preconditionLoopThread(_ function: StaticString = #function) {
        precondition(isInLoopThread || phase == .idle || phase == .stopped,
                     "BUG in Karyons: Reactor.\(function) called off the reactor's loop thread")
    }

    // MARK: - Lifecycle

    /// Runs the loop on the calling thread until `shutdown()`, then releases every resource.
    ///
    /// Traps if the reactor already ran, or if this thread already runs a reactor.
    public func run() {
        let wasIdle = shared.withLock { state -> Bool in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            return true
        }
        precondition(wasIdle, "BUG in Karyons: Reactor.run() called on a reactor that already ran")
        phase = .running
        runLoop()
    }

    /// Starts the loop on a new thread of its own and returns at once.
    ///
    /// Afterwards, touch the reactor only through `execute`, actors on its executor, `shutdown` and
    /// `waitUntilStopped` (which also joins the thread).
    public func start() throws(ReactorError) {
        let wasIdle = shared.withLock { state -> Bool in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            return true
        }
        precondition(wasIdle, "BUG in Karyons: Reactor.start() called on a reactor that already ran")
        // Set before the thread exists, so the creating thread stops being allowed to set up.
        phase = .running
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            reactor.runLoop()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Reactor>.fromOpaque(context).release()
            phase = .idle
            shared.withLock { $0.lifecycle = .idle }
            throw .system(SystemError(call: "pthread_create", code: result))
        }
        shared.withLock { $0.ownThread = thread }
    }

    /// Asks the loop to stop. Callable from any thread; returns at once (see `waitUntilStopped`).
    ///
    /// The loop finishes its tick, runs the jobs already submitted, closes every registered
    /// descriptor, disarms every timer and exits; no handler runs after that. On a reactor that never
    /// ran, the same happens right here, on the calling thread.
    public func shutdown() {
        if isInLoopThread {
            stopRequested = true
            return
        }
        let runHere = shared.withLock { state -> Bool in
            switch state.lifecycle {
            case .idle:
                state.lifecycle = .running
                state.stopRequested = true
                return true
            case .running:
                guard !state.stopRequested else { return false }
                state.stopRequested = true
                signalWakeLocked(&state)
                return false
            case .draining, .closing, .stopped:
                return false
            }
        }
        if runHere {
            phase = .running
            stopRequested = true
            runLoop(nestedTeardown: true)
        }
    }

    /// Blocks until the reactor has stopped and released its resources; joins its own thread.
    /// Callable from any thread except the loop thread.
    public func waitUntilStopped() {
        precondition(!isInLoopThread, "BUG in Karyons: Reactor.waitUntilStopped() on its own loop thread deadlocks")
        shared.wait { $0.lifecycle == .stopped }
        let thread = shared.withLock { state -> pthread_t? in
            defer { state.ownThread = nil }
            return state.ownThread
        }
        if let thread {
            let result = pthread_join(thread, nil)
            precondition(result == 0, "BUG in Karyons: pthread_join failed with \(result)")
        }
    }

    /// The loop: ticks until shutdown, then drains and releases everything.
    ///
    /// `nestedTeardown` is the shutdown of a reactor that never ran, possibly from another reactor's
    /// loop thread: the thread's current reactor is set aside for the teardown.
    func runLoop(nestedTeardown: Bool = false) {
        let previous = pthread_getspecific(currentReactorKey)
        precondition(previous == nil || nestedTeardown, "BUG in Karyons: one Reactor per thread; this thread runs one")
        pthread_setspecific(currentReactorKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(currentReactorKey, previous) }
        currentTime = SystemClock.now()
        // An event loop does not terminate by itself: only a shutdown request ends it.
        while !stopRequested {
            tick()
        }
        drainAndStop()
    }

    /// Writes the wake-up eventfd unless a wake-up is already pending. Call with the lock held, so the
    /// write can never race the close of the eventfd at shutdown.
    func signalWakeLocked(_ state: inout SharedState) {
        guard !state.wakePending else { return }
        state.wakePending = true
        state.wakeupsSignalled &+= 1
        do {
            try Sys.eventSignal(wakeEvent)
        } catch {
            preconditionFailure("BUG in Karyons: eventfd write failed: \(error)")
        }
    }
}

/// Why a reactor operation could not be done.
public enum ReactorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reactor is shutting down or has stopped; it takes no new registrations.
    case shutDown
    /// A system call failed.
    case system(SystemError)

    public var description: String {
        switch self {
        case .shutDown: return "the reactor has shut down"
        case .system(let error): return error.description
        }
    }
}

/// The thread-local slot naming the reactor that runs on the current thread.
let currentReactorKey: pthread_key_t = {
    var key = pthread_key_t()
    let result = pthread_key_create(&key, nil)
    precondition(result == 0, "BUG in Karyons: pthread_key_create failed with \(result)")
    return key
}()
