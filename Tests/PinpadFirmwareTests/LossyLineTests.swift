import Common
import PinpadFirmware
import PinpadProtocol
import Testing

/// One direction of a serial line that loses, damages and repeats bytes, in order, on a
/// virtual clock.
struct LossyLine {
    var drop: Double
    var corrupt: Double
    var duplicate: Double
    var pending: [(at: UInt64, bytes: [UInt8])] = []
    var lastDelivery: UInt64 = 0

    mutating func put(_ bytes: [UInt8], now: UInt64, rng: inout SeededRandom) {
        guard !bytes.isEmpty, !rng.chance(drop) else { return }
        var b = bytes
        if rng.chance(corrupt) { b[rng.below(b.count)] ^= UInt8(1 + rng.below(255)) }
        let at = max(lastDelivery, now + 2 + UInt64(rng.below(15)))
        lastDelivery = at
        pending.append((at, b))
        if rng.chance(duplicate) { pending.append((at, b)) }
    }

    var nextDelivery: UInt64? { pending.first?.at }

    mutating func take(now: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        while let first = pending.first, first.at <= now {
            out += first.bytes
            pending.removeFirst()
        }
        return out
    }
}

/// The host's side of the test: asks a list of prompts, one at a time, re-asking with a new
/// token after a link loss (§7.3), and records every ENTRY_RESULT by token.
struct HostApplication {
    var link = LinkLayer(role: .host(HostHello(hostName: Array("till-1".utf8))))
    var script: [(PromptID, String)]
    var index = 0
    var token: UInt16 = 0
    var waiting = false
    var results: [UInt16: [EntryResult]] = [:]
    var entered: [Int: Int] = [:]
    var asked: [UInt16: Int] = [:]
    var linkDowns = 0

    init(script: [(PromptID, String)]) { self.script = script }

    var done: Bool { index == script.count }

    mutating func handle(_ event: LinkEvent, now: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        var queue = link.handle(event, now: now)
        while !queue.isEmpty {
            let action = queue.removeFirst()
            switch action {
            case .write(let w): out += w
            case .linkUp:
                waiting = false
            case .linkDown:
                linkDowns += 1
                waiting = false  // the prompt ended without an answer
            case .deliver(.entryResult(let r)):
                results[r.token, default: []].append(r)
                if waiting, r.token == token {
                    waiting = false
                    if r.outcome == .entered {
                        #expect(r.digits == Array(script[index].1.utf8), "prompt \(index) got the typed digits")
                        entered[index, default: 0] += 1
                        index += 1
                    }
                }
            default: break
            }
        }
        if link.isUp, !waiting, !done {
            token = token == 65535 ? 1 : token + 1
            waiting = true
            asked[token] = index
            let (id, _) = script[index]
            for a in link.handle(.send(.prompt(PromptRequest(token: token, prompt: id, amount: 4990))), now: now) {
                if case .write(let w) = a { out += w }
            }
        }
        return out
    }
}

@Suite struct LossyLineTests {
    static let profiles: [(drop: Double, corrupt: Double, duplicate: Double)] = [
        (0.05, 0.05, 0.05),
        (0.15, 0.10, 0.10),
        (0.30, 0.15, 0.15),
        // Bad enough that the link goes down now and then: prompts are asked again.
        (0.55, 0.20, 0.20),
    ]

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6], [0, 1, 2, 3])
    func everyPromptCompletesWithTheRightDigitsNeverTwice(seed: UInt64, profile: Int) {
        let p = Self.profiles[profile]
        var rng = SeededRandom(seed: seed &* 7919 &+ UInt64(profile))
        var toPad = LossyLine(drop: p.drop, corrupt: p.corrupt, duplicate: p.duplicate)
        var toHost = LossyLine(drop: p.drop, corrupt: p.corrupt, duplicate: p.duplicate)
        let entries: [(PromptID, String)] = [(.customerID, "8223281"), (.smsCode, "1234"), (.confirmAmount, ""),
                                             (.customerID, "1111111119"), (.smsCode, "987654"), (.customerID, "5000041234")]
        var host = HostApplication(script: entries + entries)
        var pad = PadFirmware(profile: DeviceProfile())
        var now: UInt64 = 0
        // The customer: types the expected digits into the prompt the pad shows, a key every 40 ms.
        var typing: (token: UInt16, keys: [PadKey], at: UInt64)?

        func padRun(_ event: FirmwareEvent) {
            for a in pad.handle(event, now: now) {
                switch a {
                case .write(let w): toHost.put(w, now: now, rng: &rng)
                case .promptOpened(let token, _):
                    let i = host.asked[token] ?? 0
                    let keys = host.script[i].1.utf8.map { PadKey.digit($0 - 0x30) } + [.ok]
                    typing = (token, keys, now + 100)
                default: break
                }
            }
        }
        func hostRun(_ event: LinkEvent) {
            toPad.put(host.handle(event, now: now), now: now, rng: &rng)
        }

        padRun(.lineOpened)
        hostRun(.start)
        var steps = 0
        while !host.done, now < 3_600_000 {
            steps += 1
            let candidates = [pad.nextDeadline, host.link.nextDeadline, toPad.nextDelivery, toHost.nextDelivery, typing?.at]
            now = max(now, candidates.compactMap { $0 }.min() ?? now + 10)
            let forPad = toPad.take(now: now)
            if !forPad.isEmpty { padRun(.received(forPad)) }
            let forHost = toHost.take(now: now)
            if !forHost.isEmpty { hostRun(.received(forHost)) }
            if let t = typing, t.at <= now {
                if pad.prompt?.request.token == t.token, let key = t.keys.first {
                    padRun(.key(key))
                    typing = t.keys.count > 1 ? (t.token, Array(t.keys.dropFirst()), now + 40) : nil
                } else {
                    typing = nil  // that prompt is gone (link loss); the next one is typed afresh
                }
            }
            padRun(.tick)
            hostRun(.tick)
        }
        #expect(host.done, "all prompts answered (seed \(seed), profile \(profile), \(steps) steps)")
        for (token, results) in host.results {
            #expect(results.count == 1, "token \(token) answered \(results.count) times")
        }
        #expect(host.entered.values.allSatisfy { $0 == 1 })
        #expect(host.entered.count == host.script.count)
        if profile == 3 { #expect(host.linkDowns > 0, "the link went down at least once") }
        #expect(host.link.statistics.retransmissions + pad.link.statistics.retransmissions > 0, "the line did lose frames")
        #expect(host.link.statistics.duplicatesDropped + pad.link.statistics.duplicatesDropped > 0, "and repeated some")
    }
}
