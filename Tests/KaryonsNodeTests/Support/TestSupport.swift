#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
@testable import KaryonsNode

/// Carries a value across threads where the test itself guarantees exclusive access (typically:
/// written only on the loop thread, read after a `Signal` from it).
final class Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A one-shot event: fired from any thread (usually the loop), awaited by a test with a deadline.
final class Signal: @unchecked Sendable {
    private struct State {
        var fired = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = PthreadLock(State())

    init() {}

    /// Fires the signal; idempotent.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    var isFired: Bool { state.withLock { $0.fired } }

    /// Waits until fired; false if `seconds` passed first (a generous bound on a real event, never a
    /// way to paper over a race).
    ///
    /// The deadline is a `Task.sleep`, or, with `reactor`, a timer on that reactor: the concurrency
    /// runtime may open a timerfd for a sleep, which must not happen while a test has lowered the
    /// descriptor limit.
    func wait(seconds: Double = 20, expiringOn reactor: Reactor? = nil) async -> Bool {
        let id = state.withLock { state -> Int in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        let expiry: Task<Void, Never>?
        if let reactor {
            expiry = nil
            reactor.execute {
                reactor.scheduleTimer(after: Duration(seconds: seconds)) { self.expire(id) }
            }
        } else {
            expiry = Task {
                try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                self.expire(id)
            }
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters[id] = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        expiry?.cancel()
        return isFired
    }

    private func expire(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume()
    }
}

/// A counter a test can await: `wait(for: n)` returns when `add` brought it to at least n.
final class CountdownSignal: @unchecked Sendable {
    private let count = PthreadLock(0)
    private let target: Int
    let reached = Signal()

    init(target: Int) {
        self.target = target
        if target <= 0 { reached.fire() }
    }

    func add(_ amount: Int = 1) {
        let value = count.withLock { count -> Int in
            count += amount
            return count
        }
        if value >= target { reached.fire() }
    }

    var value: Int { count.withLock { $0 } }

    func wait(seconds: Double = 20, expiringOn reactor: Reactor? = nil) async -> Bool {
        await reached.wait(seconds: seconds, expiringOn: reactor)
    }
}

/// A reactor running on its own thread for one test.
final class LoopThread: @unchecked Sendable {
    let reactor: Reactor

    init(limits: Reactor.Limits = Reactor.Limits()) throws {
        reactor = try Reactor(limits: limits)
        try reactor.start()
    }

    /// Runs `body` on the loop thread and returns its result.
    func run<Result>(_ body: @escaping () throws -> Result) async throws -> Result {
        try await LoopThreadView(reactor: reactor).run(body)
    }

    /// Shuts the reactor down and waits until it released everything.
    func stop() {
        reactor.shutdown()
        reactor.waitUntilStopped()
    }
}

/// Runs closures on the loop of a reactor that someone else started.
struct LoopThreadView {
    let reactor: Reactor

    func run<Result>(_ body: @escaping () throws -> Result) async throws -> Result {
        let work = Unchecked(body)
        let box: Unchecked<Result> = try await withCheckedThrowingContinuation { continuation in
            let accepted = reactor.execute {
                do {
                    continuation.resume(returning: Unchecked(try work.value()))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            if !accepted { continuation.resume(throwing: ReactorError.shutDown) }
        }
        return box.value
    }
}

/// The number of open descriptors of this process.
func openDescriptorCount() -> Int { openDescriptors().count }

/// The open descriptors of this process as sorted "number=target" lines (from /proc/self/fd).
func openDescriptors() -> [String] {
    guard let directory = opendir("/proc/self/fd") else { return [] }
    let own = dirfd(directory)
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard let number = Int32(name), number != own else { continue }
        names.append(name)
    }
    closedir(directory)
    var target = [CChar](repeating: 0, count: 256)
    return names.compactMap { name -> String? in
        let length = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
        guard length > 0 else { return nil }
        return name + "=" + String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }.sorted()
}

/// A connected pair of non-blocking Unix stream sockets. Close-on-exec, so the child processes of
/// exit tests running meanwhile do not inherit them (a peer would then not see end-of-file).
func makeSocketPair() -> (FileDescriptor, FileDescriptor) {
    var descriptors: [Int32] = [0, 0]
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    let result = socketpair(AF_UNIX, type, 0, &descriptors)
    precondition(result == 0, "socketpair failed: \(errno)")
    return (FileDescriptor(rawValue: descriptors[0]), FileDescriptor(rawValue: descriptors[1]))
}

/// Writes one byte to `descriptor` (test setup; the socket buffer is never full here).
func writeByte(_ descriptor: FileDescriptor, _ byte: UInt8 = 1) {
    var value = byte
    let written = write(descriptor.rawValue, &value, 1)
    precondition(written == 1, "write failed: \(errno)")
}
