import KaryonsCore

/// Receives the timers it scheduled with `Reactor.scheduleTimer(at:handler:)`.
///
/// One object can own many timers: it tells them apart by the `ReactorTimer` handle it was given.
public protocol ReactorTimerHandler: AnyObject {
    /// `timer` reached its deadline. It is no longer armed (schedule again to repeat).
    func reactorTimerFired(_ timer: ReactorTimer)
}

/// What a timer does when it fires.
enum TimerAction {
    case client(any ReactorClient)
    case handler(any ReactorTimerHandler)
    case closure(() -> Void)
}

/// Whom an end-of-tick flush goes to.
enum FlushTarget {
    case client(any ReactorClient)
    case custom(any ReactorFlushHandler)
}

/// Work deferred to the end of the current tick, after readiness, timers and jobs: the place to
/// drain a state machine's outputs and to flush writes batched during the tick.
public protocol ReactorFlushHandler: AnyObject {
    /// The end of the tick in which `Reactor.scheduleFlush` was called.
    func reactorFlush()
}

extension Reactor {
    /// Arms a timer that calls `handler.reactorTimerFired` on the loop thread at or after `deadline`
    /// (a past deadline fires on the next tick). The reactor holds `handler` until the timer fires or
    /// is cancelled. After shutdown the returned timer is never armed. Loop thread only.
    ///
    /// Timers live in a binary heap: arming, cancelling and rescheduling cost O(log n) and allocate
    /// nothing in steady state; timers with equal deadlines fire in the order they were scheduled.
    @discardableResult
    public func scheduleTimer(at deadline: Instant, handler: any ReactorTimerHandler) -> ReactorTimer {
        schedule(at: deadline, action: .handler(handler))
    }

    /// Arms a timer that runs `action` on the loop thread at or after `deadline` (one allocation for
    /// the closure; hot paths use the handler form).
    @discardableResult
    public func scheduleTimer(at deadline: Instant, _ action: @escaping () -> Void) -> ReactorTimer {
        schedule(at: deadline, action: .closure(action))
    }

    /// Arms a timer `delay` from the current monotonic time (read now, not at the start of the tick,
    /// so the timer never fires early).
    @discardableResult
    public func scheduleTimer(after delay: Duration, handler: any ReactorTimerHandler) -> ReactorTimer {
        schedule(at: SystemClock.now() + delay, action: .handler(handler))
    }

    /// Arms a closure timer `delay` from the current monotonic time.
    @discardableResult
    public func scheduleTimer(after delay: Duration, _ action: @escaping () -> Void) -> ReactorTimer {
        schedule(at: SystemClock.now() + delay, action: .closure(action))
    }

    /// Moves an armed timer to `deadline`, keeping its handle. Returns false (and does nothing) if the
    /// timer already fired or was cancelled.
    @discardableResult
    public func rescheduleTimer(_ timer: ReactorTimer, to deadline: Instant) -> Bool {
        preconditionLoopThread()
        return timers.reschedule(timer, to: deadline)
    }

    /// Disarms `timer`, releasing its handler. Returns false if it already fired or was cancelled.
    @discardableResult
    public func cancelTimer(_ timer: ReactorTimer) -> Bool {
        preconditionLoopThread()
        return timers.cancel(timer) != nil
    }

    /// The deadline of an armed timer; nil once it fired or was cancelled.
    public func deadline(of timer: ReactorTimer) -> Instant? {
        preconditionLoopThread()
        return timers.deadline(of: timer)
    }

    /// The earliest deadline among armed timers.
    public var nextTimerDeadline: Instant? {
        preconditionLoopThread()
        return timers.nextDeadline
    }

    func schedule(at deadline: Instant, action: TimerAction) -> ReactorTimer {
        preconditionLoopThread()
        guard phase == .idle || phase == .running else {
            // A handle that was never armed: its slot is out of range, so it never reads as armed.
            return ReactorTimer(slot: UInt32.max, generation: 0)
        }
        return timers.schedule(at: deadline, action: action)
    }

    /// Arms a transport timer (internal entry point, see `ReactorClient`).
    func scheduleTimer(at deadline: Instant, client: any ReactorClient) -> ReactorTimer {
        schedule(at: deadline, action: .client(client))
    }

    // MARK: - End-of-tick flushes

    /// Calls `handler.reactorFlush()` once at the end of the current tick (or of the first tick, if
    /// the reactor is not running yet). Each call schedules one call: callers keep their own
    /// "already scheduled" flag. Loop thread only; ignored after shutdown.
    public func scheduleFlush(_ handler: any ReactorFlushHandler) {
        preconditionLoopThread()
        guard phase != .closing && phase != .stopped else { return }
        flushQueue.append(.custom(handler))
    }

    func scheduleFlush(client: any ReactorClient) {
        preconditionLoopThread()
        guard phase != .closing && phase != .stopped else { return }
        flushQueue.append(.client(client))
    }
}
