import Common
import Foundation
import PinpadFirmware
import PinpadProtocol
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

/// The simulated pad drawn in a terminal for a person to use: the customer display (framed,
/// rows × columns), the keypad and its keys, the link state. Digits type, Backspace is Clear,
/// Enter is OK, Esc is Cancel; `u` pulls or puts back the USB cable, `r` reboots, `q` or Ctrl-C
/// quits. The terminal is put in raw mode and restored on exit (also on SIGINT/SIGTERM).
public final class PinpadTerminalUI: Sendable {
    private let pad: PinpadSimulator
    private let input: FileDescriptor
    private let output: FileDescriptor
    /// Held while a screen is rendered and written, so screens go out whole and in order; it
    /// counts the screens written. (Not a `Locked<Void>`: ThreadSanitizer takes an access to an
    /// empty value for one at the box's own address and reports a race that is not there.)
    private let drawing = Locked<Int>(0)
    /// Lock (as `quit`): shared by the key reader's thread, the pad's thread (`onChange`) and callers.
    private let state: Locked<(saved: TerminalAttributes?, last: PinpadSnapshot?, lastKey: String, closed: Bool, news: [String])>
    private let quit: Locked<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>

    /// `input` and `output` default to the process's terminal (stdin, stdout).
    public init(pad: PinpadSimulator, input: FileDescriptor = FileDescriptor(rawValue: 0), output: FileDescriptor = FileDescriptor(rawValue: 1)) {
        self.pad = pad
        self.input = input
        self.output = output
        self.state = Locked((nil, nil, "", false, []))
        self.quit = Locked((false, []))
    }

    /// Takes over the terminal, draws the pad and handles keys until the person quits (or the
    /// simulator stops). Restores the terminal before returning.
    public func run() async {
        enterRawMode()
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
        pad.onChange { [weak self] snapshot in self?.draw(snapshot) }
        // The first screen, unless the simulator has drawn a newer one meanwhile.
        let first = pad.snapshot
        state.withLock { s in if s.last == nil { s.last = first } }
        redraw()
        // A thread, not a task: it blocks in poll(2) and read(2) on the terminal.
        let reader = Thread { [self] in readKeys() }
        reader.name = "pinpad keys"
        reader.start()
        // Unstructured: it may outlive run() (the person quits first), and waitUntilStopped()
        // does not end on cancellation.
        Task { [self] in
            await pad.waitUntilStopped()
            finish()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = quit.withLock { q in
                if !q.done { q.waiters.append(c) }
                return q.done
            }
            if done { c.resume() }
        }
        restore()
    }

    /// Shows a line under the pad (what the rest of a demo is doing: "InsertCart sent", "SMS
    /// code 1234"); the last few lines stay on screen.
    public func post(_ line: String) {
        state.withLock { s in
            s.news.append(line)
            if s.news.count > 8 { s.news.removeFirst(s.news.count - 8) }
        }
        redraw()
    }

    // MARK: - Keys

    private func readKeys() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while !quit.withLock({ $0.done }) {
            var fds = [pollfd(fd: input.rawValue, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 1, 200)
            if ready <= 0 { continue }
            let n = Glibc.read(input.rawValue, &buffer, buffer.count)
            if n <= 0 {
                finish()
                return
            }
            handle(Array(buffer[0..<n]))
        }
    }

    private func handle(_ bytes: [UInt8]) {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            i += 1
            switch b {
            case 0x30...0x39: press(.digit(b - 0x30))
            case 0x7F, 0x08: press(.clear)
            case 0x0D, 0x0A: press(.ok)
            case 0x1B:
                if i < bytes.count, bytes[i] == 0x5B || bytes[i] == 0x4F {
                    // An escape sequence (arrow keys, Delete…): Delete is Clear, the rest ignored.
                    var seq: [UInt8] = []
                    i += 1
                    while i < bytes.count {
                        let c = bytes[i]
                        i += 1
                        seq.append(c)
                        if c >= 0x40 && c <= 0x7E { break }
                    }
                    if seq == [0x33, 0x7E] { press(.clear) }
                } else {
                    press(.cancel)
                }
            case 0x03, 0x04, 0x71, 0x51:  // Ctrl-C, Ctrl-D, q, Q
                finish()
                return
            case 0x75, 0x55:  // u: pull or put back the cable
                if pad.snapshot.plugged {
                    pad.unplug()
                    noteKey("cable pulled")
                } else {
                    pad.replug()
                    noteKey("cable back in")
                }
            case 0x72, 0x52:  // r
                pad.reboot()
                noteKey("reboot")
            default:
                break
            }
        }
    }

    private func press(_ key: PadKey) {
        pad.press(key)
        let name: String
        switch key {
        case .digit: name = "digit"
        case .clear: name = "Clear"
        case .ok: name = "OK"
        case .cancel: name = "Cancel"
        }
        noteKey(name)
    }

    private func noteKey(_ text: String) {
        state.withLock { $0.lastKey = text }
        redraw()
    }

    // MARK: - Drawing

    /// Draws a new snapshot from the simulator.
    private func draw(_ snap: PinpadSnapshot) {
        drawing.withLock { written in
            let shown = state.withLock { s -> (String, [String])? in
                if s.closed { return nil }
                s.last = snap
                return (s.lastKey, s.news)
            }
            guard let (lastKey, news) = shown else { return }
            write(Self.render(snap, path: pad.path, lastKey: lastKey, news: news))
            written += 1
        }
    }

    /// Draws the latest snapshot again (a key or a news line changed). Drawing is serialised and
    /// always shows the newest snapshot, so a redraw from the key thread can never put back a
    /// screen the simulator has already replaced.
    private func redraw() {
        drawing.withLock { written in
            let shown = state.withLock { s -> (PinpadSnapshot, String, [String])? in
                guard !s.closed, let last = s.last else { return nil }
                return (last, s.lastKey, s.news)
            }
            guard let (snap, lastKey, news) = shown else { return }
            write(Self.render(snap, path: pad.path, lastKey: lastKey, news: news))
            written += 1
        }
    }

    /// The whole screen for one snapshot (public for tests and previews).
    public static func render(_ snap: PinpadSnapshot, path: String, lastKey: String = "", news: [String] = []) -> String {
        let esc = "\u{1B}["
        let reset = esc + "0m"
        let dim = esc + "2m"
        let bold = esc + "1m"
        let lcd = esc + "38;5;22;48;5;150m"
        let frame = esc + "38;5;245m"
        let d = snap.display
        var rows: [String] = []
        let title = "\(String(decoding: snap.profile.model, as: UTF8.self)) · \(String(decoding: snap.profile.serialNumber, as: UTF8.self)) · \(d.rows)×\(d.columns)"
        rows.append("")
        rows.append("  \(bold)Netgíró PIN pad\(reset)  \(dim)\(title)\(reset)")
        rows.append("")
        let width = d.columns + 2
        rows.append("  " + frame + "╭" + String(repeating: "─", count: width) + "╮" + reset)
        for r in 0..<d.rows {
            let text = String(decoding: d.rowUTF8(r), as: UTF8.self)
            rows.append("  " + frame + "│" + reset + lcd + " " + text + " " + reset + frame + "│" + reset)
        }
        rows.append("  " + frame + "╰" + String(repeating: "─", count: width) + "╯" + reset)
        let light: String
        switch snap.light {
        case .green: light = esc + "32m●" + reset + " green"
        case .red: light = esc + "31m●" + reset + " red"
        case .amber: light = esc + "33m●" + reset + " amber"
        default: light = dim + "○ off" + reset
        }
        rows.append("  light \(light)")
        rows.append("")
        let key = { (label: String) in frame + "[" + reset + bold + label + reset + frame + "]" + reset }
        rows.append("     " + [key(" 1 "), key(" 2 "), key(" 3 ")].joined(separator: " "))
        rows.append("     " + [key(" 4 "), key(" 5 "), key(" 6 ")].joined(separator: " "))
        rows.append("     " + [key(" 7 "), key(" 8 "), key(" 9 ")].joined(separator: " "))
        rows.append("     " + [esc + "33m" + "[ C ]" + reset, key(" 0 "), esc + "32m" + "[OK ]" + reset].joined(separator: " ") + "  " + esc + "31m[ X ]" + reset)
        rows.append("")
        rows.append("  \(bold)0–9\(reset) digits   \(bold)Backspace\(reset) Clear   \(bold)Enter\(reset) OK   \(bold)Esc\(reset) Cancel")
        rows.append("  \(dim)u pull/replug the cable   r reboot   q quit\(reset)")
        rows.append("")
        var status = "  "
        if !snap.plugged {
            status += esc + "31m● unplugged" + reset
        } else if snap.linkUp {
            status += esc + "32m● linked" + reset + " with " + bold + (snap.hostName.isEmpty ? "host" : snap.hostName) + reset
        } else {
            status += esc + "33m● not linked" + reset + " — waiting for the bridge"
        }
        status += "   " + dim + path + reset
        rows.append(status)
        var detail = "  "
        if let p = snap.prompt {
            detail += "prompt \(bold)\(PinpadNames.prompt(p.id))\(reset) (token \(p.token)), \(p.length) digit\(p.length == 1 ? "" : "s")"
        } else {
            detail += dim + "no prompt open" + reset
        }
        if !lastKey.isEmpty { detail += "   " + dim + "last key: " + lastKey + reset }
        rows.append(detail)
        if !news.isEmpty {
            rows.append("")
            rows += news.map { "  " + $0 }
        }
        return esc + "H" + rows.map { $0 + esc + "K" }.joined(separator: "\r\n") + esc + "J"
    }

    private func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(output.rawValue, $0.baseAddress, $0.count) }
            if n <= 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            offset += n
        }
    }

    // MARK: - Terminal modes

    private func enterRawMode() {
        guard var attributes = try? TerminalAttributes.read(from: input) else { return }
        let saved = attributes
        state.withLock { $0.saved = saved }
        PinpadTerminalRestore.install(saved, input: input, output: output)
        attributes.makeRaw()
        try? attributes.apply(to: input)
    }

    private func finish() {
        let waiters = quit.withLock { q -> [CheckedContinuation<Void, Never>] in
            if q.done { return [] }
            q.done = true
            defer { q.waiters = [] }
            return q.waiters
        }
        for w in waiters { w.resume() }
    }

    private func restore() {
        let saved = state.withLock { s -> TerminalAttributes? in
            s.closed = true
            return s.saved
        }
        write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        if let saved { try? saved.apply(to: input) }
        PinpadTerminalRestore.uninstall()
    }
}

/// Puts the terminal back when the process is killed by a signal while the pad is drawn.
enum PinpadTerminalRestore {
    nonisolated(unsafe) static var saved: termios?
    nonisolated(unsafe) static var input: CInt = 0
    nonisolated(unsafe) static var output: CInt = 1

    static func install(_ attributes: TerminalAttributes, input: FileDescriptor, output: FileDescriptor) {
        saved = attributes.raw
        self.input = input.rawValue
        self.output = output.rawValue
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                PinpadTerminalRestore.restoreNow()
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }

    static func uninstall() {
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_DFL) }
        saved = nil
    }

    static func restoreNow() {
        let text: [UInt8] = Array("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l".utf8)
        _ = text.withUnsafeBytes { Glibc.write(output, $0.baseAddress, $0.count) }
        if var t = saved { tcsetattr(input, TCSANOW, &t) }
    }
}
