import Common
import PinpadFirmware
import PinpadProtocol

/// Lossy-line tests draw from the repository's seeded generator, so they are reproducible.
extension SeededRandom {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

extension DisplayBuffer {
    /// Rows as text, trailing spaces removed.
    var lines: [String] {
        (0..<rows).map { r in
            var s = String(decoding: rowUTF8(r), as: UTF8.self)
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
    }
    /// Rows as text exactly as wide as the display.
    var paddedLines: [String] { (0..<rows).map { String(decoding: rowUTF8($0), as: UTF8.self) } }
    var text: String { lines.joined(separator: "\n") }
}

func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A pad and a host-role link layer on a perfect line, with a virtual clock.
struct Bench {
    var pad: PadFirmware
    var host: LinkLayer
    var now: UInt64 = 1_000
    /// Everything the host's application received, in order.
    var received: [Message] = []
    var hostLinkEvents: [LinkAction] = []
    /// Every action of the pad except writes.
    var padActions: [FirmwareAction] = []

    init(profile: DeviceProfile = DeviceProfile()) {
        pad = PadFirmware(profile: profile)
        host = LinkLayer(role: .host(HostHello(hostName: utf8("till-1"))))
    }

    var display: DisplayBuffer { pad.display }
    var screen: [String] { pad.display.lines }

    var entryResults: [EntryResult] {
        received.compactMap { if case .entryResult(let r) = $0 { r } else { nil } }
    }
    var keyEvents: [KeyEvent] {
        received.compactMap { if case .keyEvent(let k) = $0 { k } else { nil } }
    }
    var busies: [BusyNotice] {
        received.compactMap { if case .busy(let b) = $0 { b } else { nil } }
    }

    /// Opens both ends and lets them link.
    mutating func connect() {
        let fromPad = padStep(.lineOpened).pad
        let fromHost = hostStep(.start).host
        exchange(padOut: fromPad, hostOut: fromHost)
        precondition(pad.isLinkUp && host.isUp, "link did not come up")
    }

    mutating func padStep(_ event: FirmwareEvent) -> (pad: [UInt8], host: [UInt8]) {
        var bytes: [UInt8] = []
        for a in pad.handle(event, now: now) {
            if case .write(let w) = a { bytes += w } else { padActions.append(a) }
        }
        return (bytes, [])
    }

    mutating func hostStep(_ event: LinkEvent) -> (pad: [UInt8], host: [UInt8]) {
        var bytes: [UInt8] = []
        for a in host.handle(event, now: now) {
            switch a {
            case .write(let w): bytes += w
            case .deliver(let m): received.append(m)
            default: hostLinkEvents.append(a)
            }
        }
        return ([], bytes)
    }

    /// Carries bytes both ways until both ends fall quiet.
    mutating func exchange(padOut: [UInt8], hostOut: [UInt8]) {
        var toHost = padOut
        var toPad = hostOut
        while !toHost.isEmpty || !toPad.isEmpty {
            let h = toHost, p = toPad
            toHost = []
            toPad = []
            if !h.isEmpty { toPad += hostStep(.received(h)).host }
            if !p.isEmpty { toHost += padStep(.received(p)).pad }
        }
    }

    mutating func send(_ message: Message) {
        let out = hostStep(.send(message))
        exchange(padOut: [], hostOut: out.host)
    }

    mutating func press(_ key: PadKey) {
        let out = padStep(.key(key))
        exchange(padOut: out.pad, hostOut: [])
    }

    mutating func type(_ digits: String) {
        for c in digits.utf8 { press(.digit(c - 0x30)) }
    }

    /// Lets virtual time pass, firing every timer of both ends on time.
    mutating func advance(by ms: UInt64) {
        let target = now + ms
        while true {
            let next = [pad.nextDeadline, host.nextDeadline].compactMap { $0 }.min()
            guard let next, next <= target else { break }
            now = max(now, next)
            let p = padStep(.tick)
            let h = hostStep(.tick)
            exchange(padOut: p.pad, hostOut: h.host)
        }
        now = target
    }
}
