import Foundation

@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

/// Builds wire requests the way a correct client would, for driving the simulator's pure core.
struct WireFactory {
    var origin = "http://127.0.0.1:8089"
    var nonce: UInt64 = 1000
    let builder: NetgiroRequestBuilder

    init(origin: String = "http://127.0.0.1:8089") {
        self.origin = origin
        builder = NetgiroRequestBuilder(
            configuration: try! NetgiroConfiguration(
                baseURL: origin + "/v1/", appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox))
    }

    mutating func nextNonce() -> String {
        nonce += 1
        return String(nonce)
    }

    func wire(_ p: PreparedRequest) -> NetgiroSimWireRequest {
        NetgiroSimWireRequest(
            method: "POST", path: String(p.url.dropFirst(origin.count)), url: p.url,
            headers: p.headers.map { ($0.name, $0.value) }, body: p.body)
    }

    mutating func insert(
        _ customer: String, _ type: ConfirmationType, amount: Int = 1000, reference: String = "R1",
        callback: String? = nil
    ) -> NetgiroSimWireRequest {
        let r = InsertCartRequest(
            amount: amount, reference: reference, customerId: customer, confirmationType: type,
            callbackUrl: callback ?? (type == .serverCallback ? "http://127.0.0.1:9/cb" : nil))
        return wire(try! builder.insertCart(r, nonce: nextNonce()))
    }

    mutating func check(_ id: String) -> NetgiroSimWireRequest {
        wire(try! builder.checkCart(transactionId: id, nonce: nextNonce()))
    }

    mutating func confirm(_ id: String, _ identifier: String? = nil) -> NetgiroSimWireRequest {
        wire(try! builder.confirmCart(transactionId: id, identifier: identifier, nonce: nextNonce()))
    }

    mutating func cancel(_ id: String) -> NetgiroSimWireRequest {
        wire(try! builder.cancelCart(transactionId: id, nonce: nextNonce()))
    }
}

extension NetgiroSimulatorCore.Reply {
    var insert: InsertCartResponse { try! NetgiroResponseDecoder.decodeInsertCart(body) }
    var cart: CartResponse { try! NetgiroResponseDecoder.decodeCart(body) }
    var envelope: NetgiroEnvelope { try! NetgiroResponseDecoder.decodeEnvelope(body) }
}

func at(_ seconds: Double) -> NetgiroSimInstant { NetgiroSimInstant(.milliseconds(Int(seconds * 1000))) }
