#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import Testing
@testable import KaryonsNode

/// Records the readiness events a custom handler receives, on the loop thread.
final class RecordingHandler: ReactorIOHandler {
    var calls: [(ReactorRegistration, IOEvents)] = []
    var onReady: ((ReactorRegistration, IOEvents) -> Void)?
    let signal = Signal()

    func reactorIOReady(_ registration: ReactorRegistration, events: IOEvents) {
        calls.append((registration, events))
        onReady?(registration, events)
        signal.fire()
    }
}

@Suite struct ReactorIOTests {
    @Test func deliversReadinessToTheRegisteredHandler() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let (ours, theirs) = makeSocketPair()
        defer { close(theirs.rawValue) }
        let handler = RecordingHandler()
        let registration = try await loop.run { try loop.reactor.register(ours, interest: .readable, handler: handler) }
        writeByte(theirs)
        #expect(await handler.signal.wait())
        let calls = try await loop.run { handler.calls }
        let (delivered, events) = try #require(calls.first)
        #expect(delivered == registration)
        #expect(events.contains(.readable))
        #expect(!events.contains(.writable))
    }

    /// Two descriptors are ready in the same batch; whichever handler runs first ends the other's
    /// registration and registers a fresh descriptor that reuses both its slot and its fd number.
    /// The batch's pending event for the old registration must be dropped, not delivered to the new one.
    @Test func staleEventForAReusedDescriptorIsDropped() async throws {
        let reactor = try Reactor()
        let (firstOurs, firstTheirs) = makeSocketPair()
        let (secondOurs, secondTheirs) = makeSocketPair()
        let first = RecordingHandler()
        let second = RecordingHandler()
        let replacement = RecordingHandler()
        let firstRegistration = try reactor.register(firstOurs, interest: .readable, handler: first)
        let secondRegistration = try reactor.register(secondOurs, interest: .readable, handler: second)
        let swapped = Unchecked<(old: ReactorRegistration, new: ReactorRegistration, peer: FileDescriptor)?>(nil)
        let done = Signal()
        let replaceOther: (ReactorRegistration) -> Void = { own in
            var byte: UInt8 = 0
            _ = read(own.descriptor.rawValue, &byte, 1)
            guard swapped.value == nil else { return }
            let other = own == firstRegistration ? secondRegistration : firstRegistration
            // End the other registration and put a fresh socket under its descriptor number. dup2
            // replaces it atomically, so no concurrently running test can take the number meanwhile.
            reactor.deregister(other, closeDescriptor: false)
            let (fresh, peer) = makeSocketPair()
            precondition(dup2(fresh.rawValue, other.descriptor.rawValue) == other.descriptor.rawValue)
            close(fresh.rawValue)
            let new = try! reactor.register(other.descriptor, interest: .readable, handler: replacement)
            swapped.value = (other, new, peer)
            // Observe the rest of this tick's batch on the next tick.
            reactor.execute { done.fire() }
        }
        first.onReady = { registration, _ in replaceOther(registration) }
        second.onReady = { registration, _ in replaceOther(registration) }
        writeByte(firstTheirs)
        writeByte(secondTheirs)
        try reactor.start()
        defer {
            reactor.shutdown()
            reactor.waitUntilStopped()
            close(firstTheirs.rawValue)
            close(secondTheirs.rawValue)
        }
        #expect(await done.wait())
        let loop = LoopThreadView(reactor: reactor)
        let (old, new, peer, stale, counts) = try await loop.run {
            let swap = swapped.value!
            return (swap.old, swap.new, swap.peer, reactor.statistics.staleEventsDropped,
                    (first.calls.count, second.calls.count, replacement.calls.count))
        }
        #expect(new.slot == old.slot)
        #expect(new.descriptor == old.descriptor)
        #expect(new.generation != old.generation)
        #expect(stale == 1)
        #expect(counts.0 + counts.1 == 1)
        #expect(counts.2 == 0)
        // The new registration itself works.
        writeByte(peer)
        #expect(await replacement.signal.wait())
        close(peer.rawValue)
    }

    @Test func emptyInterestSilencesADescriptorUntilInterestReturns() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let (ours, theirs) = makeSocketPair()
        defer { close(theirs.rawValue) }
        let handler = RecordingHandler()
        let registration = try await loop.run { try loop.reactor.register(ours, interest: .writable, handler: handler) }
        #expect(await handler.signal.wait())
        // Level-triggered writability repeats every tick until the interest is cleared.
        let silenced = try await loop.run { () -> Int in
            try loop.reactor.setInterest([], for: registration)
            return handler.calls.count
        }
        #expect(silenced >= 1)
        for _ in 0..<20 {
            _ = try await loop.run { 0 }
        }
        let (afterTicks, interest) = try await loop.run { (handler.calls.count, loop.reactor.interest(of: registration)) }
        #expect(afterTicks == silenced)
        #expect(interest == [])
        let resumed = Signal()
        try await loop.run {
            handler.onReady = { _, _ in resumed.fire() }
            try loop.reactor.setInterest(.writable, for: registration)
        }
        #expect(await resumed.wait())
    }

    @Test func deregisterWithoutClosingHandsTheDescriptorBack() async throws {
        let loop = try LoopThread()
        defer { loop.stop() }
        let (ours, theirs) = makeSocketPair()
        defer {
            close(ours.rawValue)
            close(theirs.rawValue)
        }
        let handler = RecordingHandler()
        let (ended, again, live) = try await loop.run { () -> (Bool, Bool, Bool) in
            let registration = try loop.reactor.register(ours, interest: .readable, handler: handler)
            let ended = loop.reactor.deregister(registration, closeDescriptor: false)
            return (ended, loop.reactor.deregister(registration), loop.reactor.isRegistered(registration))
        }
        #expect(ended)
        #expect(!again)
        #expect(!live)
        // Still open: a byte written by the peer can be read here.
        writeByte(theirs, 7)
        var pollDescriptor = pollfd(fd: ours.rawValue, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pollDescriptor, 1, 5_000) == 1)
        var byte: UInt8 = 0
        #expect(read(ours.rawValue, &byte, 1) == 1)
        #expect(byte == 7)
    }

    @Test func shutdownClosesRegisteredDescriptorsAndCallsNoHandlerAfterwards() async throws {
        let loop = try LoopThread()
        let (ours, theirs) = makeSocketPair()
        defer { close(theirs.rawValue) }
        let handler = RecordingHandler()
        let fired = Unchecked(0)
        try await loop.run {
            _ = try loop.reactor.register(ours, interest: .readable, handler: handler)
            loop.reactor.scheduleTimer(after: .milliseconds(1)) { fired.value += 1 }
            loop.reactor.scheduleTimer(after: .seconds(3_600)) { fired.value += 100 }
        }
        loop.stop()
        // Our end was closed by the shutdown: the peer reads end-of-file.
        var pollDescriptor = pollfd(fd: theirs.rawValue, events: Int16(POLLIN), revents: 0)
        #expect(poll(&pollDescriptor, 1, 5_000) == 1)
        var byte: UInt8 = 0
        #expect(read(theirs.rawValue, &byte, 1) == 0)
        #expect(fired.value <= 1)
        #expect(handler.calls.isEmpty)
        #expect(loop.reactor.statistics.registrations == 0)
        #expect(loop.reactor.statistics.timersArmed == 0)
        #expect(throws: ReactorError.shutDown) {
            try loop.reactor.register(FileDescriptor(rawValue: 0), interest: .readable, handler: handler)
        }
        let late = loop.reactor.scheduleTimer(after: .zero) { fired.value += 1_000 }
        #expect(loop.reactor.deadline(of: late) == nil)
        #expect(!loop.reactor.execute {})
    }

    @Test func aReactorThatNeverRanReleasesEverythingOnShutdown() throws {
        let reactor = try Reactor()
        let (ours, theirs) = makeSocketPair()
        defer { close(theirs.rawValue) }
        let ran = Unchecked(false)
        _ = try reactor.register(ours, interest: .readable, handler: RecordingHandler())
        reactor.execute { ran.value = true }
        reactor.shutdown()
        reactor.waitUntilStopped()
        #expect(ran.value)
        var byte: UInt8 = 0
        #expect(read(theirs.rawValue, &byte, 1) == 0)
    }

    @Test func runsOnTheCallingThread() async throws {
        let reactor = try Reactor()
        let onLoop = Signal()
        let thread = Unchecked<pthread_t?>(nil)
        reactor.execute {
            thread.value = pthread_self()
            #expect(Reactor.current === reactor)
            onLoop.fire()
        }
        let context = Unmanaged.passRetained(reactor).toOpaque()
        var runner = pthread_t()
        #expect(pthread_create(&runner, nil, { context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            reactor.run()
            return nil
        }, context) == 0)
        #expect(await onLoop.wait())
        reactor.shutdown()
        reactor.waitUntilStopped()
        #expect(pthread_join(runner, nil) == 0)
        #expect(thread.value.map { pthread_equal($0, runner) != 0 } == true)
    }

    @Test func oneReactorPerThread() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let outer = try! Reactor()
            let inner = try! Reactor()
            outer.execute { inner.run() }
            outer.run()
        }
        #expect(String(decoding: result.standardErrorContent, as: UTF8.self).contains("one Reactor per thread"))
    }

    @Test func loopThreadAPITrapsOnAnotherThreadWhileRunning() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = try! LoopThread()
            _ = loop.reactor.scheduleTimer(after: .seconds(1)) {}
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("called off the reactor's loop thread"))
    }

    @Test func actorJobAfterShutdownTraps() async throws {
        let result = try await #require(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = try! LoopThread()
            let counter = ReactorCounter(reactor: loop.reactor)
            loop.stop()
            _ = await counter.increment()
        }
        let message = String(decoding: result.standardErrorContent, as: UTF8.self)
        #expect(message.contains("actor job enqueued on a Reactor that has shut down"))
    }
}
