import KaryonsCore

// Node lifecycle on a host: start, graceful leave, crash, restart; and random churn.

extension VirtualNetwork {
    func performControl(_ control: ControlAction, on host: Int) {
        precondition(host < hosts.count, "BUG in Karyons: no simulated host \(host)")
        switch control {
        case .start:
            guard !hosts[host].isRunning else { return }
            boot(host, freshIdentity: false)
        case .leave:
            guard hosts[host].isRunning, !hosts[host].isStopping else { return }
            counters.leaves += 1
            hosts[host].isStopping = true
            let now = self.now
            step(host) { $0.handle(.command(.shutdown), now: now) }
        case .crash:
            guard hosts[host].isRunning else { return }
            counters.crashes += 1
            takeDown(host, graceful: false)
        case .restartSame, .restartFresh:
            if hosts[host].isRunning {
                counters.crashes += 1
                takeDown(host, graceful: false)
            }
            counters.restarts += 1
            boot(host, freshIdentity: control == .restartFresh)
        }
    }

    /// Builds the host's node with the factory and sends it `.start`.
    private func boot(_ host: Int, freshIdentity: Bool) {
        if freshIdentity { hosts[host].identity += 1 }
        let boot = NodeBoot(
            host: host, address: .v4(hosts[host].address), incarnation: Int(hosts[host].incarnation),
            identity: Int(hosts[host].identity), now: now)
        let node = makeNode(boot)
        hosts[host].connectionLimits = node.connectionLimits
        checker?.awaitChecks(of: host)
        nodes[host] = node
        hosts[host].isRunning = true
        hosts[host].bootedAt = now
        hosts[host].isStopping = false
        hosts[host].timerAt = nil
        hosts[host].nodeDeadline = nil
        counters.starts += 1
        let now = self.now
        step(host) { $0.handle(.command(.start), now: now) }
    }

    /// The node said `.stopped`: it closed every connection; the host goes down.
    func nodeStopped(_ host: Int) {
        takeDown(host, graceful: true)
    }

    /// Drops the host's node: its connections are reset (after a graceful stop none should be
    /// left: each one left is a violation), its sockets closed, its late events made stale.
    private func takeDown(_ host: Int, graceful: Bool) {
        checker?.awaitChecks(of: host)
        if let node = nodes[host] { onNodeRetiring?(host, node) }
        let bindings = endBindings[host]
        endBindings[host].removeAll(keepingCapacity: true)
        for binding in bindings where binding.isBound {
            if graceful {
                recordViolation("stopped with connection slot \(binding.connection.slot) still open", host: host)
            }
            abandonEnd(binding.connection, end: Int(binding.end))
        }
        closeSockets(host)
        nodes[host] = nil
        hosts[host].isRunning = false
        hosts[host].incarnation += 1
        hosts[host].timerAt = nil
        hosts[host].nodeDeadline = nil
        hosts[host].isStopping = false
    }

    /// One step of random churn: a random eligible host that runs goes down (gracefully or by
    /// crashing) and is scheduled to restart; then the next tick is drawn so that on average
    /// `rate` of the eligible hosts go down per virtual minute.
    func churnTick() {
        guard let churn = configuration.churn, churn.rate > 0 else { return }
        let eligible = hosts.count - churn.protectedHosts
        guard eligible > 0 else { return }
        let host = churn.protectedHosts + rng.index(below: eligible)
        if hosts[host].isRunning && !hosts[host].isStopping {
            performControl(rng.chance(churn.gracefulShare) ? .leave : .crash, on: host)
            let downtime = rng.duration(in: churn.downtime)
            restart(host, at: now + downtime, freshIdentity: rng.chance(churn.freshIdentityShare))
        }
        let meanInterval = 60 / (churn.rate * Double(eligible))
        let interval = rng.duration(in: .zero...Duration(seconds: 2 * meanInterval))
        schedule(.churnTick, at: now + interval)
    }
}
