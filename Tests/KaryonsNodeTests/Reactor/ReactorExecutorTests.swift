#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

/// An actor whose executor is a reactor: its methods run on the loop thread.
actor ReactorCounter {
    let reactor: Reactor
    private(set) var count = 0

    init(reactor: Reactor) { self.reactor = reactor }

    nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }

    func increment() -> Int {
        count += 1
        return count
    }

    /// Whether this call runs on the reactor's loop thread.
    func runsOnLoopThread() -> Bool { reactor.isInLoopThread && Reactor.current === reactor }

    /// Calls `other` (on the same reactor) `times` times; returns the inbox jobs that cost.
    func callRepeatedly(_ other: ReactorCounter, times: Int) async -> UInt64 {
        let before = reactor.statistics.jobsRun
        for _ in 0..<times {
            _ = await other.increment()
        }
        return reactor.statistics.jobsRun - before
    }
}

@Suite struct ReactorExecutorTests {
    @Test func actorOnTheReactorRunsOnTheLoopThread() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let counter = ReactorCounter(reactor: loop.reactor)
        let results = await Task.detached { () -> [Bool] in
            var results: [Bool] = []
            for _ in 0..<10 {
                results.append(await counter.runsOnLoopThread())
            }
            return results
        }.value
        #expect(results == Array(repeating: true, count: 10))
        #expect(await counter.increment() == 1)
    }

    @Test func actorToActorOnTheSameReactorDoesNotHop() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let first = ReactorCounter(reactor: loop.reactor)
        let second = ReactorCounter(reactor: loop.reactor)
        let hops = await first.callRepeatedly(second, times: 1_000)
        #expect(await second.count == 1_000)
        // Switching between actors of one serial executor needs no inbox job at all.
        #expect(hops == 0)
    }

    @Test func taskExecutorPreferenceRunsOnTheLoopThread() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let reactor = loop.reactor
        let onLoop = await Task(executorPreference: reactor.taskExecutor) {
            reactor.isInLoopThread
        }.value
        #expect(onLoop)
        let alsoOnLoop = await withTaskExecutorPreference(reactor.taskExecutor) {
            reactor.isInLoopThread
        }
        #expect(alsoOnLoop)
    }

    @Test func assumeIsolatedWorksFromAnIOCallback() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let counter = ReactorCounter(reactor: loop.reactor)
        let value = try await loop.run {
            counter.assumeIsolated { $0.increment() }
        }
        #expect(value == 1)
    }
}
