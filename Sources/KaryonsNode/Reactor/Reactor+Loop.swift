#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

extension Reactor {
    /// One turn of the loop: wait, readiness, timers, jobs, flushes (see the type's documentation).
    func tick() {
        let count = blockingWaitForWork(timeoutMilliseconds: waitTimeout())
        currentTime = SystemClock.now()
        dispatchEvents(count: count)
        fireDueTimers()
        runJobs()
        runFlushes()
        counters.ticks &+= 1
    }

    /// Blocks in `epoll_wait` until a descriptor is ready, the timeout passes, or a wake-up arrives.
    ///
    /// Never inlined and never renamed: profiles tell idle time from work by this frame.
    @inline(never)
    func blockingWaitForWork(timeoutMilliseconds: Int32) -> Int {
        do {
            return try Sys.epollWait(epoll, events, capacity: limits.eventsPerTickMax,
                                     timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            // epoll_wait fails only with EINTR (retried), EBADF/EFAULT/EINVAL: all bugs.
            preconditionFailure("BUG in Karyons: \(error)")
        }
    }

    /// Zero when work is pending, else the time to the earliest timer (rounded up to whole
    /// milliseconds so the loop never wakes early and spins), else forever (-1).
    func waitTimeout() -> Int32 {
        if readyJobIndex < readyJobs.count || inboxSignalled || !flushQueue.isEmpty {
            return 0
        }
        guard let deadline = timers.nextDeadline else { return -1 }
        let current = SystemClock.now()
        guard deadline > current else { return 0 }
        let milliseconds = deadline.duration(since: current).millisecondsRoundedUp
        return Int32(min(milliseconds, UInt64(Int32.max)))
    }

    func dispatchEvents(count: Int) {
        var wakeSeen = false
        for index in 0..<count {
            let event = events + index
            let token = cepoll_event_token(event)
            if token == Self.wakeToken {
                wakeSeen = true
                continue
            }
            let ready = IOEvents(rawValue: cepoll_event_bits(event))
            guard let (target, registration, wanted) = registrations.target(forToken: token) else {
                counters.staleEventsDropped &+= 1
                continue
            }
            let delivered = ready.intersection(wanted.union([.hangup, .error]))
            guard !delivered.isEmpty else {
                counters.staleEventsDropped &+= 1
                continue
            }
            counters.eventsDispatched &+= 1
            switch target {
            case .client(let client):
                client.handleIOEvents(delivered)
            case .custom(let handler):
                handler.reactorIOReady(registration, events: delivered)
            }
        }
        if wakeSeen {
            acknowledgeWake()
        }
    }

    /// Resets the eventfd; the inbox is then taken in `runJobs` (after the reset, so no job is missed).
    private func acknowledgeWake() {
        do {
            try Sys.eventReset(wakeEvent)
        } catch {
            preconditionFailure("BUG in Karyons: eventfd read failed: \(error)")
        }
        inboxSignalled = true
    }

    func fireDueTimers() {
        var budget = limits.timersPerTickMax
        while budget > 0, let (timer, action) = timers.popDue(now: currentTime) {
            budget -= 1
            counters.timersFired &+= 1
            switch action {
            case .client(let client): client.handleTimer(timer)
            case .handler(let handler): handler.reactorTimerFired(timer)
            case .closure(let body): body()
            }
        }
    }

    func runJobs() {
        if readyJobIndex == readyJobs.count && inboxSignalled {
            takeInbox()
        }
        var budget = limits.jobsPerTickMax
        while readyJobIndex < readyJobs.count && budget > 0 {
            let job = readyJobs[readyJobIndex]
            readyJobIndex += 1
            budget -= 1
            run(job)
        }
        if readyJobIndex == readyJobs.count && !readyJobs.isEmpty {
            readyJobs.removeAll(keepingCapacity: true)
            readyJobIndex = 0
        }
    }

    /// Moves the inbox into `readyJobs` (swapping buffers, so steady state allocates nothing).
    private func takeInbox() {
        readyJobs.removeAll(keepingCapacity: true)
        readyJobIndex = 0
        inboxSignalled = false
        let stop = shared.withLock { state -> Bool in
            swap(&state.jobs, &readyJobs)
            state.wakePending = false
            return state.stopRequested
        }
        if stop {
            stopRequested = true
        }
    }

    func run(_ job: ReactorJob) {
        counters.jobsRun &+= 1
        switch job {
        case .closure(let body):
            body()
        case .actor(let job):
            job.runSynchronously(on: asUnownedSerialExecutor())
        case .task(let job):
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(),
                                 taskExecutor: taskExecutor.asUnownedTaskExecutor())
        }
    }

    func runFlushes() {
        var index = 0
        // Flush handlers may schedule more flushes (a driver's drain queues transport writes); those
        // run in this same pass, up to the limit.
        while index < flushQueue.count && index < limits.flushesPerTickMax {
            let target = flushQueue[index]
            index += 1
            counters.flushesRun &+= 1
            switch target {
            case .client(let client): client.handleFlush()
            case .custom(let handler): handler.reactorFlush()
            }
        }
        if index == flushQueue.count {
            flushQueue.removeAll(keepingCapacity: true)
        } else {
            flushQueue.removeFirst(index)
        }
    }

    // MARK: - Shutdown

    /// Runs the jobs still submitted (and their flushes), then closes everything and stops.
    func drainAndStop() {
        phase = .draining
        shared.withLock { $0.lifecycle = .draining }
        var rounds = 0
        while true {
            while readyJobIndex < readyJobs.count {
                let job = readyJobs[readyJobIndex]
                readyJobIndex += 1
                run(job)
            }
            runFlushes()
            readyJobs.removeAll(keepingCapacity: true)
            readyJobIndex = 0
            let closing = shared.withLock { state -> Bool in
                guard !state.jobs.isEmpty || !flushQueue.isEmpty else {
                    state.lifecycle = .closing
                    return true
                }
                swap(&state.jobs, &readyJobs)
                state.wakePending = false
                return false
            }
            if closing { break }
            rounds += 1
            precondition(rounds <= limits.shutdownRoundsMax,
                         "BUG in Karyons: Reactor did not quiesce after \(rounds) rounds of jobs at shutdown")
        }
        phase = .closing
        closeEverything()
        phase = .stopped
        shared.withLock { $0.lifecycle = .stopped }
        shared.broadcast()
    }

    /// Closes every registered descriptor, disarms every timer, drops every pending flush, then closes
    /// the eventfd and the epoll instance. Transports are told (so they count themselves closed), but
    /// no user callback runs.
    func closeEverything() {
        for (descriptor, target) in registrations.removeAll() {
            Sys.close(descriptor)
            if case .client(let client) = target {
                client.handleReactorShutdown()
            }
        }
        timers.removeAll()
        flushQueue.removeAll()
        readyJobs.removeAll()
        readyJobIndex = 0
        Sys.close(wakeEvent)
        Sys.close(epoll)
    }
}
