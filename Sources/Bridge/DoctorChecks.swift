import DeviceWatch
import Foundation
import NetgiroAPI

#if canImport(Glibc)
import Glibc
#endif

/// `ngbridge doctor`: what stands between this machine and a working bridge, each finding with
/// the fix. Checks run in order; a failed one does not stop the others.
public enum DoctorChecks {
    public enum Verdict: String, Sendable, Codable { case ok, warning, problem }

    public struct Finding: Sendable, Codable {
        public var check: String
        public var verdict: Verdict
        public var detail: String
        /// What to do (nil when all is well).
        public var fix: String?
    }

    public static let pinpadGroup = "netgiro-pinpad"
    public static let ruleLocations = ["/etc/udev/rules.d/70-netgiro-pinpad.rules", "/usr/lib/udev/rules.d/70-netgiro-pinpad.rules", "/lib/udev/rules.d/70-netgiro-pinpad.rules"]

    public static func run(configuration: Result<DaemonConfiguration, DaemonConfigurationError>, procRoot: String = "/proc") async -> [Finding] {
        var findings: [Finding] = []

        // Configuration.
        switch configuration {
        case .success(let c):
            findings.append(Finding(check: "configuration", verdict: .ok, detail: "valid; Netgíró \(c.netgiro.baseURL), secret from \(c.netgiro.secretSource), API \(c.api.listen)"))
        case .failure(let e):
            findings.append(Finding(check: "configuration", verdict: .problem, detail: e.description, fix: "set \(e.key) (see `ngbridge run --help` for every key)"))
        }

        // udev rule.
        if let rule = ruleLocations.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            findings.append(Finding(check: "udev rule", verdict: .ok, detail: "installed at \(rule)"))
        } else {
            findings.append(Finding(
                check: "udev rule", verdict: .problem, detail: "70-netgiro-pinpad.rules is not installed",
                fix: "sudo install -m 0644 udev/70-netgiro-pinpad.rules /etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger --subsystem-match=tty --action=change"))
        }

        // Group.
        if getgrnam(pinpadGroup) == nil {
            findings.append(Finding(
                check: "group", verdict: .problem, detail: "group \(pinpadGroup) does not exist",
                fix: "sudo systemd-sysusers udev/netgiro-pinpad.sysusers.conf (or: sudo groupadd --system \(pinpadGroup))"))
        } else if isMember(of: pinpadGroup) || geteuid() == 0 {
            findings.append(Finding(check: "group", verdict: .ok, detail: geteuid() == 0 ? "running as root" : "this user is in \(pinpadGroup)"))
        } else {
            findings.append(Finding(
                check: "group", verdict: .problem, detail: "this user is not in \(pinpadGroup), so it cannot open the pad",
                fix: "sudo usermod -aG \(pinpadGroup) \"$USER\", then log in again"))
        }

        // Device present and openable.
        var filter = PadFilter.supportedPads
        var fixedPath: String?
        if case .success(let c) = configuration {
            switch c.device {
            case .match(let f): filter = f
            case .path(let p): fixedPath = p
            }
        }
        if let fixedPath {
            if FileManager.default.fileExists(atPath: fixedPath) {
                let readable = access(fixedPath, R_OK | W_OK) == 0
                findings.append(Finding(
                    check: "device", verdict: readable ? .ok : .problem, detail: "\(fixedPath) \(readable ? "is there and may be opened" : "is there but this user may not open it")",
                    fix: readable ? nil : "add the user to the device's group (`ls -l \(fixedPath)`)"))
            } else {
                findings.append(Finding(check: "device", verdict: .problem, detail: "\(fixedPath) (device.path) does not exist", fix: "plug the pad in, or correct device.path"))
            }
        } else {
            do {
                let candidates = try DeviceListing.candidates(filter: filter)
                let pads = candidates.filter(\.matches)
                if pads.isEmpty {
                    let others = candidates.map { "\($0.path) \($0.usbID?.description ?? "?")" }.joined(separator: ", ")
                    findings.append(Finding(
                        check: "device", verdict: .problem,
                        detail: "no PIN pad matching \(filter.ids.map(\.description).joined(separator: ",")) is plugged in" + (others.isEmpty ? "" : " (other serial devices: \(others))"),
                        fix: "plug the pad in; a pad with another VID:PID needs device.match (see udev/README.md)"))
                } else {
                    for pad in pads {
                        findings.append(Finding(
                            check: "device", verdict: pad.canOpen ? .ok : .problem,
                            detail: "\(pad.path) serial \(pad.serial ?? "-")\(pad.canOpen ? "" : ": this user may not open it")",
                            fix: pad.canOpen ? nil : "install the udev rule and join group \(pinpadGroup) (above)"))
                    }
                }
            } catch {
                findings.append(Finding(check: "device", verdict: .warning, detail: "cannot list serial devices: \(error)", fix: nil))
            }
        }

        // Programs that grab serial devices.
        let running = processNames(procRoot: procRoot)
        for (name, fix) in [
            ("ModemManager", "the udev rule sets ID_MM_DEVICE_IGNORE for the pad; if the pad still vanishes, `sudo systemctl disable --now ModemManager` where no modem is used"),
            ("brltty", "brltty may claim generic USB-serial chips: see udev/README.md (brltty), or `sudo apt remove brltty` where no braille display is used"),
        ] {
            if running.contains(name) {
                findings.append(Finding(check: name, verdict: .warning, detail: "\(name) is running", fix: fix))
            } else {
                findings.append(Finding(check: name, verdict: .ok, detail: "not running"))
            }
        }

        // Netgíró with these credentials.
        if case .success(let c) = configuration {
            findings.append(await netgiroReachable(c))
        }
        return findings
    }

    /// What the running daemon says of its terminals: a pad that speaks no protocol version of
    /// this host is a problem (it cannot take payments).
    public static func terminalFindings(_ terminals: [TillTerminal]) -> [Finding] {
        terminals.map { t in
            if t.status == "incompatible" {
                return Finding(
                    check: "terminal \(t.id)", verdict: .problem,
                    detail: "incompatible: \(t.detail ?? "no protocol version in common") (model \(t.model ?? "-"), firmware \(t.firmware ?? "-"))",
                    fix: "update the pad's firmware to one that speaks protocol v1, or ngbridge to one that speaks the pad's version")
            }
            return Finding(check: "terminal \(t.id)", verdict: .ok, detail: "\(t.status)\(t.model.map { ", \($0)" } ?? "")\(t.firmware.map { " \($0)" } ?? "")")
        }
    }

    /// Asks Netgíró about a cart that does not exist: a signed, well-formed "no such cart" answer
    /// means the address, the app key and the secret are right.
    static func netgiroReachable(_ configuration: DaemonConfiguration) async -> Finding {
        guard var netgiroConfiguration = try? configuration.netgiroClientConfiguration() else {
            return Finding(check: "Netgíró", verdict: .problem, detail: "the client configuration is invalid", fix: "check netgiro.base-url")
        }
        netgiroConfiguration.responseSignatures = .verify
        netgiroConfiguration.retry = .none
        let client = NetgiroClient(configuration: netgiroConfiguration)
        let checked: Result<CartResponse, NetgiroClientError>
        do {
            checked = .success(try await client.checkCart(transactionId: "00000000-0000-0000-0000-000000000000"))
        } catch {
            checked = .failure(error)
        }
        try? await client.shutdown()  // awaited: the client's threads end before the finding is read
        do {
            let answer = try checked.get()
            return Finding(
                check: "Netgíró", verdict: .ok,
                detail: "\(configuration.netgiro.baseURL) answered with a valid signature (result \(answer.resultCode)): address, app key and secret are right")
        } catch {
            switch error {
            case .responseSignatureInvalid:
                return Finding(check: "Netgíró", verdict: .problem, detail: "the answer's signature does not match: \(error)", fix: "check the secret (netgiro.secret-file) belongs to netgiro.app-key")
            case .serverError(_, let status, _) where status == 401 || status == 403,
                .notNetgiroAnswer(_, let status, _) where status == 403:
                return Finding(check: "Netgíró", verdict: .problem, detail: "Netgíró refused the credentials (HTTP \(status))", fix: "check netgiro.app-key and the secret")
            default:
                return Finding(check: "Netgíró", verdict: .problem, detail: "\(configuration.netgiro.baseURL): \(error)", fix: "check the network, a proxy or firewall, and netgiro.base-url")
            }
        }
    }

    static func isMember(of group: String) -> Bool {
        guard let entry = getgrnam(group) else { return false }
        let gid = entry.pointee.gr_gid
        if getegid() == gid { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let n = getgroups(count, &groups)
        return groups.prefix(Int(max(n, 0))).contains(gid)
    }

    static func processNames(procRoot: String) -> Set<String> {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return [] }
        var names = Set<String>()
        for entry in entries where entry.allSatisfy(\.isNumber) {
            if let comm = try? String(contentsOfFile: "\(procRoot)/\(entry)/comm", encoding: .utf8) {
                names.insert(comm.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        return names
    }
}
