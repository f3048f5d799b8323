import Testing
@testable import KaryonsCore

@Suite struct SlotTableTests {
    @Test func staleHandlesAreRecognisedAfterReuse() throws {
        var table = SlotTable<String>()
        let first = table.insert("a")
        #expect(table[first] == "a")
        #expect(table.remove(first) == "a")
        let second = table.insert("b")
        #expect(second.slot == first.slot)
        #expect(second.generation != first.generation)
        #expect(table[first] == nil)
        #expect(table.remove(first) == nil)
        #expect(table[second] == "b")
        #expect(table.count == 1)
        #expect(SlotHandle(rawValue: second.rawValue) == second)
    }

    @Test(arguments: 0..<20)
    func behavesLikeADictionaryUnderRandomOperations(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = SlotTable<Int>()
        var model: [SlotHandle: Int] = [:]
        var everIssued: [SlotHandle] = []
        for step in 0..<500 {
            if model.isEmpty || rng.chance(0.6) {
                let handle = table.insert(step)
                #expect(model[handle] == nil)
                model[handle] = step
                everIssued.append(handle)
            } else {
                let victim = everIssued[rng.index(below: everIssued.count)]
                #expect(table.remove(victim) == model.removeValue(forKey: victim))
            }
            #expect(table.count == model.count)
        }
        #expect(Set(table.handles) == Set(model.keys))
        for handle in everIssued { #expect(table[handle] == model[handle]) }
    }

    /// A large element with references and spare bits, like `Connection`.
    struct Bulky: Equatable {
        var name: String
        var bytes: [UInt8]
        var flag: Bool
        var extra: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
        static func == (a: Bulky, b: Bulky) -> Bool { a.name == b.name && a.bytes == b.bytes && a.flag == b.flag }
    }

    /// `forEachHandle` visits exactly the live handles, in slot order, after slots were freed and
    /// reused (it reads occupancy from its own array, not from the elements' Optionals).
    @Test(arguments: 0..<5)
    func forEachHandleVisitsTheLiveHandles(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = SlotTable<Bulky>()
        var issued: [SlotHandle] = []
        for step in 0..<300 {
            if issued.isEmpty || rng.chance(0.6) {
                issued.append(table.insert(Bulky(name: "e\(step)", bytes: [UInt8(step % 256)], flag: step % 3 == 0)))
            } else {
                table.remove(issued[rng.index(below: issued.count)])
            }
        }
        var visited: [SlotHandle] = []
        table.forEachHandle { visited.append($0) }
        #expect(visited == table.handles)
    }

    /// `SummarizedSlotTable` keeps each element's summary beside it: after any mix of inserts,
    /// modifications, replacements and removals (slots reused, handles gone stale) every summary it reports is the
    /// one a plain model of the elements expects, stale handles have none, and `forEachSummary`
    /// visits exactly the live elements in slot order.
    @Test(arguments: 0..<5)
    func summariesFollowTheirElements(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = SummarizedSlotTable<Bulky>()
        var model: [SlotHandle: Bulky.Summary] = [:]
        var issued: [SlotHandle] = []
        for step in 0..<400 {
            if issued.isEmpty || rng.chance(0.4) {
                let handle = table.insert(Bulky(name: "e\(step)", bytes: [], flag: step % 2 == 0))
                issued.append(handle)
                model[handle] = Bulky.Summary(count: 0, flag: step % 2 == 0)
            } else if rng.chance(0.5) {
                let handle = issued[rng.index(below: issued.count)]
                let changed: Void? = table.modify(handle) { element in
                    element.bytes.append(UInt8(step % 256))
                    element.flag.toggle()
                }
                #expect((changed != nil) == (model[handle] != nil))
                if let old = model[handle] { model[handle] = Bulky.Summary(count: old.count + 1, flag: !old.flag) }
            } else if rng.chance(0.3) {
                let handle = issued[rng.index(below: issued.count)]
                table[handle] = Bulky(name: "r\(step)", bytes: [1, 2, 3], flag: true)
                if model[handle] != nil { model[handle] = Bulky.Summary(count: 3, flag: true) }
            } else {
                let handle = issued[rng.index(below: issued.count)]
                #expect((table.remove(handle) != nil) == (model.removeValue(forKey: handle) != nil))
            }
        }
        for handle in issued {
            #expect(table.summary(of: handle) == model[handle], "summary of \(handle)")
            #expect(table.summary(of: handle) == table[handle]?.summary)
        }
        var visited: [Bulky.Summary] = []
        table.forEachSummary { visited.append($0) }
        #expect(visited == model.keys.sorted { $0.slot < $1.slot }.map { model[$0]! })
        #expect(table.count == model.count)
    }
}

extension SlotTableTests.Bulky: Summarized {
    struct Summary: Equatable { var count: Int; var flag: Bool }
    var summary: Summary { Summary(count: bytes.count, flag: flag) }
}

@Suite struct BackoffTests {
    @Test func doublesUpToTheCapAndResets() {
        var rng = SplitMix64(seed: 1)
        var backoff = Backoff(base: .milliseconds(500), max: .seconds(60))
        let delays = (0..<10).map { _ in backoff.nextDelay(using: &rng).nanoseconds / 1_000_000 }
        #expect(delays == [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
        backoff.reset()
        #expect(backoff.nextDelay(using: &rng) == .milliseconds(500))
    }

    @Test func jitterStaysWithinItsFraction() {
        var rng = SplitMix64(seed: 2)
        var backoff = Backoff(base: .seconds(1), max: .seconds(1), jitter: 0.25)
        var distinct = Set<UInt64>()
        for _ in 0..<1_000 {
            let delay = backoff.nextDelay(using: &rng)
            #expect(delay <= .seconds(1) && delay >= .milliseconds(750))
            distinct.insert(delay.nanoseconds)
        }
        #expect(distinct.count > 900)
    }
}

@Suite struct RateLimiterTests {
    @Test func burstThenRefillRate() {
        var bucket = TokenBucket(capacity: 5, refillPerSecond: 0.5, now: .zero)
        let burst = (0..<10).filter { _ in bucket.take(now: .zero) }.count
        #expect(burst == 5)
        let beforeRefill = bucket.take(now: Instant.zero + .milliseconds(1_900))
        let afterRefill = bucket.take(now: Instant.zero + .seconds(2))
        let again = bucket.take(now: Instant.zero + .seconds(2))
        #expect(!beforeRefill && afterRefill && !again)
    }

    @Test func aFloodFromOneSourceIsCappedAtTheRefillRate() {
        var limiter = RateLimiter<UInt32>(capacity: 5, refillPerSecond: 0.5, sourcesMax: 16)
        var allowed = 0
        // 10,000 requests per second for 60 seconds from one source.
        for tick in 0..<600_000 {
            if limiter.allow(7, now: Instant(nanoseconds: UInt64(tick) * 100_000)) { allowed += 1 }
        }
        #expect(allowed >= 5 + 29 && allowed <= 5 + 30)
    }

    @Test func spoofedSourcesCannotGrowMemoryAndOthersAreIndependent() {
        var limiter = RateLimiter<UInt32>(capacity: 5, refillPerSecond: 0.5, sourcesMax: 100)
        for source in 0..<10_000 as Range<UInt32> { _ = limiter.allow(source, now: .zero) }
        #expect(limiter.trackedSources == 100)
        // Once the tracked buckets have refilled, they are forgotten and new sources are served.
        let served = limiter.allow(50_000, now: Instant.zero + .seconds(10))
        #expect(served)
        #expect(limiter.trackedSources == 1)
    }
}

@Suite struct DeadlineQueueTests {
    @Test func popsInDeadlineOrderWithFIFOTies() {
        var queue = DeadlineQueue<String>()
        queue.schedule("late", at: Instant(nanoseconds: 30))
        queue.schedule("tie-first", at: Instant(nanoseconds: 10))
        queue.schedule("tie-second", at: Instant(nanoseconds: 10))
        queue.schedule("moved", at: Instant(nanoseconds: 1))
        queue.schedule("moved", at: Instant(nanoseconds: 20))
        queue.schedule("cancelled", at: Instant(nanoseconds: 5))
        queue.cancel("cancelled")
        #expect(queue.nextDeadline == Instant(nanoseconds: 10))
        #expect(queue.popDue(now: Instant(nanoseconds: 9)) == nil)
        var order: [String] = []
        while let key = queue.popDue(now: Instant(nanoseconds: 100)) { order.append(key) }
        #expect(order == ["tie-first", "tie-second", "moved", "late"])
        #expect(queue.isEmpty && queue.nextDeadline == nil)
    }

    @Test(arguments: 0..<10)
    func matchesASortedModelUnderRandomOperations(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var queue = DeadlineQueue<Int>()
        var model: [Int: UInt64] = [:]
        var now: UInt64 = 0
        for _ in 0..<2_000 {
            let key = rng.index(below: 200)
            switch rng.uniform(below: 4) {
            case 0, 1:
                let deadline = now + rng.uniform(below: 1_000)
                queue.schedule(key, at: Instant(nanoseconds: deadline))
                model[key] = deadline
            case 2:
                queue.cancel(key)
                model[key] = nil
            default:
                now += rng.uniform(below: 100)
                while let due = queue.popDue(now: Instant(nanoseconds: now)) {
                    let expected = model.filter { $0.value <= now }.min { $0.value < $1.value }
                    #expect(model[due] == expected?.value)
                    model[due] = nil
                }
                #expect(model.values.allSatisfy { $0 > now })
            }
            #expect(queue.count == model.count)
            #expect(queue.nextDeadline?.nanoseconds == model.values.min())
        }
    }

    /// A slot-like key: slot and generation; the slot is its dense index (nil for "other" keys).
    struct SlotKey: Hashable, DenselyIndexed {
        var slot: Int
        var generation: Int
        var isDense: Bool
        var denseIndex: Int? { isDense ? slot : nil }
    }

    /// The same key, hashed only.
    struct HashedKey: Hashable {
        var key: SlotKey
    }

    /// Dense storage must not change behaviour: a queue of densely indexed keys (several
    /// generations sharing an index included) pops exactly what a purely hashed queue pops.
    @Test(arguments: 0..<40)
    func denseKeysBehaveLikeHashedKeys(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var dense = DeadlineQueue<SlotKey>()
        var hashed = DeadlineQueue<HashedKey>()
        var now: UInt64 = 0
        for _ in 0..<3_000 {
            let key = SlotKey(slot: rng.index(below: 12), generation: rng.index(below: 3), isDense: !rng.chance(0.2))
            switch rng.uniform(below: 5) {
            case 0, 1:
                let deadline = Instant(nanoseconds: now + rng.uniform(below: 500))
                dense.schedule(key, at: deadline)
                hashed.schedule(HashedKey(key: key), at: deadline)
            case 2:
                dense.cancel(key)
                hashed.cancel(HashedKey(key: key))
            default:
                now += rng.uniform(below: 60)
                while true {
                    let popped = dense.popDue(now: Instant(nanoseconds: now))
                    #expect(popped == hashed.popDue(now: Instant(nanoseconds: now))?.key)
                    if popped == nil { break }
                }
            }
            #expect(dense.count == hashed.count)
            #expect(dense.deadline(of: key) == hashed.deadline(of: HashedKey(key: key)))
            #expect(dense.nextDeadline == hashed.nextDeadline)
        }
    }
}
