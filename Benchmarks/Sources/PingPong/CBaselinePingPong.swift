import CBaselines

/// The raw C baselines (Sources/CBaselines): epoll on two pinned pthreads, no Swift in the loop.
public struct CBaselinePingPong: PingPongImplementation {
    public let name = "C"

    public init() {}

    public func supports(_ workload: PingPongWorkload) -> Bool {
        guard (4...Int(CBASELINE_PAYLOAD_SIZE_MAX)).contains(workload.payloadSize) else { return false }
        switch workload.transport {
        case .udp(let window, let batchMax):
            return (1...Int(CBASELINE_WINDOW_MAX)).contains(window) && (1...Int(CBASELINE_BATCH_MAX)).contains(batchMax)
        case .tcp(let connections):
            return (1...Int(CBASELINE_CONNECTIONS_MAX)).contains(connections)
        }
    }

    public func run(_ run: PingPongRun) throws(PingPongError) -> PingPongResult {
        guard supports(run.workload) else {
            throw .unsupported(implementation: name, workload: run.workload.name)
        }
        var parameters = Self.parameters(for: run)
        var result = cbaseline_result()
        let code: Int32
        switch run.workload.transport {
        case .udp: code = cbaseline_udp_ping_pong(&parameters, &result)
        case .tcp: code = cbaseline_tcp_ping_pong(&parameters, &result)
        }
        guard code == 0 else {
            throw .failed(implementation: name, reason: Self.message(of: &result))
        }
        return PingPongResult(
            roundTrips: result.round_trips,
            elapsedNanoseconds: result.elapsed_ns,
            recoveries: result.recoveries
        )
    }

    static func parameters(for run: PingPongRun) -> cbaseline_params {
        var parameters = cbaseline_params()
        parameters.payload_size = UInt32(run.workload.payloadSize)
        switch run.workload.transport {
        case .udp(let window, let batchMax):
            parameters.window = UInt32(window)
            parameters.batch_max = UInt32(batchMax)
        case .tcp(let connections):
            parameters.connections = UInt32(connections)
        }
        switch run.stop {
        case .roundTrips(let count): parameters.round_trips_max = UInt64(max(count, 0))
        case .duration(let seconds): parameters.duration_ns = Self.nanoseconds(seconds)
        }
        parameters.give_up_ns = Self.nanoseconds(run.giveUpSeconds)
        parameters.client_cpu = Int32(run.pinning.clientCPU ?? -1)
        parameters.server_cpu = Int32(run.pinning.serverCPU ?? -1)
        return parameters
    }

    static func nanoseconds(_ seconds: Double) -> UInt64 {
        seconds > 0 ? UInt64(min(seconds, 1e9) * 1e9) : 0
    }

    static func message(of result: inout cbaseline_result) -> String {
        withUnsafeBytes(of: &result.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// The machine's CPUs as this process sees them.
public enum MachineCPUs {
    /// The `index`-th CPU this process may run on, nil if it may run on fewer.
    public static func allowed(_ index: Int) -> Int? {
        let cpu = cbaseline_allowed_cpu(UInt32(index))
        return cpu < 0 ? nil : Int(cpu)
    }

    /// Client and server on the first two allowed CPUs; unpinned if there is only one.
    public static var split: CPUPinning {
        guard let first = allowed(0), let second = allowed(1) else { return .none }
        return CPUPinning(clientCPU: first, serverCPU: second)
    }

    /// Client and server on the first allowed CPU (no cross-CPU wake-ups).
    public static var shared: CPUPinning {
        guard let first = allowed(0) else { return .none }
        return CPUPinning(clientCPU: first, serverCPU: first)
    }

    /// Pins the calling thread to `cpu`; nil means leave it. Returns an errno value on failure.
    public static func pinCurrentThread(to cpu: Int?) -> Int32 {
        guard let cpu else { return 0 }
        return cbaseline_pin_current_thread(Int32(cpu))
    }
}
