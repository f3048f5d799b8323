import KaryonsCore

extension SocketAddress {
    /// The socket address of an endpoint (its transport is the caller's business).
    init(_ endpoint: Endpoint) {
        let bytes = endpoint.address.bytes
        guard let address = SocketAddress(addressBytes: bytes, port: endpoint.port) else {
            preconditionFailure("BUG in Karyons: an IPAddress has 4 or 16 bytes, not \(bytes.count)")
        }
        self = address
    }

    /// The address as KaryonsCore sees it (IPv4-mapped IPv6 addresses unmapped).
    var ipAddress: IPAddress {
        guard let address = IPAddress(bytes: addressBytes) else {
            preconditionFailure("BUG in Karyons: a socket address has 4 or 16 address bytes")
        }
        return address.unmapped
    }

    /// This address as an endpoint of `transport`.
    func endpoint(_ transport: Endpoint.Transport) -> Endpoint {
        Endpoint(transport, address: ipAddress, port: port)
    }
}
