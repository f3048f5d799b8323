/// Heap allocations per steady-state round trip of a ping-pong implementation.
///
/// Differential: two runs of `shortRoundTrips` and `longRoundTrips` round trips, each with the
/// process's allocations counted from setup to teardown (every thread); setup and teardown cost the
/// same in both, so the difference divided by the difference in round trips is what the steady
/// state allocates. Needs the preloaded interposer (`AllocationCounter`).
public enum AllocationProbe {
    /// One measurement.
    public struct Measurement: Sendable {
        /// Allocations of the short and the long run.
        public var shortRunAllocations: Int64
        public var longRunAllocations: Int64
        /// Round trips of the two runs.
        public var shortRoundTrips: Int
        public var longRoundTrips: Int

        /// Allocations per round trip in the steady state (clamped at 0).
        public var perRoundTrip: Double {
            max(0, Double(longRunAllocations - shortRunAllocations) / Double(longRoundTrips - shortRoundTrips))
        }
    }

    /// Measures `implementation` on `workload`; nil without the interposer.
    public static func measure(
        _ implementation: any PingPongImplementation, workload: PingPongWorkload, pinning: CPUPinning,
        shortRoundTrips: Int, longRoundTrips: Int
    ) throws(PingPongError) -> Measurement? {
        precondition(longRoundTrips > shortRoundTrips, "BUG in Karyons benchmarks: allocation probe run lengths")
        func counted(_ roundTrips: Int) throws(PingPongError) -> Int64? {
            let run = PingPongRun(workload: workload, stop: .roundTrips(roundTrips), pinning: pinning)
            return try AllocationCounter.counting { () throws(PingPongError) in try implementation.run(run) }.allocations
        }
        // One uncounted run first, so that lazily created process-wide state is already there.
        _ = try implementation.run(PingPongRun(workload: workload, stop: .roundTrips(shortRoundTrips), pinning: pinning))
        guard let short = try counted(shortRoundTrips), let long = try counted(longRoundTrips) else { return nil }
        return Measurement(shortRunAllocations: short, longRunAllocations: long,
                           shortRoundTrips: shortRoundTrips, longRoundTrips: longRoundTrips)
    }
}
