#if canImport(Glibc)
import Glibc
#endif
import KaryonsSimulation
import Testing
@testable import KaryonsLoopback

/// Changes the process's descriptor limit, so each test runs in a child process of its own (a Swift
/// Testing exit test) where no other test can see the lowered limit.
@Suite struct DescriptorLimitProcessTests {
    /// A loopback run raises a lowered soft limit back to the hard limit and budgets against that:
    /// 30 nodes (2,010 descriptors at worst) fit although the soft limit started at 1,000.
    @Test func aRunRaisesTheSoftLimitToTheHardLimitAndBudgetsAgainstIt() async {
        await #expect(processExitsWith: .success) {
            var limit = rlimit()
            guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_max > 2_100 else { exit(2) }
            let hard = Int(limit.rlim_max)
            limit.rlim_cur = 1_000
            guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { exit(3) }
            var options = LoopbackOptions()
            options.simulation.nodes = 30
            guard let run = try? LoopbackRun(options: options) else { exit(4) }
            guard run.plan.budget.limit == hard, run.plan.budget.required == 30 * 67 else { exit(5) }
            guard let soft = try? ProcessDescriptors.limits().soft, soft == hard else { exit(6) }
        }
    }
}
