import Common
import Foundation
@testable import NetgiroAPI
@testable import NetgiroModels
import NetgiroSim

@testable import Checkout

/// Netgíró as a pure value: the simulator's core, reached with requests built and signed by the
/// real request builder and answers read by the real decoder. No sockets, no clocks.
struct PureNetgiro {
    static let baseURL = "http://netgiro.test/v1/"
    var core: NetgiroSimulatorCore
    let builder: NetgiroRequestBuilder
    let nonces = NonceGenerator()
    let start: Date
    /// Callbacks the core wants delivered (the harness delivers them as events).
    var pendingCallbacks: [NetgiroSimulatorCore.Callback] = []

    init(start: Date, configuration: NetgiroSimulatorCore.Configuration = .init(), seed: UInt64 = 7) {
        self.core = NetgiroSimulatorCore(configuration: configuration, seed: seed)
        self.builder = NetgiroRequestBuilder(
            configuration: try! NetgiroConfiguration(
                baseURL: Self.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox))
        self.start = start
    }

    func instant(_ now: Date) -> NetgiroSimInstant {
        NetgiroSimInstant(.milliseconds(Int((now.timeIntervalSince(start) * 1000).rounded())))
    }

    mutating func advance(to now: Date) {
        absorb(core.advance(to: instant(now)))
    }

    mutating func absorb(_ effects: [NetgiroSimulatorCore.Effect]) {
        for case .sendCallback(let callback) in effects where !callback.isCancelNotice {
            pendingCallbacks.append(callback)
        }
    }

    /// Sends one request; returns the raw answer body.
    mutating func send(_ prepared: PreparedRequest, now: Date) -> [UInt8] {
        let path = String(prepared.url.dropFirst("http://netgiro.test".count))
        let wire = NetgiroSimWireRequest(
            method: "POST", path: path, url: prepared.url,
            headers: prepared.headers.map { ($0.name, $0.value) }, body: prepared.body)
        let (reply, effects) = core.receive(wire, now: instant(now))
        absorb(effects)
        return reply.body
    }

    mutating func perform(_ request: Checkout.NetgiroRequest, now: Date) -> CheckoutHarness.Completion {
        switch request {
        case .insertCart(let r):
            let body = send(try! builder.insertCart(r, nonce: nonces.next()), now: now)
            return .insert(.success(try! NetgiroResponseDecoder.decodeInsertCart(body)))
        case .checkCart(let id):
            let body = send(try! builder.checkCart(transactionId: id, nonce: nonces.next()), now: now)
            return .check(.success(try! NetgiroResponseDecoder.decodeCart(body)))
        case .confirmCart(let id, let identifier):
            let body = send(try! builder.confirmCart(transactionId: id, identifier: identifier, nonce: nonces.next()), now: now)
            return .confirm(.success(try! NetgiroResponseDecoder.decodeCart(body)))
        case .cancelCart(let id):
            let body = send(try! builder.cancelCart(transactionId: id, nonce: nonces.next()), now: now)
            return .cancel(.success(try! NetgiroResponseDecoder.decodeCart(body)))
        }
    }

    /// The ledger entry for the payment's reference.
    func carts(reference: String) -> [NetgiroSimLedgerEntry] { core.ledger.filter { $0.reference == reference } }
}

/// How the scripted customer behaves at the pad.
struct ScriptedCustomer {
    /// Entries typed at the customer-id prompt, in order (the last one repeats).
    var identifiers: [String]
    /// Wrong SMS codes typed before the right one.
    var wrongSMSCodes: Int = 0
    /// Cancel at the SMS-code prompt instead of typing.
    var cancelsAtSMSCode = false
    /// Prompts the pad did not announce: asking for one ends as `.promptUnsupported`.
    var padLacks: Set<CustomerPromptKind> = []
}

/// Runs one `Checkout` to its end against ``PureNetgiro`` with virtual time: API calls complete
/// in order (or in a seeded random order), timers fire when nothing else is pending, prompts are
/// answered by a ``ScriptedCustomer``. Records everything for assertions; can crash the machine
/// after any executed action and rebuild it from the last persisted record.
struct CheckoutHarness {
    enum Completion {
        case insert(Result<InsertCartResponse, NetgiroClientError>)
        case check(Result<CartResponse, NetgiroClientError>)
        case confirm(Result<CartResponse, NetgiroClientError>)
        case cancel(Result<CartResponse, NetgiroClientError>)
    }

    enum Event {
        case completion(Completion)
        case entry(CustomerEntry, prompt: Int)
        case callback(CartResponse, id: Int)
        case tillCancel
    }

    /// Faults the harness may inject on a call (model-based tests).
    enum Fault: CaseIterable {
        /// Nothing reached Netgíró.
        case notSent
        /// Netgíró acted, the answer was lost.
        case lostAnswer
    }

    static let epoch = Date(timeIntervalSince1970: 1_780_000_000)

    var checkout: Checkout
    var netgiro: PureNetgiro
    var customer: ScriptedCustomer
    var now: Date
    var configuration: Checkout.Configuration

    var queue: [Event] = []
    var timers: [Checkout.TimerKind: (at: Date, id: Int)] = [:]
    var activePrompt: (prompt: CustomerPrompt, id: Int)?
    var identifierIndex = 0
    var wrongCodesTyped = 0

    // What happened.
    var persisted: [PaymentTransition] = []
    var calls: [Checkout.NetgiroRequest] = []
    /// When each call went out (virtual time).
    var callTimes: [Date] = []
    /// The checkout's answers to callbacks, in order (true: 200).
    var callbackAnswers: [Bool] = []
    /// Callbacks handed to the checkout and not answered yet, by id.
    var awaitingAnswer: [Int: NetgiroSimulatorCore.Callback] = [:]
    var nextCallbackID = 1
    /// Impossible events the checkout reported.
    var impossibleEvents: [String] = []
    var screens: [CustomerScreen] = []
    var prompts: [CustomerPrompt] = []
    var tillUpdates: [PaymentPhase] = []
    var actionLog: [Checkout.Action] = []
    /// Cart responses seen with PaymentSuccessful true.
    var sawPaymentSuccessful = false
    var crashes = 0
    var executedActions = 0

    // Knobs.
    var random: SeededRandom?
    var faultRate: Double = 0
    var crashAtAction: Int?
    /// Deliver a till cancel once this action count is reached.
    var tillCancelAtAction: Int?
    /// A fault on the call with this index (0 = the first call made).
    var scriptedFaults: [Int: Fault] = [:]
    /// Calls of these kinds never reach Netgíró.
    var failingCalls: Set<NetgiroCall> = []
    /// A CheckCart answer with PaymentSuccessful true was seen.
    var pollSawPaid = false

    init(
        request: PaymentRequest, customer: ScriptedCustomer, configuration: Checkout.Configuration = .init(),
        simulator: NetgiroSimulatorCore.Configuration = .init(), seed: UInt64 = 7, id: String = "pay-1"
    ) {
        self.now = Self.epoch
        self.configuration = configuration
        self.checkout = try! Checkout(id: id, request: request, now: now, configuration: configuration)
        self.netgiro = PureNetgiro(start: now, configuration: simulator, seed: seed)
        self.customer = customer
    }

    var record: PaymentRecord { checkout.record }
    var lastPersisted: PaymentRecord? { persisted.last?.record }

    func count(_ call: NetgiroCall) -> Int { calls.filter { $0.call == call }.count }

    mutating func apply(_ actions: [Checkout.Action]) {
        for action in actions {
            if let crashAt = crashAtAction, executedActions == crashAt {
                crashAtAction = nil
                crash()
                return
            }
            executedActions += 1
            if let at = tillCancelAtAction, executedActions >= at {
                tillCancelAtAction = nil
                queue.append(.tillCancel)
            }
            actionLog.append(action)
            switch action {
            case .persist(let t):
                persisted.append(t)
            case .show(let screen):
                screens.append(screen)
            case .prompt(let prompt, let id):
                prompts.append(prompt)
                activePrompt = (prompt, id)
                queue.append(.entry(answer(prompt), prompt: id))
            case .cancelPrompt:
                activePrompt = nil
            case .call(let request):
                calls.append(request)
                callTimes.append(now)
                queue.append(.completion(perform(request)))
            case .startTimer(let kind, let after, let id):
                timers[kind] = (now.addingTimeInterval(after.seconds), id)
            case .cancelTimer(let kind):
                timers[kind] = nil
            case .notifyTill(let record):
                tillUpdates.append(record.phase)
            case .answerCallback(let id, let accept):
                callbackAnswers.append(accept)
                if let cb = awaitingAnswer.removeValue(forKey: id) {
                    netgiro.absorb(netgiro.core.callbackFinished(
                        transactionId: cb.transactionId, attempt: cb.attempt, delivered: accept, now: netgiro.instant(now)))
                }
            case .impossibleEvent(let what):
                impossibleEvents.append(what)
            case .returnToIdle, .log:
                break
            }
        }
    }

    /// The machine stops here; a new one is built from the last persisted record and resumed.
    /// Calls already sent have happened at Netgíró; answers, timers and prompts are lost.
    mutating func crash() {
        crashes += 1
        queue.removeAll()
        timers.removeAll()
        activePrompt = nil
        // Callbacks under way find the bridge down: they fail, and Netgíró retries (or gives up).
        let failed = netgiro.pendingCallbacks + awaitingAnswer.values
        netgiro.pendingCallbacks.removeAll()
        awaitingAnswer.removeAll()
        for cb in failed {
            netgiro.absorb(netgiro.core.callbackFinished(
                transactionId: cb.transactionId, attempt: cb.attempt, delivered: false, now: netgiro.instant(now)))
        }
        guard let saved = lastPersisted else {
            // Nothing written yet: the payment never existed for the journal; start it again.
            checkout = try! Checkout(id: checkout.record.id, request: checkout.record.request, now: now, configuration: configuration)
            apply(checkout.start(now: now))
            return
        }
        checkout = Checkout(restoring: saved, configuration: configuration)
        apply(checkout.resume(now: now))
    }

    mutating func perform(_ request: Checkout.NetgiroRequest) -> Completion {
        if let fault = scriptedFaults.removeValue(forKey: calls.count - 1) {
            if fault == .lostAnswer { _ = netgiro.perform(request, now: now) }
            return lost(request, fault: fault)
        }
        if failingCalls.contains(request.call) { return lost(request, fault: .notSent) }
        if faultRate > 0, var r = random, r.chance(faultRate) {
            let fault = Fault.allCases[Int(r.next() % 2)]
            random = r
            if fault == .lostAnswer { _ = netgiro.perform(request, now: now) }
            return lost(request, fault: fault)
        }
        let completion = netgiro.perform(request, now: now)
        switch completion {
        case .check(.success(let r)), .confirm(.success(let r)), .cancel(.success(let r)):
            if r.paymentSuccessful { sawPaymentSuccessful = true }
            if r.paymentSuccessful, request.call == .checkCart { pollSawPaid = true }
        default: break
        }
        return completion
    }

    func lost(_ request: Checkout.NetgiroRequest, fault: Fault) -> Completion {
        let call = request.call
        let error: NetgiroClientError
        switch fault {
        case .notSent: error = .notSent(call: call, reason: "connection refused")
        case .lostAnswer:
            error = call.isSafeToRetry ? .timeout(call: call) : .outcomeUnknown(call: call, cause: .timeout)
        }
        switch request {
        case .insertCart: return .insert(.failure(error))
        case .checkCart: return .check(.failure(error))
        case .confirmCart: return .confirm(.failure(error))
        case .cancelCart: return .cancel(.failure(error))
        }
    }

    mutating func answer(_ prompt: CustomerPrompt) -> CustomerEntry {
        if customer.padLacks.contains(prompt.kind) { return .promptUnsupported }
        switch prompt.kind {
        case .customerID:
            let entry = customer.identifiers[min(identifierIndex, customer.identifiers.count - 1)]
            identifierIndex += 1
            return .entered(entry)
        case .smsCode:
            if customer.cancelsAtSMSCode { return .cancelledByCustomer }
            guard let id = checkout.record.transactionId, let code = netgiro.core.smsCode(for: id) else { return .timedOut }
            if wrongCodesTyped < customer.wrongSMSCodes {
                wrongCodesTyped += 1
                return .entered(code == "0000" ? "1111" : "0000")
            }
            return .entered(code)
        }
    }

    mutating func deliver(_ event: Event) {
        switch event {
        case .completion(let c):
            switch c {
            case .insert(let r): apply(checkout.insertCartCompleted(r, now: now))
            case .check(let r): apply(checkout.checkCartCompleted(r, now: now))
            case .confirm(let r): apply(checkout.confirmCartCompleted(r, now: now))
            case .cancel(let r): apply(checkout.cancelCartCompleted(r, now: now))
            }
        case .entry(let entry, let prompt):
            guard activePrompt?.id == prompt else { return }  // cancelled prompts' answers are ignored
            activePrompt = nil
            apply(checkout.customerEntered(entry, prompt: prompt, now: now))
        case .callback(let response, let id):
            apply(checkout.callbackReceived(response, id: id, now: now))
        case .tillCancel:
            apply(checkout.tillCancelled(now: now))
        }
    }

    /// Hands the oldest callback Netgíró sent to the checkout, as the bridge's listener does.
    /// False when there was none.
    @discardableResult
    mutating func deliverOneCallback() -> Bool {
        guard !netgiro.pendingCallbacks.isEmpty else { return false }
        let cb = netgiro.pendingCallbacks.removeFirst()
        let id = nextCallbackID
        nextCallbackID += 1
        awaitingAnswer[id] = cb
        deliver(.callback(try! NetgiroResponseDecoder.decodeCart(cb.body), id: id))
        return true
    }

    /// Lets Netgíró's time run to `seconds` after the epoch and answers every callback it sends
    /// meanwhile (after the payment ended too: the orphan's callbacks).
    mutating func settleNetgiro(until seconds: Double) {
        now = max(now, Self.epoch.addingTimeInterval(seconds))
        netgiro.advance(to: now)
        while deliverOneCallback() {}
    }

    /// Runs until the payment is final (or a step limit, which fails the test that checks it).
    @discardableResult
    mutating func run(maxSteps: Int = 5_000) -> PaymentRecord {
        if record.phase == .created, persisted.isEmpty { apply(checkout.start(now: now)) }
        var steps = 0
        while !checkout.isFinished, steps < maxSteps {
            steps += 1
            // Callbacks the simulator sent go to the checkout, which answers them (200 makes the sale).
            if deliverOneCallback() { continue }
            if !queue.isEmpty {
                let index: Int
                if var r = random {
                    index = Int(r.next() % UInt64(queue.count))
                    random = r
                } else {
                    index = 0
                }
                deliver(queue.remove(at: index))
                continue
            }
            guard let (kind, timer) = timers.min(by: { $0.value.at < $1.value.at }) else { break }
            timers[kind] = nil
            if timer.at > now { now = timer.at }
            netgiro.advance(to: now)
            apply(checkout.timerFired(kind, id: timer.id, now: now))
        }
        return record
    }
}

extension Checkout.Action {
    var isCall: Bool { if case .call = self { return true } else { return false } }
    var isPersist: Bool { if case .persist = self { return true } else { return false } }
}
