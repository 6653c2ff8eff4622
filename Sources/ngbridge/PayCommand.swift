import ArgumentParser
import Bridge
import Dispatch
import Foundation

/// `ngbridge pay`: start a payment through the daemon and follow it to its outcome.
struct PayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pay",
        abstract: "Take a payment through the daemon and show its progress until the outcome.",
        discussion: """
            Ctrl-C asks whether to cancel the payment (the customer may still win the race). \
            Exit status: 0 paid, 3 declined or cancelled, 4 failed, 5 unknown — the bridge cannot \
            tell whether money moved; check the reference with Netgíró before taking the sale again.
            """)

    @Option(help: "Amount in whole ISK.") var amount: Int
    @Option(help: "The till's reference for the sale.") var reference: String
    @Option(help: "manual (default), automatic or server-callback.") var confirmation: TillConfirmation?
    @Option(help: "The terminal id (pad serial); needed when several pads are connected.") var terminal: String?
    @Option(help: "Text for the cart.") var description: String?
    @Option(
        name: .customLong("idempotency-key"),
        help: "Retrying with the same key gives the same payment (default: derived from the reference, amount and attempt).")
    var idempotencyKey: String?
    @Option(help: "Which try at this sale: running the command again joins the payment it started; after a decline or cancel, --attempt 2 starts a new one.")
    var attempt: Int = 1
    @Flag(name: .customLong("repeat"), help: "Charge a reference that was paid (or ended unknown) again, on purpose.")
    var repeatPaid = false
    @Flag(help: "Print each event as a JSON line.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func validate() throws {
        guard amount > 0 else { throw ValidationError("--amount must be a positive number of krónur") }
        guard !reference.isEmpty else { throw ValidationError("--reference must not be empty") }
        guard attempt >= 1 else { throw ValidationError("--attempt counts from 1") }
    }

    func run() async throws {
        let request = TillPaymentRequest(
            amount: amount, reference: reference, description: description, confirmation: confirmation, terminal: terminal,
            repeat: repeatPaid ? true : nil)
        let json = self.json
        let (attempt, reference, amount) = (self.attempt, self.reference, self.amount)
        // The same sale gives the same key: a re-run joins the payment a timed-out run started.
        let key = idempotencyKey ?? TillAPIClient.derivedIdempotencyKey(reference: reference, amount: amount, attempt: attempt, repeat: repeatPaid)
        let outcome: TillPayment? = try await callDaemon(address) { client in
            let answer = try await client.startPayment(request, idempotencyKey: key)
            if let problem = answer.problem {
                switch problem.kind {
                case "idempotency-key-reused" where idempotencyKey == nil:
                    FileHandle.standardError.write(Data(
                        "attempt \(attempt) of this sale was started with other details (terminal, confirmation or description); --attempt \(attempt + 1) starts a new payment\n".utf8))
                case "reference-in-use" where problem.payment?.final == true:
                    FileHandle.standardError.write(Data("to charge the reference again on purpose: ngbridge pay … --repeat\n".utf8))
                default: break
                }
                throw TillAPIClientError.refused(status: answer.status, problem: problem)
            }
            let payment = try answer.decode(TillPayment.self)
            let replayed = answer.headers.first(name: "Idempotent-Replayed") == "true"
            if !json {
                if replayed {
                    print("payment \(payment.id): started before for reference \(reference), \(amount) ISK (attempt \(attempt)) — following it")
                } else {
                    print("payment \(payment.id): \(payment.amount) ISK on terminal \(payment.terminal) — Ctrl-C to cancel")
                }
            }
            if replayed, payment.final, payment.state != .paid, !json {
                FileHandle.standardError.write(Data("to take the sale again: ngbridge pay … --attempt \(attempt + 1)\n".utf8))
            }

            let interrupts = InterruptWatch()
            // Unstructured: the payment may end while it waits for an answer to type, and the
            // command must not wait for one; cancelled, not awaited.
            let canceller = Task {
                for await _ in interrupts.signals {
                    FileHandle.standardError.write(Data("\ncancel payment \(payment.id)? [y/N] ".utf8))
                    let reply = await readLineOnThread()
                    if reply?.lowercased().hasPrefix("y") == true {
                        let answer = try? await client.cancel(payment.id)
                        FileHandle.standardError.write(Data("cancel asked (\(answer?.status ?? 0)); waiting for the outcome\n".utf8))
                    }
                }
            }
            defer {
                canceller.cancel()
                interrupts.stop()
            }
            let last = try await client.followEvents(payment.id) { event in
                if json {
                    if let data = try? JSONEncoder().encode(event) { print(String(decoding: data, as: UTF8.self)) }
                } else {
                    print(Self.line(for: event))
                }
            }
            return last?.payment
        }
        guard let outcome else { throw CLIFailure("the event stream ended before the outcome — see `ngbridge payment ID`") }
        if !json { print(describe(outcome)) }
        switch outcome.state {
        case .paid: return
        case .declined, .cancelled: throw ExitCode(3)
        case .failed: throw ExitCode(4)
        default: throw ExitCode(5)
        }
    }

    static func line(for event: TillPaymentEvent) -> String {
        switch event.kind {
        case .state: return "  state   \(event.state?.rawValue ?? "?")"
        case .prompt: return "  prompt  \(event.prompt ?? "?") (the customer keys it on the pad)"
        case .screen: return "  screen  \(event.screen ?? "?")"
        case .outcome: return "outcome   \(event.payment?.state.rawValue ?? event.state?.rawValue ?? "?")"
        }
    }
}

extension TillConfirmation: ExpressibleByArgument {}

/// One line from stdin, read on a thread of its own: readLine() blocks until a line is typed,
/// which must not hold a thread of the cooperative pool.
private func readLineOnThread() async -> String? {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: readLine()) }
    }
}

/// SIGINT as a stream, instead of ending the process, while a payment is being followed.
/// (`@unchecked`: a dispatch source may be used from any thread.)
final class InterruptWatch: @unchecked Sendable {
    let signals: AsyncStream<Void>
    private let source: any DispatchSourceSignal

    init() {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        signals = stream
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.setCancelHandler { continuation.finish() }
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
