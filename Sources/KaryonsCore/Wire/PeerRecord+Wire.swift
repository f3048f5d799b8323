/// The wire form of a `PeerRecord`:
/// `peerID[32] · u8 family (4|6) · address (4|16 bytes) · u16 port · u16 discoveryPort`.
/// The ID must not be all zero. Ports are taken as given (0 = not listening).
extension PeerRecord {
    /// Bytes of an IPv4 record on the wire.
    public static let encodedSizeV4 = PeerID.byteCount + 1 + 4 + 2 + 2
    /// Bytes of an IPv6 record on the wire.
    public static let encodedSizeV6 = PeerID.byteCount + 1 + 16 + 2 + 2

    /// Bytes of this record on the wire.
    public var encodedSize: Int { address.family == 4 ? Self.encodedSizeV4 : Self.encodedSizeV6 }

    /// Reads a record, rejecting a zero ID and an unknown address family.
    public init(reading reader: inout ByteReader) throws(WireError) {
        let id = try reader.readNodeID()
        let address: IPAddress
        switch try reader.readUInt8() {
        case 4: address = .v4(try reader.readUInt32())
        case 6: address = .v6(high: try reader.readUInt64(), low: try reader.readUInt64())
        case let family: throw .invalidAddressFamily(family)
        }
        self.init(id: id, address: address, port: try reader.readUInt16(), discoveryPort: try reader.readUInt16())
    }

    /// Writes the record. A zero ID is a programmer error (decoders never produce one).
    public func encode(into writer: inout ByteWriter) {
        precondition(id != .zero, "BUG in Karyons: encoding a PeerRecord with the zero ID")
        writer.writeFixed(encodedSize) { raw in
            for word in 0..<4 { raw.storeBytes(of: id.word(word).bigEndian, toByteOffset: 8 * word, as: UInt64.self) }
            raw.storeBytes(of: address.family, toByteOffset: PeerID.byteCount, as: UInt8.self)
            var offset = PeerID.byteCount + 1
            switch address {
            case .v4(let value):
                raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
                offset += 4
            case .v6(let high, let low):
                raw.storeBytes(of: high.bigEndian, toByteOffset: offset, as: UInt64.self)
                raw.storeBytes(of: low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
                offset += 16
            }
            raw.storeBytes(of: port.bigEndian, toByteOffset: offset, as: UInt16.self)
            raw.storeBytes(of: discoveryPort.bigEndian, toByteOffset: offset + 2, as: UInt16.self)
        }
    }
}
