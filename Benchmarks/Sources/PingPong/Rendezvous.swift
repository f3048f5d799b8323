#if canImport(Glibc)
import Glibc
#endif
import CBaselines

/// A one-shot result handed from a reactor thread to the thread that waits for it.
///
/// The first `complete` wins; later ones are ignored (a failure found during teardown cannot
/// overwrite a result). `wait(seconds:)` gives up after a deadline, so a run whose reactor thread
/// stopped answering fails instead of hanging.
public final class Rendezvous<Value: Sendable>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Value?

    public init() {
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
    public func complete(_ newValue: Value) {
        pthread_mutex_lock(mutex)
        if value == nil {
            value = newValue
            pthread_cond_broadcast(condition)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The value, waiting up to `seconds` for it; nil if it did not come in time.
    public func wait(seconds: Double) -> Value? {
        let deadline = cbaseline_now_ns() + UInt64(min(max(seconds, 0), 1e9) * 1e9)
        var limit = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while value == nil {
            if pthread_cond_timedwait(condition, mutex, &limit) == ETIMEDOUT { break }
        }
        return value
    }
}
