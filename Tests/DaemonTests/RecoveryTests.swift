import Bridge
import Checkout
import Foundation
import NetgiroSim
import Testing

/// Pads that are not there when the daemon starts and appear a moment later, as after a
/// restart (the pad is found and linked after recovery has run).
struct LateTerminals: PaymentTerminals {
    let customer: ScriptedCustomer
    let appearsAt: ContinuousClock.Instant
    var here: Bool { ContinuousClock.now >= appearsAt }
    func terminal(_ id: String) async -> (any CustomerTerminal)? { here && id == customer.terminalID ? customer : nil }
    func onlineIDs() async -> [String] { here ? [customer.terminalID] : [] }
    func list() async -> [TillTerminal] { here ? [TillTerminal(id: customer.terminalID, status: "online")] : [] }
}

@Suite(.timeLimit(.minutes(1))) struct RecoveryTests {
    /// A payment journaled before the customer answered (the daemon was killed while the pad was
    /// asking) is asked again once its pad is back, not failed for want of a pad at start.
    @Test func recoveredPaymentWaitsForItsPadAndIsPaid() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-LATE", entries: [.entered(NetgiroSimCustomers.acceptingGSM)])
        let terminals = LateTerminals(customer: customer, appearsAt: .now + .milliseconds(300))
        let bridge = try await BridgeUnderTest.start(terminals: terminals)
        do {
            let record = PaymentRecord(
                id: UUID().uuidString.lowercased(),
                request: PaymentRequest(amount: 2990, reference: "R-RECOVER", terminalID: "NGP-LATE"),
                createdAt: Date(), deadline: Date().addingTimeInterval(120))
            _ = try await bridge.journal.create(record)
            let recovered = try await bridge.service.recover()
            #expect(recovered == [record.id])
            let last = try await bridge.api.client.followEvents(record.id) { _ in }
            #expect(last?.payment?.state == .paid)
            let ledger = bridge.simulator.ledger().filter { $0.reference == "R-RECOVER" }
            #expect(ledger.count == 1 && ledger.first?.state == "paid")
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }

    /// A pad that never comes back: the recovered payment ends (failed), it does not hang.
    @Test func recoveredPaymentWhosePadNeverReturnsEnds() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-GONE", entries: [])
        let terminals = LateTerminals(customer: customer, appearsAt: .now + .seconds(3600))
        let bridge = try await BridgeUnderTest.start(terminals: terminals, recoveryGrace: .milliseconds(300))
        do {
            let record = PaymentRecord(
                id: UUID().uuidString.lowercased(),
                request: PaymentRequest(amount: 990, reference: "R-GONE", terminalID: "NGP-GONE"),
                createdAt: Date(), deadline: Date().addingTimeInterval(120))
            _ = try await bridge.journal.create(record)
            _ = try await bridge.service.recover()
            let last = try await bridge.api.client.followEvents(record.id) { _ in }
            #expect(last?.payment?.state == .failed)
            #expect(bridge.simulator.ledger().isEmpty)
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }
}
