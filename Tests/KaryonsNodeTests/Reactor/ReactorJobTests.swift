#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

@Suite struct ReactorJobTests {
    /// Starts `count` pthreads that each run `body(index)`, and joins them.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Context: @unchecked Sendable {
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
                self.body = body
                self.index = index
            }
        }
        var threads: [pthread_t] = []
        for index in 0..<count {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(Context(body, index)).toOpaque()
            let result = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                context.body(context.index)
                return nil
            }, context)
            precondition(result == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test func jobsFromEightThreadsAllRunInOrderPerThread() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let threads = 8
        let perThread = 2_000
        let log = Unchecked<[(thread: Int, sequence: Int, onLoop: Bool)]>([])
        let done = CountdownSignal(target: threads * perThread)
        let reactor = loop.reactor
        Self.onThreads(threads) { thread in
            for sequence in 0..<perThread {
                reactor.execute {
                    log.value.append((thread, sequence, reactor.isInLoopThread))
                    done.add()
                }
            }
        }
        #expect(await done.wait())
        let entries = try await loop.run { log.value }
        #expect(entries.count == threads * perThread)
        #expect(entries.allSatisfy { $0.onLoop })
        var next = [Int](repeating: 0, count: threads)
        for entry in entries {
            #expect(entry.sequence == next[entry.thread])
            next[entry.thread] = entry.sequence + 1
        }
        #expect(next == [Int](repeating: perThread, count: threads))
    }

    /// While the loop is busy in a job, 100 submissions from another thread write the eventfd once.
    @Test func aBurstOfSubmissionsWakesTheLoopOnce() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let reactor = loop.reactor
        let inJob = Signal()
        let release = PthreadLock(false)
        reactor.execute {
            inJob.fire()
            release.wait { $0 }
        }
        #expect(await inJob.wait())
        let before = reactor.shared.withLock { $0.wakeupsSignalled }
        let done = CountdownSignal(target: 100)
        for _ in 0..<100 {
            reactor.execute { done.add() }
        }
        let during = reactor.shared.withLock { $0.wakeupsSignalled } - before
        release.withLock { $0 = true }
        release.broadcast()
        #expect(await done.wait())
        #expect(during == 1)
    }

    @Test func jobsPerTickAreBounded() async throws {
        var limits = Reactor.Limits()
        limits.jobsPerTickMax = 8
        let reactor = try Reactor(limits: limits)
        let ticks = Unchecked<[UInt64]>([])
        let done = CountdownSignal(target: 50)
        for _ in 0..<50 {
            reactor.execute {
                ticks.value.append(reactor.statistics.ticks)
                done.add()
            }
        }
        try reactor.start()
        defer {
            reactor.shutdown()
            reactor.waitUntilStopped()
        }
        #expect(await done.wait())
        let perTick = try await LoopThreadView(reactor: reactor).run {
            Dictionary(grouping: ticks.value, by: { $0 }).values.map(\.count)
        }
        #expect(perTick.reduce(0, +) == 50)
        #expect(perTick.max() == 8)
        #expect(perTick.count >= 7)
    }

    @Test func jobsSubmittedBeforeShutdownStillRun() async throws {
        let loop = try LoopThread()
        let ran = CountdownSignal(target: 500)
        for _ in 0..<500 {
            loop.reactor.execute { ran.add() }
        }
        loop.stop()
        #expect(ran.value == 500)
    }

    @Test func shutdownRoundsAreBounded() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var limits = Reactor.Limits()
            limits.shutdownRoundsMax = 5
            let reactor = try! Reactor(limits: limits)
            // A job that resubmits itself forever never lets the shutdown quiesce.
            final class Forever: Sendable {
                let reactor: Reactor
                init(_ reactor: Reactor) { self.reactor = reactor }
                func go() { reactor.execute { self.go() } }
            }
            Forever(reactor).go()
            reactor.shutdown()
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("did not quiesce after 6 rounds"))
    }
}
