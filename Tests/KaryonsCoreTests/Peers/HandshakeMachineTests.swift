import Testing

@testable import KaryonsCore

/// The handshake, one message at a time, on both sides (DESIGN.md "Handshake"; RELIABILITY.md 12-20).
@Suite struct HandshakeMachineTests {
    typealias F = PeerFixtures
    let timeout = Duration.seconds(2)

    /// What a side sends after `action`: its accepting Verack (`accept`), or its refusal.
    func reply(to action: HandshakeAction, by machine: inout HandshakeMachine) -> PeerMessage? {
        switch action {
        case .completed(let result): return machine.accept(result)
        case .fail(_, let message): return message
        case .wait, .send, .confirmed: return nil
        }
    }

    /// Plays a handshake between a dialler and a listener up to the dialler's verdict: Version, then
    /// the listener's answer. Returns each side's last action.
    func handshake(
        dialler: HandshakeIdentity,
        listener: HandshakeIdentity,
        expected: PeerID? = nil
    ) -> (dialler: HandshakeAction, listener: HandshakeAction) {
        var outbound = HandshakeMachine(dialling: expected, identity: dialler, timeout: timeout)
        var inbound = HandshakeMachine(listeningAt: F.t(0), identity: listener, timeout: timeout)
        guard case .send(let version) = outbound.start(now: F.t(0)) else {
            Issue.record("the dialler must start by sending Version")
            return (.wait, .wait)
        }
        let listenerAction = inbound.received(version)
        guard let answer = reply(to: listenerAction, by: &inbound) else {
            Issue.record("the listener must answer a Version: \(listenerAction)")
            return (.wait, listenerAction)
        }
        return (outbound.received(answer), listenerAction)
    }

    /// Plays the whole three-message handshake: Version, the listener's Verack, the dialler's
    /// confirming Verack (or Shutdown). Returns the dialler's verdict on the Verack, the listener's
    /// last action (`.confirmed` when both sides agreed) and the dialler's reply.
    func fullHandshake(
        dialler: HandshakeIdentity,
        listener: HandshakeIdentity
    ) -> (dialler: HandshakeAction, listener: HandshakeAction, confirmation: PeerMessage?) {
        var outbound = HandshakeMachine(dialling: nil, identity: dialler, timeout: timeout)
        var inbound = HandshakeMachine(listeningAt: F.t(0), identity: listener, timeout: timeout)
        guard case .send(let version) = outbound.start(now: F.t(0)),
            case .completed(let accepted) = inbound.received(version)
        else {
            Issue.record("the listener must accept the Version")
            return (.wait, .wait, nil)
        }
        let diallerAction = outbound.received(inbound.accept(accepted))
        guard let confirmation = reply(to: diallerAction, by: &outbound) else {
            Issue.record("the dialler must answer a Verack: \(diallerAction)")
            return (diallerAction, .wait, nil)
        }
        #expect(inbound.isAwaitingConfirmation)
        return (diallerAction, inbound.received(confirmation), confirmation)
    }

    // MARK: Acceptance

    @Test func bothSidesCompleteWithTheSameNegotiatedProtocols() {
        let dialler = F.identity(F.small, protocols: [F.chat, F.files])
        let listener = F.identity(F.large, protocols: [F.chat])
        let (outbound, inbound) = handshake(dialler: dialler, listener: listener)
        #expect(
            inbound
                == .completed(HandshakeResult(peerID: F.small, version: Version(0, 1, 0), protocols: [.ping, "CHAT"]))
        )
        #expect(
            outbound
                == .completed(HandshakeResult(peerID: F.large, version: Version(0, 1, 0), protocols: [.ping, "CHAT"]))
        )
    }

    @Test func diallerSendsVersionWithEveryProtocolAndTheListenerAnswersVerackWithItsOwnID() {
        let dialler = F.identity(F.small, protocols: [F.chat])
        var outbound = HandshakeMachine(dialling: nil, identity: dialler, timeout: timeout)
        #expect(outbound.deadline == nil)
        let start = outbound.start(now: F.t(1))
        #expect(
            start
                == .send(
                    .version(
                        VersionMessage(
                            peerID: F.small,
                            version: Version(0, 1, 0),
                            protocols: [
                                ProtocolOffer(id: .ping, version: Version(0, 1, 0)),
                                ProtocolOffer(id: "CHAT", version: Version(0, 1, 0)),
                            ]
                        )
                    )
                )
        )
        #expect(outbound.deadline == F.t(3))

        var inbound = HandshakeMachine(listeningAt: F.t(1), identity: F.identity(F.large), timeout: timeout)
        guard case .send(let version) = start, case .completed(let result) = inbound.received(version) else {
            Issue.record("the listener must accept")
            return
        }
        #expect(inbound.accept(result) == F.accepted(by: F.large, [.ping]))
        #expect(inbound.isAwaitingConfirmation && !inbound.isFinished)
    }

    @Test func protocolIntersectionIsTheSameWhoeverDials() {
        // RELIABILITY.md 20: A runs {P, Q}, B runs {P}; neither may run Q.
        let p = ProtocolSpec(id: "P", version: F.v010)
        let q = ProtocolSpec(id: "Q", version: F.v010)
        let a = F.identity(F.small, protocols: [p, q])
        let b = F.identity(F.large, protocols: [p])
        for (dialler, listener) in [(a, b), (b, a)] {
            let (outbound, inbound) = handshake(dialler: dialler, listener: listener)
            guard case .completed(let outResult) = outbound, case .completed(let inResult) = inbound else {
                Issue.record("both sides must complete: \(outbound) / \(inbound)")
                continue
            }
            #expect(outResult.protocols == [.ping, "P"])
            #expect(inResult.protocols == [.ping, "P"])
        }
    }

    @Test func protocolWhoseVersionTheListenerDoesNotAcceptIsLeftOut() {
        let oldChat = ProtocolSpec(id: "CHAT", version: F.v010)
        let newChat = ProtocolSpec(id: "CHAT", version: ProtocolVersion(Version(0, 2, 0)))
        let (outbound, inbound) = handshake(
            dialler: F.identity(F.small, protocols: [oldChat]),
            listener: F.identity(F.large, protocols: [newChat])
        )
        #expect(inbound == .completed(HandshakeResult(peerID: F.small, version: Version(0, 1, 0), protocols: [.ping])))
        #expect(outbound == .completed(HandshakeResult(peerID: F.large, version: Version(0, 1, 0), protocols: [.ping])))
    }

    // MARK: Symmetric protocol checks (Verack carries the listener's versions)

    /// The listener accepts the dialler's CHAT 0.2.0, but the dialler requires CHAT ≥ 0.2.0 and the
    /// listener speaks 0.1.0: the dialler drops CHAT, confirms PING only, and the listener ends with
    /// the same set.
    @Test func diallerDropsAProtocolWhoseListenerVersionItRejectsAndBothSidesAgree() throws {
        let newChat = ProtocolSpec(id: "CHAT", version: try ProtocolVersion(parsing: "0.2.0, >=0.2.0"))
        let oldChat = ProtocolSpec(id: "CHAT", version: try ProtocolVersion(parsing: "0.1.0, >=0.1.0"))
        let (outbound, inbound, confirmation) = fullHandshake(
            dialler: F.identity(F.small, protocols: [newChat]),
            listener: F.identity(F.large, protocols: [oldChat])
        )
        #expect(outbound == .completed(HandshakeResult(peerID: F.large, version: Version(0, 1, 0), protocols: [.ping])))
        #expect(inbound == .confirmed(HandshakeResult(peerID: F.small, version: Version(0, 1, 0), protocols: [.ping])))
        #expect(confirmation == F.accepted(by: F.small, [.ping]))
    }

    /// The same mismatch on a protocol the dialler marks mandatory: it refuses with Shutdown, and the
    /// listener's handshake fails with that reason.
    @Test func diallerRefusesWhenItsMandatoryProtocolVersionIsRejected() throws {
        let newChat = ProtocolSpec(
            id: "CHAT", version: try ProtocolVersion(parsing: "0.2.0, >=0.2.0"), isMandatory: true)
        let oldChat = ProtocolSpec(id: "CHAT", version: try ProtocolVersion(parsing: "0.1.0, >=0.1.0"))
        let (outbound, inbound, confirmation) = fullHandshake(
            dialler: F.identity(F.small, protocols: [newChat]),
            listener: F.identity(F.large, protocols: [oldChat])
        )
        #expect(outbound == .fail(.mandatoryProtocolMissing("CHAT"), sending: .shutdown(.mandatoryProtocolMissing)))
        #expect(confirmation == .shutdown(.mandatoryProtocolMissing))
        #expect(inbound == .fail(.refusedByRemote(.mandatoryProtocolMissing), sending: nil))
    }

    /// A confirmation may only narrow the listener's set: one adding a protocol, one from another ID,
    /// or one without PING is refused.
    @Test func listenerRefusesAConfirmationThatWidensOrChangesTheHandshake() {
        let confirmations: [(PeerMessage, HandshakeFailure)] = [
            (F.accepted(by: F.small, [.ping, "CHAT"]), .unofferedProtocol("CHAT")),
            (F.accepted(by: F.large, [.ping]), .unexpectedPeer(expected: F.small, actual: F.large)),
            (F.accepted(by: F.small, []), .mandatoryProtocolMissing(.ping)),
        ]
        for (confirmation, failure) in confirmations {
            var inbound = HandshakeMachine(listeningAt: F.t(0), identity: F.identity(F.large), timeout: timeout)
            guard case .completed(let accepted) = inbound.received(F.identity(F.small).versionMessage) else {
                Issue.record("the listener must accept")
                continue
            }
            _ = inbound.accept(accepted)
            guard case .fail(failure, _) = inbound.received(confirmation) else {
                Issue.record("\(confirmation) must fail with \(failure)")
                continue
            }
            #expect(inbound.isFinished)
        }
    }

    /// The listener's deadline still covers the wait for the confirmation.
    @Test func listenerTimesOutWaitingForTheConfirmation() {
        var inbound = HandshakeMachine(listeningAt: F.t(0), identity: F.identity(F.large), timeout: timeout)
        guard case .completed(let accepted) = inbound.received(F.identity(F.small).versionMessage) else {
            Issue.record("the listener must accept")
            return
        }
        _ = inbound.accept(accepted)
        #expect(inbound.timeout(now: F.t(1.999)) == .wait)
        #expect(inbound.timeout(now: F.t(2)) == .fail(.timeout, sending: F.rejected(by: F.large, .timeout)))
    }

    // MARK: Refusals

    @Test func listenerRefusesAnIncompatibleNetworkVersionWithVerackRejected() {
        let dialler = F.identity(F.small, version: ProtocolVersion(Version(0, 2, 0)))
        let (outbound, inbound) = handshake(dialler: dialler, listener: F.identity(F.large))
        #expect(
            inbound
                == .fail(.incompatibleVersion(Version(0, 2, 0)), sending: F.rejected(by: F.large, .incompatibleVersion))
        )
        #expect(outbound == .fail(.refusedByRemote(.incompatibleVersion), sending: nil))
    }

    @Test func diallerRefusesAListenerWhoseVersionItDoesNotAcceptWithShutdown() {
        // The listener accepts anything from 0.1.0 on; the dialler (0.2.0) accepts only ^0.2.0.
        let lenient = ProtocolVersion(Version(0, 1, 0), requirement: try! VersionRequirement(parsing: ">=0.1.0"))
        let (outbound, inbound) = handshake(
            dialler: F.identity(F.small, version: ProtocolVersion(Version(0, 2, 0))),
            listener: F.identity(F.large, version: lenient)
        )
        guard case .completed = inbound else {
            Issue.record("the listener accepts 0.2.0: \(inbound)")
            return
        }
        #expect(outbound == .fail(.incompatibleVersion(Version(0, 1, 0)), sending: .shutdown(.incompatibleVersion)))
    }

    @Test func listenerRefusesADiallerWithoutPing() {
        let noPing = HandshakeIdentity(id: F.small, networkVersion: F.v010, protocols: [F.chat])
        let (outbound, inbound) = handshake(dialler: noPing, listener: F.identity(F.large, protocols: [F.chat]))
        #expect(
            inbound
                == .fail(.mandatoryProtocolMissing(.ping), sending: F.rejected(by: F.large, .mandatoryProtocolMissing))
        )
        #expect(outbound == .fail(.refusedByRemote(.mandatoryProtocolMissing), sending: nil))
    }

    @Test func eachSideRefusesWhenItsOwnMandatoryProtocolIsMissing() {
        let mandatoryChat = ProtocolSpec(id: "CHAT", version: F.v010, isMandatory: true)
        // The listener requires CHAT; the dialler does not run it.
        let (_, inbound) = handshake(
            dialler: F.identity(F.small),
            listener: F.identity(F.large, protocols: [mandatoryChat])
        )
        #expect(
            inbound
                == .fail(.mandatoryProtocolMissing("CHAT"), sending: F.rejected(by: F.large, .mandatoryProtocolMissing))
        )
        // The dialler requires CHAT; the listener does not run it, accepts, and is refused by Shutdown.
        let (outbound, listenerSide) = handshake(
            dialler: F.identity(F.small, protocols: [mandatoryChat]),
            listener: F.identity(F.large)
        )
        guard case .completed = listenerSide else {
            Issue.record("the listener has no reason to refuse: \(listenerSide)")
            return
        }
        #expect(outbound == .fail(.mandatoryProtocolMissing("CHAT"), sending: .shutdown(.mandatoryProtocolMissing)))
    }

    @Test func selfConnectionIsRefusedOnBothSides() {
        let me = F.identity(F.small)
        var inbound = HandshakeMachine(listeningAt: F.t(0), identity: me, timeout: timeout)
        #expect(
            inbound.received(me.versionMessage)
                == .fail(.selfConnection, sending: F.rejected(by: F.small, .selfConnection))
        )

        var outbound = HandshakeMachine(dialling: nil, identity: me, timeout: timeout)
        _ = outbound.start(now: F.t(0))
        let ownVerack = F.accepted(by: F.small, [.ping])
        #expect(outbound.received(ownVerack) == .fail(.selfConnection, sending: .shutdown(.selfConnection)))
    }

    @Test func diallerClosesWhenTheListenerIsNotTheExpectedPeer() {
        let (outbound, _) = handshake(
            dialler: F.identity(F.small),
            listener: F.identity(F.large),
            expected: PeerID(0, 0, 0, 0x0C)
        )
        #expect(
            outbound
                == .fail(
                    .unexpectedPeer(expected: PeerID(0, 0, 0, 0x0C), actual: F.large),
                    sending: .shutdown(.none)
                )
        )
        let (matching, _) = handshake(dialler: F.identity(F.small), listener: F.identity(F.large), expected: F.large)
        guard case .completed = matching else {
            Issue.record("the expected ID must be accepted: \(matching)")
            return
        }
    }

    @Test func diallerRefusesAVerackListingAProtocolItDidNotOffer() {
        var outbound = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
        _ = outbound.start(now: F.t(0))
        let verack = F.accepted(by: F.large, [.ping, "CHAT"])
        #expect(outbound.received(verack) == .fail(.unofferedProtocol("CHAT"), sending: .shutdown(.malformedMessage)))
    }

    @Test func remoteRefusalsEndTheHandshakeWithoutAnAnswer() {
        var outbound = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
        _ = outbound.start(now: F.t(0))
        let rejected = F.rejected(by: F.large, .noFreeSlot)
        #expect(outbound.received(rejected) == .fail(.refusedByRemote(.noFreeSlot), sending: nil))
        #expect(outbound.isFinished)

        var dialling = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
        _ = dialling.start(now: F.t(0))
        #expect(dialling.received(.shutdown(.noFreeSlot)) == .fail(.refusedByRemote(.noFreeSlot), sending: nil))

        var inbound = HandshakeMachine(listeningAt: F.t(0), identity: F.identity(F.large), timeout: timeout)
        #expect(inbound.received(.shutdown(.shuttingDown)) == .fail(.refusedByRemote(.shuttingDown), sending: nil))
    }

    // MARK: Out of order (RELIABILITY.md 14)

    @Test func listenerRefusesAnythingButVersionFirst() {
        let verack = F.accepted(by: F.small, [.ping])
        for message in [verack, PeerMessage.protocol(id: .ping, payload: F.ping(Nonce(1, 2, 3, 4)))] {
            var inbound = HandshakeMachine(listeningAt: F.t(0), identity: F.identity(F.large), timeout: timeout)
            #expect(
                inbound.received(message)
                    == .fail(.unexpectedMessage(message.kind), sending: F.rejected(by: F.large, .malformedMessage))
            )
        }
    }

    @Test func diallerRefusesVersionOrProtocolBeforeVerack() {
        let version = F.identity(F.large).versionMessage
        for message in [version, PeerMessage.protocol(id: "CHAT", payload: [1, 2, 3])] {
            var outbound = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
            _ = outbound.start(now: F.t(0))
            #expect(
                outbound.received(message)
                    == .fail(.unexpectedMessage(message.kind), sending: .shutdown(.malformedMessage))
            )
        }
    }

    @Test func malformedFrameFailsTheHandshakeWithMalformedMessage() {
        var outbound = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
        _ = outbound.start(now: F.t(0))
        #expect(
            outbound.malformed(.unknownKind(0x7F))
                == .fail(.malformed(.unknownKind(0x7F)), sending: .shutdown(.malformedMessage))
        )
    }

    // MARK: Timeout (RELIABILITY.md 12)

    @Test func listenerGivesUpTwoSecondsAfterAcceptWithoutVersion() {
        var inbound = HandshakeMachine(listeningAt: F.t(10), identity: F.identity(F.large), timeout: timeout)
        #expect(inbound.deadline == F.t(12))
        #expect(inbound.timeout(now: F.t(11.999)) == .wait, "a spurious early call changes nothing")
        #expect(inbound.timeout(now: F.t(12)) == .fail(.timeout, sending: F.rejected(by: F.large, .timeout)))
    }

    @Test func diallerGivesUpTwoSecondsAfterSendingVersion() {
        var outbound = HandshakeMachine(dialling: nil, identity: F.identity(F.small), timeout: timeout)
        #expect(outbound.timeout(now: F.t(100)) == .wait, "no clock runs before the connection is up")
        _ = outbound.start(now: F.t(5))
        #expect(outbound.timeout(now: F.t(6.5)) == .wait)
        #expect(outbound.timeout(now: F.t(7)) == .fail(.timeout, sending: .shutdown(.timeout)))
    }

    // MARK: Properties

    @Test(arguments: 0..<200)
    func negotiatedSetsAgreeAndAreTheCompatibleIntersection(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func randomSpecs() -> [ProtocolSpec] {
            ["P", "Q", "R", "S"].compactMap { (name: ProtocolID) -> ProtocolSpec? in
                rng.chance(0.5)
                    ? ProtocolSpec(id: name, version: ProtocolVersion(Version(0, UInt32(rng.uniform(below: 2)), 0)))
                    : nil
            }
        }
        let (mine, theirs) = (randomSpecs(), randomSpecs())
        // Caret requirements on 0.x versions accept exactly the same minor: compatibility is symmetric.
        let expected: Set<ProtocolID> = Set(
            mine.filter { spec in
                theirs.contains { $0.id == spec.id && $0.version.version == spec.version.version }
            }.map(\.id)
        ).union([.ping])
        let a = F.identity(F.small, protocols: mine)
        let b = F.identity(F.large, protocols: theirs)
        for (dialler, listener) in [(a, b), (b, a)] {
            let (outbound, inbound, _) = fullHandshake(dialler: dialler, listener: listener)
            guard case .completed(let outResult) = outbound, case .confirmed(let inResult) = inbound else {
                Issue.record("seed \(seed): both sides must complete: \(outbound) / \(inbound)")
                continue
            }
            #expect(outResult.protocols == inResult.protocols)
            #expect(Set(inResult.protocols) == expected)
            #expect(inResult.protocols.first == .ping)
        }
    }
}
