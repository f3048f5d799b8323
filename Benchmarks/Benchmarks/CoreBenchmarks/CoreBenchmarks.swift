import Benchmark
import KaryonsCore
import RoutingWorkloads

// KaryonsCore primitives on the routing-table workload inputs. Each measured iteration runs a
// million operations (`scalingFactor: .mega`), so figures read per operation. Every benchmark
// also reports mallocs: the primitives must not allocate (STYLE.md C14).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .mega,
        maxDuration: Swift.Duration.milliseconds(500),
        maxIterations: 50
    )
    registerPeerIDBenchmarks()
    registerRandomBenchmarks()
}

/// XOR distance, comparisons and the routing table's bucket index (W1/W1b's arithmetic).
func registerPeerIDBenchmarks() {
    let uniform = BucketIndexWorkload.w1.pool()
    let mixed = BucketIndexWorkload.w1b.pool()
    let local = WorkloadKeys.local
    let mask = BucketIndexWorkload.poolMask

    Benchmark("PeerID.distance(to:) uniform") { benchmark in
        var accumulator = 0
        for index in benchmark.scaledIterations {
            accumulator &+= local.distance(to: uniform[index & mask]).leadingZeroBitCount
        }
        blackHole(accumulator)
    }

    // bucket_index = 31 - first differing byte, 1000 when the key is the local key (W1's loop body).
    for (name, pool) in [("W1 uniform", uniform), ("W1b kmix32", mixed)] {
        Benchmark("bucket index via Distance, \(name)") { benchmark in
            var accumulator = 0
            for index in benchmark.scaledIterations {
                let firstDifference = local.distance(to: pool[index & mask]).firstNonZeroByteIndex
                accumulator &+= firstDifference.map { 31 - $0 } ?? BucketIndexWorkload.missingIndexValue
            }
            blackHole(accumulator)
        }
    }

    Benchmark("PeerID < (neighbours in the pool)") { benchmark in
        var count = 0
        for index in benchmark.scaledIterations where uniform[index & mask] < uniform[(index + 1) & mask] {
            count += 1
        }
        blackHole(count)
    }

    Benchmark("Distance < to a target, kmix32 (closest's sort key)") { benchmark in
        let target = mixed[0]
        var count = 0
        for index in benchmark.scaledIterations {
            let lhs = target.distance(to: mixed[index & mask])
            let rhs = target.distance(to: mixed[(index + 1) & mask])
            if lhs < rhs { count += 1 }
        }
        blackHole(count)
    }
}

/// The core's RNG, and workload key generation built on it.
func registerRandomBenchmarks() {
    Benchmark("SplitMix64.next()") { benchmark in
        var generator = SplitMix64(seed: 0xB1DE)
        var accumulator: UInt64 = 0
        for _ in benchmark.scaledIterations { accumulator ^= generator.next() }
        blackHole(accumulator)
    }

    Benchmark("SplitMix64.uniform(below: 20)") { benchmark in
        var generator = SplitMix64(seed: 0xB1DE)
        var accumulator: UInt64 = 0
        for _ in benchmark.scaledIterations { accumulator &+= generator.uniform(below: 20) }
        blackHole(accumulator)
    }

    Benchmark("SplitMix64.shuffle of 32 bucket indexes", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var generator = SplitMix64(seed: 0xB1DE)
        var order = Array(0..<32)
        for _ in benchmark.scaledIterations {
            generator.shuffle(&order)
            blackHole(order[0])
        }
    }

    Benchmark("WorkloadKeys.nextKey, kmix32 (W2m32 stream)") { benchmark in
        var generator = SplitMix64(seed: AddEntryWorkload.entrySeed)
        var accumulator: UInt64 = 0
        for _ in benchmark.scaledIterations {
            accumulator ^= WorkloadKeys.nextKey(&generator, rule: .mixed(32)).word(3)
        }
        blackHole(accumulator)
    }
}
