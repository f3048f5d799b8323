#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import KaryonsCore

/// Readiness of a descriptor, and the interest a registration asks for (epoll bits, level-triggered).
public struct IOEvents: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Data (or a connection, or end of input) can be read (`EPOLLIN`).
    public static let readable = IOEvents(rawValue: CEPOLL_IN)
    /// Data can be written (`EPOLLOUT`).
    public static let writable = IOEvents(rawValue: CEPOLL_OUT)
    /// The peer shut down its sending side (`EPOLLRDHUP`).
    public static let readHangup = IOEvents(rawValue: CEPOLL_RDHUP)
    /// Both directions are shut down, or the connection is gone (`EPOLLHUP`); always reported.
    public static let hangup = IOEvents(rawValue: CEPOLL_HUP)
    /// An error is pending on the descriptor (`EPOLLERR`, read it with `SO_ERROR`); always reported.
    public static let error = IOEvents(rawValue: CEPOLL_ERR)

    public var description: String {
        let names: [(IOEvents, String)] = [
            (.readable, "readable"), (.writable, "writable"), (.readHangup, "readHangup"),
            (.hangup, "hangup"), (.error, "error"),
        ]
        return "[" + names.filter { contains($0.0) }.map(\.1).joined(separator: ", ") + "]"
    }
}

/// A descriptor registered with a reactor: the descriptor, a slot and a generation.
///
/// The slot and generation travel in `epoll_event.data`, so an event for a registration that ended
/// earlier in the same batch (its descriptor number possibly reused) is recognised and dropped. A
/// stale registration value is harmless: operations on it do nothing.
public struct ReactorRegistration: Hashable, Sendable, CustomStringConvertible {
    /// The registered descriptor. Owned by the reactor while the registration lives.
    public let descriptor: FileDescriptor
    let slot: UInt32
    let generation: UInt32

    var token: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    public var description: String { "registration \(slot).\(generation) (\(descriptor))" }
}

/// Receives readiness events for a descriptor registered with `Reactor.register`.
///
/// Called on the loop thread, level-triggered: an event repeats every tick while the condition holds,
/// so a handler that stops early (a per-tick budget) is called again. `.hangup` and `.error` are
/// always reported; the other bits only if they are in the registration's interest.
public protocol ReactorIOHandler: AnyObject {
    /// `registration`'s descriptor is ready for `events`.
    func reactorIOReady(_ registration: ReactorRegistration, events: IOEvents)
}

/// The transports' side of the reactor: internal, so these entry points stay off their public API.
protocol ReactorClient: AnyObject {
    /// The client's descriptor is ready.
    func handleIOEvents(_ events: IOEvents)
    /// One of the client's timers fired.
    func handleTimer(_ timer: ReactorTimer)
    /// The flush the client scheduled for the end of this tick.
    func handleFlush()
    /// The reactor shut down and closed the client's descriptor: forget it, call no delegate.
    func handleReactorShutdown()
}

/// Whom a registration's events go to.
enum IOTarget {
    case client(any ReactorClient)
    case custom(any ReactorIOHandler)
}

/// The reactor's registrations: a slot table indexed by the low half of the epoll token.
struct RegistrationTable {
    struct Slot {
        var generation: UInt32 = 0
        var descriptor: FileDescriptor?
        var interest: IOEvents = []
        /// The descriptor is in the epoll set (it is left out while the interest is empty, because
        /// `EPOLLHUP`/`EPOLLERR` would otherwise be reported, level-triggered, on every tick).
        var inEpoll = false
        var target: IOTarget?
    }

    private(set) var slots: [Slot] = []
    private var freeSlots: [UInt32] = []
    private(set) var liveCount = 0

    mutating func add(_ descriptor: FileDescriptor, interest: IOEvents, target: IOTarget) -> ReactorRegistration {
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            precondition(slots.count < Int(UInt32.max), "BUG in Karyons: more than 2^32 registrations")
            slot = UInt32(slots.count)
            slots.append(Slot())
        }
        let index = Int(slot)
        slots[index].descriptor = descriptor
        slots[index].interest = interest
        slots[index].inEpoll = false
        slots[index].target = target
        liveCount += 1
        return ReactorRegistration(descriptor: descriptor, slot: slot, generation: slots[index].generation)
    }

    func isLive(_ registration: ReactorRegistration) -> Bool {
        let index = Int(registration.slot)
        return index < slots.count && slots[index].generation == registration.generation
            && slots[index].descriptor != nil
    }

    subscript(registration: ReactorRegistration) -> Slot {
        get { slots[Int(registration.slot)] }
        set { slots[Int(registration.slot)] = newValue }
    }

    /// The live target of an epoll token, with its registration and interest; nil if stale.
    func target(forToken token: UInt64) -> (IOTarget, ReactorRegistration, IOEvents)? {
        let index = Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: token))
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        guard index < slots.count else { return nil }
        let slot = slots[index]
        guard slot.generation == generation, let target = slot.target, let descriptor = slot.descriptor else {
            return nil
        }
        let registration = ReactorRegistration(descriptor: descriptor, slot: UInt32(index), generation: generation)
        return (target, registration, slot.interest)
    }

    /// Ends a registration: the slot gets a new generation, so its pending events become stale.
    mutating func remove(_ registration: ReactorRegistration) -> Slot {
        let index = Int(registration.slot)
        let old = slots[index]
        slots[index] = Slot(generation: old.generation &+ 1)
        freeSlots.append(registration.slot)
        liveCount -= 1
        return old
    }

    /// Ends every registration; returns the descriptors and targets that were live.
    mutating func removeAll() -> [(FileDescriptor, IOTarget)] {
        var removed: [(FileDescriptor, IOTarget)] = []
        for index in slots.indices {
            guard let descriptor = slots[index].descriptor, let target = slots[index].target else { continue }
            removed.append((descriptor, target))
            slots[index] = Slot(generation: slots[index].generation &+ 1)
            freeSlots.append(UInt32(index))
        }
        liveCount = 0
        return removed
    }
}

extension Reactor {
    /// Registers `descriptor` for `interest`; `handler` receives its readiness events on the loop
    /// thread until `deregister`.
    ///
    /// The reactor takes ownership of the descriptor: it closes it on `deregister` (unless told not
    /// to) and at shutdown. On failure nothing is registered and the descriptor stays the caller's.
    /// The descriptor should be non-blocking. Loop thread only.
    public func register(_ descriptor: FileDescriptor, interest: IOEvents, handler: any ReactorIOHandler)
        throws(ReactorError) -> ReactorRegistration
    {
        try register(descriptor, interest: interest, target: .custom(handler))
    }

    /// Changes what `registration` waits for; an empty interest stops all events for it (even hangup
    /// and error) until the interest is set again. Does nothing for an ended registration.
    public func setInterest(_ interest: IOEvents, for registration: ReactorRegistration) throws(ReactorError) {
        preconditionLoopThread()
        guard registrations.isLive(registration) else { return }
        var slot = registrations[registration]
        if slot.interest == interest && slot.inEpoll == !interest.isEmpty { return }
        do {
            switch (slot.inEpoll, interest.isEmpty) {
            case (false, false):
                try Sys.epollControl(epoll, CEPOLL_CTL_ADD, registration.descriptor, events: interest.rawValue,
                                     token: registration.token)
            case (true, false):
                try Sys.epollControl(epoll, CEPOLL_CTL_MOD, registration.descriptor, events: interest.rawValue,
                                     token: registration.token)
            case (true, true):
                try Sys.epollControl(epoll, CEPOLL_CTL_DEL, registration.descriptor, events: 0, token: 0)
            case (false, true):
                break
            }
        } catch {
            throw .system(error)
        }
        slot.interest = interest
        slot.inEpoll = !interest.isEmpty
        registrations[registration] = slot
    }

    /// The current interest of a live registration; empty for an ended one.
    public func interest(of registration: ReactorRegistration) -> IOEvents {
        preconditionLoopThread()
        return registrations.isLive(registration) ? registrations[registration].interest : []
    }

    /// Whether `registration` is still live (not deregistered, reactor not shut down).
    public func isRegistered(_ registration: ReactorRegistration) -> Bool {
        preconditionLoopThread()
        return registrations.isLive(registration)
    }

    /// Ends `registration`: no event reaches its handler any more, even one already fetched in this
    /// tick. Closes the descriptor unless `closeDescriptor` is false (then it is removed from epoll
    /// and handed back to the caller). Returns false (and does nothing) for an ended registration.
    @discardableResult
    public func deregister(_ registration: ReactorRegistration, closeDescriptor: Bool = true) -> Bool {
        preconditionLoopThread()
        guard registrations.isLive(registration) else { return false }
        let slot = registrations.remove(registration)
        var isCustom = false
        if case .custom = slot.target { isCustom = true }
        // A custom descriptor may have been duplicated; closing ours would then not remove it from
        // epoll, and a level-triggered event would repeat forever (dropped as stale, but a spin).
        if slot.inEpoll && (isCustom || !closeDescriptor) {
            try? Sys.epollControl(epoll, CEPOLL_CTL_DEL, registration.descriptor, events: 0, token: 0)
        }
        if closeDescriptor {
            // Transports never duplicate their sockets, so closing also leaves the epoll set; any
            // event already fetched for it is stale by generation.
            Sys.close(registration.descriptor)
        }
        return true
    }

    func register(_ descriptor: FileDescriptor, interest: IOEvents, target: IOTarget) throws(ReactorError)
        -> ReactorRegistration
    {
        preconditionLoopThread()
        guard phase == .idle || phase == .running else { throw .shutDown }
        let registration = registrations.add(descriptor, interest: [], target: target)
        do {
            try setInterest(interest, for: registration)
        } catch {
            _ = registrations.remove(registration)
            throw error
        }
        return registration
    }

    /// Registers a transport (internal entry point, see `ReactorClient`).
    func register(_ descriptor: FileDescriptor, interest: IOEvents, client: any ReactorClient) throws(ReactorError)
        -> ReactorRegistration
    {
        try register(descriptor, interest: interest, target: .client(client))
    }
}
