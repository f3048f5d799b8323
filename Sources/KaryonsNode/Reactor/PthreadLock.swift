#if canImport(Glibc)
import Glibc
#endif

/// A value guarded by a `pthread_mutex`, with a condition variable for waiting on it.
///
/// Used instead of `Synchronization.Mutex`, whose futex path gives false data-race reports under
/// TSan on Linux (see toolchain.md §2), and because KaryonsNode imports only Glibc.
final class PthreadLock<State>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        let mutexResult = pthread_mutex_init(mutex, nil)
        precondition(mutexResult == 0, "BUG in Karyons: pthread_mutex_init failed with \(mutexResult)")
        let conditionResult = pthread_cond_init(condition, nil)
        precondition(conditionResult == 0, "BUG in Karyons: pthread_cond_init failed with \(conditionResult)")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state.
    @inline(__always)
    func withLock<Result, Failure: Error>(_ body: (inout State) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Blocks until `isDone(state)` holds; re-checked after every `broadcast()`.
    func wait(until isDone: (State) -> Bool) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !isDone(state) {
            pthread_cond_wait(condition, mutex)
        }
    }

    /// Wakes every thread in `wait(until:)` so it re-checks its condition.
    func broadcast() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}
