/// A unit of work in the reactor's inbox.
enum ReactorJob {
    /// A closure from `Reactor.execute`.
    case closure(@Sendable () -> Void)
    /// A job of an actor whose executor is the reactor.
    case actor(UnownedJob)
    /// A task job with the reactor's task executor as preference.
    case task(UnownedJob)
}

extension Reactor {
    /// Runs `body` on the loop thread, in a later tick. Callable from any thread.
    ///
    /// Jobs from one thread run in the order they were submitted. A burst of submissions wakes the
    /// loop once (the eventfd is written only when no wake-up is pending). Returns false, and drops
    /// `body`, if the reactor has shut down.
    @discardableResult
    public func execute(_ body: @escaping @Sendable () -> Void) -> Bool {
        submit(.closure(body))
    }

    /// Queues a job and wakes the loop if needed. Called from any thread.
    func submit(_ job: ReactorJob) -> Bool {
        let onLoopThread = isInLoopThread
        let accepted = shared.withLock { state -> Bool in
            guard state.lifecycle.acceptsJobs else { return false }
            state.jobs.append(job)
            if !onLoopThread {
                signalWakeLocked(&state)
            }
            return true
        }
        if accepted && onLoopThread {
            // The loop checks this before it blocks, so no eventfd write is needed.
            inboxSignalled = true
        }
        return accepted
    }
}

extension Reactor: SerialExecutor {
    /// Enqueues a job of an actor that runs on this reactor. Called by the Swift runtime, from any thread.
    ///
    /// Traps if the reactor has shut down: the job could never run, and its task would hang silently.
    public func enqueue(_ job: consuming ExecutorJob) {
        let accepted = submit(.actor(UnownedJob(job)))
        precondition(accepted, "BUG in Karyons: actor job enqueued on a Reactor that has shut down")
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: Reactor) -> Bool {
        self === other
    }

    /// Traps unless called on the loop thread (used by `assumeIsolated` and isolation checks).
    public func checkIsolated() {
        precondition(isInLoopThread, "BUG in Karyons: not on the reactor's loop thread")
    }

    public func isIsolatingCurrentContext() -> Bool? {
        isInLoopThread
    }
}

/// The reactor as a `TaskExecutor`: `Task(executorPreference: reactor.taskExecutor)` and
/// `withTaskExecutorPreference(reactor.taskExecutor)` run non-isolated task code on the loop thread.
///
/// A separate object from the reactor because one `enqueue` cannot tell actor jobs from task jobs,
/// and running actor jobs with a task executor would defeat the runtime's no-hop fast path. It refers
/// to its reactor without owning it: the reactor must outlive the tasks that prefer it.
public final class ReactorTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// The reactor whose loop runs the jobs.
    public unowned let reactor: Reactor

    init(reactor: Reactor) {
        self.reactor = reactor
    }

    /// Enqueues a task job; called by the Swift runtime from any thread. Traps after shutdown.
    public func enqueue(_ job: consuming ExecutorJob) {
        let accepted = reactor.submit(.task(UnownedJob(job)))
        precondition(accepted, "BUG in Karyons: task job enqueued on a Reactor that has shut down")
    }
}
