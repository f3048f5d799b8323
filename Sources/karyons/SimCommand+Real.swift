import ArgumentParser
import KaryonsCore
import KaryonsLoopback
import KaryonsSimulation

/// `karyons sim --real`: the scenario on real loopback sockets (KaryonsLoopback).
extension SimCommand {
    /// Options only the virtual network honours, named when given with --real.
    var virtualOnlyOptionsGiven: [String] {
        var given: [String] = []
        if loss != nil { given.append("--loss") }
        if latency != nil { given.append("--latency") }
        if jitter != nil { given.append("--jitter") }
        if duplication != nil { given.append("--duplication") }
        if reordering != nil { given.append("--reordering") }
        if churn != nil { given.append("--churn") }
        if !partition.isEmpty { given.append("--partition") }
        if addresses != nil { given.append("--addresses") }
        if hostsPerSubnet != nil { given.append("--hosts-per-subnet") }
        if noInvariants { given.append("--no-invariants") }
        if inlineInvariants { given.append("--inline-invariants") }
        if !traceHost.isEmpty { given.append("--trace-host") }
        return given
    }

    func validateReal() throws {
        let given = virtualOnlyOptionsGiven
        guard given.isEmpty else {
            throw ValidationError(
                "\(given.joined(separator: ", ")) cannot be honoured with --real: real loopback sockets have the kernel's "
                    + "latency and no injected loss, duplication, reordering, partitions or churn; only 127.x.y.z addresses "
                    + "are local; invariants are checked at every sample; --trace-host inspects a virtual run")
        }
        if let lookupSlots, lookupSlots < 1 { throw ValidationError("--lookup-slots must be at least 1") }
        _ = try makeLoopbackOptions()
    }

    func makeLoopbackOptions() throws -> LoopbackOptions {
        var options = LoopbackOptions(simulation: try makeOptions())
        if let firstAddress {
            guard let address = IPAddress(firstAddress) else { throw ValidationError("--first-address '\(firstAddress)' is not an IP address") }
            options.firstAddress = address
        }
        options.lookupSlots = lookupSlots
        return options
    }

    func runReal() throws {
        let options = try makeLoopbackOptions()
        CrashMessage.install("karyons sim --real crashed; run again with:\n  \(options.commandLine)")
        let loopback: LoopbackRun
        do {
            loopback = try LoopbackRun(options: options)
        } catch {
            throw ValidationError("\(error)")
        }
        if !quiet { SystemResources.printError("sim --real: \(loopback.plan.budget.summary)") }
        if trace {
            loopback.onNodeEvent = { host, event in SystemResources.printError("host \(host): \(event)") }
        }
        let started = SystemResources.monotonicSeconds()
        var lastProgress = started
        loopback.onProgress = { progress in
            let now = SystemResources.monotonicSeconds()
            guard !quiet, now - lastProgress >= 2 else { return }
            lastProgress = now
            SystemResources.printError(Self.describe(progress, nodes: loopback.plan.hosts.count))
        }
        let report: LoopbackReport
        do {
            report = try loopback.run()
        } catch {
            SystemResources.printError("karyons sim --real: \(error)")
            throw ExitCode(1)
        }
        let resources = SimulationReport.Resources(
            wallSeconds: SystemResources.monotonicSeconds() - started, maxResidentBytes: SystemResources.maxResidentBytes())
        if json {
            print(report.json(resources: resources).serialized())
        } else {
            print(report.summary(resources: resources), terminator: "")
        }
        if let plot { try SystemResources.write(report.svgChart(), to: plot) }
        // Nothing else in this process opens descriptors, so the peak is the nodes' own.
        guard report.passed && report.descriptorsWithinBudget else { throw ExitCode(1) }
    }

    private static func describe(_ progress: LoopbackProgress, nodes: Int) -> String {
        let sample = progress.sample
        let done = progress.duration.nanoseconds == 0 ? 100 : Int(100 * progress.elapsed.nanoseconds / progress.duration.nanoseconds)
        return "sim --real: \(ReportFormat.fixed(progress.elapsed.seconds, 1)) s of "
            + "\(SimulationOptions.format(progress.duration)) (\(done)%), \(sample.nodesUp)/\(nodes) nodes up, "
            + "\(sample.components) components, \(ReportFormat.fixed(sample.verifiedEntriesMean, 1)) verified entries/node, "
            + "outbound slots \(ReportFormat.percent(sample.outboundSlotFillMean)), "
            + "\(progress.descriptorsOpen.map(ReportFormat.grouped) ?? "?") descriptors open"
    }
}
