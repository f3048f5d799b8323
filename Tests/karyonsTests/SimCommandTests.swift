import KaryonsCore
import KaryonsSimulation
import Testing

@testable import karyons

/// `karyons sim`'s options: what each becomes in `SimulationOptions`, and the combinations refused
/// before anything runs, each with its reason.
@Suite struct SimCommandTests {
    /// The message a refused command line gives (nil if it parses and validates).
    private func refusal(_ arguments: [String]) -> String? {
        do {
            _ = try SimCommand.parse(arguments)
            return nil
        } catch {
            return SimCommand.message(for: error)
        }
    }

    @Test func theDefaultsAreTheDocumentedOnes() throws {
        let options = try SimCommand.parse([]).makeOptions()
        #expect(options.nodes == SimulationOptions().nodes)
        #expect(options.seed == 1)
        #expect(options.duration == .seconds(600))
        #expect(options.latency == .milliseconds(20)...Duration.milliseconds(80))
        #expect(options.jitter == .milliseconds(5))
        #expect(options.loss == 0 && options.churn == 0 && options.partitions.isEmpty)
        #expect(options.sampleInterval == .seconds(10))
        #expect(options.checksInvariants)
    }

    @Test func optionsBecomeTheScenario() throws {
        let command = try SimCommand.parse([
            "--nodes", "40", "--seed", "7", "--duration", "1h30m", "--loss", "5%", "--latency", "50ms",
            "--churn", "0.1", "--partition", "50%@2m..5m", "--seeds", "3", "--sample", "30s", "--inline-invariants",
        ])
        let options = try command.makeOptions()
        #expect(options.nodes == 40)
        #expect(options.seed == 7)
        #expect(options.duration == .seconds(5400))
        #expect(options.loss == 0.05)
        #expect(options.latency == .milliseconds(50)...Duration.milliseconds(50))
        #expect(options.churn == 0.1)
        #expect(options.partitions.count == 1)
        #expect(options.seedNodes == 3)
        #expect(options.sampleInterval == .seconds(30))
        #expect(options.checksInvariants && !options.checksConcurrently)
        #expect(try SimCommand.parse(["--no-invariants"]).makeOptions().checksInvariants == false)
    }

    /// Options that only mean something on the virtual network are refused with --real, and the
    /// refusal names them: none is silently ignored.
    @Test(arguments: [
        ["--loss", "1%"], ["--latency", "10ms"], ["--jitter", "1ms"], ["--duplication", "1%"], ["--reordering", "1%"],
        ["--churn", "0.1"], ["--partition", "50%@1m..2m"], ["--addresses", "public"], ["--no-invariants"],
        ["--inline-invariants"], ["--trace-host", "3"],
    ])
    func virtualOnlyOptionsAreRefusedWithReal(option: [String]) throws {
        let message = try #require(refusal(["--real", "--nodes", "4"] + option))
        #expect(message.contains(option[0]), "\(message)")
        #expect(message.contains("cannot be honoured with --real"), "\(message)")
    }

    @Test(arguments: [["--lookup-slots", "4"], ["--first-address", "127.0.0.9"]])
    func realOnlyOptionsAreRefusedWithoutReal(option: [String]) throws {
        let message = try #require(refusal(option))
        #expect(message.contains("need --real"), "\(message)")
    }

    /// `--until-converged` ends a virtual run at its convergence, and a real run at its own; the
    /// command line that replays a real run names it once.
    @Test func untilConvergedStopsVirtualAndRealRuns() throws {
        #expect(try SimCommand.parse(["--until-converged"]).makeOptions().stopsWhenConverged)
        let real = try SimCommand.parse(["--real", "--nodes", "4", "--until-converged"]).makeLoopbackOptions()
        #expect(real.stopsWhenConverged)
        #expect(real.commandLine.split(separator: " ").filter { $0 == "--until-converged" }.count == 1)
    }

    @Test(arguments: [
        (["--nodes", "0"], "--nodes must be in"),
        (["--preset", "seed12", "--nodes", "40"], "--preset seed12 runs 12 nodes"),
        (["--preset", "mesh"], "unknown preset 'mesh'"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--sample", "10ms"], "--sample must be at least 100ms"),
        (["--addresses", "mars"], "--addresses must be loopback or public"),
        (["--addresses", "public", "--hosts-per-subnet", "300"], "--hosts-per-subnet must be in 1...254"),
        (["--real", "--lookup-slots", "0"], "--lookup-slots must be at least 1"),
        (["--real", "--first-address", "localhost"], "is not an IP address"),
    ])
    func badValuesAreRefusedWithTheirReason(arguments: [String], reason: String) throws {
        let message = try #require(refusal(arguments))
        #expect(message.contains(reason), "\(message)")
    }

    @Test(arguments: [
        ("--duration", "bad duration 'soon'"), ("--loss", "bad probability 'soon'"), ("--latency", "bad duration 'soon'"),
        ("--partition", "bad partition 'soon'"),
    ])
    func unparsableValuesAreRefusedQuotingThem(option: String, reason: String) throws {
        let message = try #require(refusal([option, "soon"]))
        #expect(message.contains(reason), "\(message)")
        #expect(message.contains("expected e.g."), "the refusal shows a valid value: \(message)")
    }
}
