import Common
import Foundation
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

/// The pad's real firmware image (`firmware/`, Embedded Swift on a Cortex-M4) running in QEMU's
/// `mps2-an386` machine. Its host line (UART0) is a pty — published at a stable symlink, like the
/// in-process simulator's — and its keypad and display are reached through the debug channel
/// on UART1 (`console`; protocol in `firmware/README.md`).
///
/// Use: `let pad = try await PinpadQEMU.start(PinpadQEMU.Configuration(image: path))`, open
/// `pad.hostLinePath` with `SerialPort` like any pad, press keys with `pad.console`, and
/// `await pad.stop()` at the end (SIGTERM; QEMU removes its ptys). QEMU's pty backend notices
/// the host side only on a 1 s timer: the first bytes may take that long to reach the pad, which
/// the host's HELLO repetition covers.
public final class PinpadQEMU: Sendable {
    public struct Configuration: Sendable {
        /// The firmware image (`firmware/build/pinpad.elf`).
        public var image: String
        /// The QEMU binary: a path, or a name looked up in `PATH`.
        public var qemu: String
        /// Where to publish the host line as a symlink to QEMU's pty, or nil for none.
        public var linkPath: String?
        /// Further QEMU arguments, e.g. `["-icount", "shift=auto"]`.
        public var extraArguments: [String]
        /// How long to wait for QEMU to announce its ptys: a guard against a hung start only.
        public var startTimeout: Duration

        public init(
            image: String, qemu: String = "qemu-system-arm", linkPath: String? = nil,
            extraArguments: [String] = [], startTimeout: Duration = .seconds(10)
        ) {
            self.image = image
            self.qemu = qemu
            self.linkPath = linkPath
            self.extraArguments = extraArguments
            self.startTimeout = startTimeout
        }
    }

    public struct StartError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The QEMU machine: Cortex-M4 with CMSDK UARTs (UART0 host line, UART1 debug channel).
    public static let machine = "mps2-an386"

    /// The pty QEMU connected to UART0 (`/dev/pts/N`).
    public let hostLinePath: String
    /// The symlink published for the host line, if one was asked for.
    public let linkPath: String?
    /// The pty of UART1, the debug channel.
    public let debugLinePath: String
    /// Keys and screen of the emulated pad.
    public let console: PinpadQEMUConsole
    /// QEMU's process id.
    public let processID: Int32
    private let process: QEMUProcess

    private init(hostLinePath: String, linkPath: String?, debugLinePath: String, console: PinpadQEMUConsole, process: QEMUProcess) {
        self.hostLinePath = hostLinePath
        self.linkPath = linkPath
        self.debugLinePath = debugLinePath
        self.console = console
        self.processID = process.pid
        self.process = process
    }

    /// The full path of an executable named in `PATH` (or the path itself if it contains `/`),
    /// or nil when there is none — tests use this to skip when QEMU is not installed.
    public static func locate(_ executable: String = "qemu-system-arm") -> String? {
        if executable.contains("/") {
            return access(executable, X_OK) == 0 ? executable : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(executable)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The QEMU arguments for an image: headless, no monitor, UART0 and UART1 on ptys.
    public static func arguments(image: String, extra: [String] = []) -> [String] {
        ["-M", machine, "-display", "none", "-monitor", "none",
         "-serial", "pty", "-serial", "pty", "-kernel", image] + extra
    }

    /// Starts QEMU with the image, waits until it has announced both ptys, publishes the host
    /// line's symlink and opens the debug channel.
    public static func start(_ configuration: Configuration) async throws -> PinpadQEMU {
        guard let qemu = locate(configuration.qemu) else {
            throw StartError(description: "cannot start the emulated pad: \(configuration.qemu) not found — install it (apt-get install qemu-system-arm)")
        }
        guard FileManager.default.isReadableFile(atPath: configuration.image) else {
            throw StartError(description: "cannot start the emulated pad: no firmware image at \(configuration.image) — build it with `make firmware`")
        }
        let process = try QEMUProcess.launch(qemu, arguments: arguments(image: configuration.image, extra: configuration.extraArguments))
        do {
            let ptys = try await process.waitForPTYs(count: 2, timeout: configuration.startTimeout)
            if let link = configuration.linkPath {
                try publish(ptys[0], at: link)
            }
            let console: PinpadQEMUConsole
            do {
                console = try await PinpadQEMUConsole.open(ptys[1])
            } catch {
                if let link = configuration.linkPath { unpublish(link, target: ptys[0]) }
                throw error
            }
            return PinpadQEMU(hostLinePath: ptys[0], linkPath: configuration.linkPath, debugLinePath: ptys[1], console: console, process: process)
        } catch {
            await process.terminate()
            throw error
        }
    }

    /// Closes the debug channel, stops QEMU (SIGTERM, SIGKILL after 5 s) and removes the symlink.
    /// Safe to call more than once.
    public func stop() async {
        await console.close()
        await process.terminate()
        if let link = linkPath { Self.unpublish(link, target: hostLinePath) }
    }

    /// Whether QEMU is still running.
    public var isRunning: Bool { process.isRunning }

    /// What QEMU printed (its pty announcements and any errors), for failure messages.
    public var qemuOutput: String { process.output }

    private static func publish(_ target: String, at link: String) throws {
        // A symlink there is taken as stale (pty numbers are reused, so whether its target
        // exists says nothing) and replaced, as the in-process simulator does; anything else
        // there is left alone.
        var info = stat()
        if lstat(link, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFLNK else {
                throw StartError(description: "cannot publish the emulated pad at \(link): something other than a symbolic link is there — choose another path")
            }
            unlink(link)
        }
        do {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        } catch {
            throw StartError(description: "cannot publish the emulated pad at \(link): \(error.localizedDescription) — choose another path")
        }
    }

    private static func unpublish(_ link: String, target: String) {
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target {
            try? FileManager.default.removeItem(atPath: link)
        }
    }
}

/// The QEMU child process and everything it prints (stdout and stderr together).
///
/// Started with `posix_spawn` rather than Foundation's `Process`: the child must begin with an
/// empty signal mask and default dispositions. A Swift process's threads block signals, and a
/// QEMU that inherits a blocked SIGTERM ignores the polite way to stop it.
final class QEMUProcess: Sendable {
    /// QEMU's output so far, and whether it ended and QEMU exited: written by the reader and
    /// waiter threads, read by the runner.
    private let state = Locked((buffer: "", ended: false, exited: false))

    let pid: Int32

    private init(pid: Int32) {
        self.pid = pid
    }

    /// `setpriv --pdeathsig KILL`, where util-linux has it: QEMU is killed when its parent
    /// thread ends, so a test or command killed with SIGKILL leaves no emulated pad behind.
    static let deathSignalWrapper: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Starts QEMU from a thread of its own that lives exactly as long as QEMU: the thread
    /// spawns it (under `setpriv --pdeathsig KILL` where available — the death signal follows
    /// the spawning *thread*, so that thread must not end first) and then waits for it, reaping
    /// it when it exits.
    static func launch(_ executable: String, arguments: [String]) throws -> QEMUProcess {
        let started = LaunchResult()
        let ready = DispatchSemaphore(value: 0)
        // A thread, not a task: it blocks in waitpid(2), and the death signal needs it (above).
        let thread = Thread {
            let result: Result<QEMUProcess, PinpadQEMU.StartError>
            do {
                if let wrapper = deathSignalWrapper {
                    result = .success(try spawn(wrapper, arguments: ["--pdeathsig", "KILL", "--", executable] + arguments))
                } else {
                    result = .success(try spawn(executable, arguments: arguments))
                }
            } catch let error as PinpadQEMU.StartError {
                result = .failure(error)
            } catch {
                result = .failure(PinpadQEMU.StartError(description: "cannot start \(executable): \(error)"))
            }
            started.value = result
            ready.signal()
            guard case .success(let child) = result else { return }
            child.waitUntilExit()
        }
        thread.name = "qemu \(executable)"
        thread.start()
        ready.wait()
        return try started.value!.get()
    }

    /// The spawning thread's answer; written before `ready.signal()`, read after `ready.wait()`.
    private final class LaunchResult: @unchecked Sendable {
        var value: Result<QEMUProcess, PinpadQEMU.StartError>?
    }

    /// Blocks until QEMU exits and reaps it.
    private func waitUntilExit() {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        state.withLock { $0.exited = true }
    }

    private static func spawn(_ executable: String, arguments: [String]) throws -> QEMUProcess {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw PinpadQEMU.StartError(description: "cannot start \(executable): pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec: the child gets only its dup2'ed copies, never the pipe's read end.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signalNumber in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw PinpadQEMU.StartError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        let child = QEMUProcess(pid: pid)
        let reader = fds[0]
        // Drain QEMU's output for as long as it runs, so it never blocks on a full pipe; on a
        // thread, as read(2) blocks.
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                child.append(String(decoding: chunk[..<n], as: UTF8.self))
            }
            close(reader)
            child.markEnded()
        }
        return child
    }

    private func append(_ text: String) {
        state.withLock {
            $0.buffer += text
            if $0.buffer.utf8.count > 64 * 1024 { $0.buffer = String($0.buffer.suffix(32 * 1024)) }
        }
    }

    private func markEnded() {
        state.withLock { $0.ended = true }
    }

    var output: String {
        state.withLock { $0.buffer }
    }

    /// Whether QEMU is still running (its own thread reaps it when it exits).
    var isRunning: Bool {
        state.withLock { !$0.exited }
    }

    /// Whether QEMU's output ended (it exited or closed it).
    private var hasEnded: Bool {
        state.withLock { $0.ended }
    }

    /// The `/dev/pts/N` paths from QEMU's "char device redirected to /dev/pts/N (label serialK)"
    /// lines, in serial-port order. (QEMU 7.2 ignores `path=` on `-chardev pty`.)
    static func ptyPaths(in output: String) -> [String] {
        var byLabel: [(Int, String)] = []
        for line in output.split(separator: "\n") {
            guard let range = line.range(of: "redirected to ") else { continue }
            let rest = line[range.upperBound...]
            let path = String(rest.prefix { !$0.isWhitespace })
            var index = byLabel.count
            if let label = rest.range(of: "(label serial") {
                index = Int(rest[label.upperBound...].prefix { $0.isNumber }) ?? index
            }
            byLabel.append((index, path))
        }
        return byLabel.sorted { $0.0 < $1.0 }.map(\.1)
    }

    func waitForPTYs(count: Int, timeout: Duration) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = output
            let paths = Self.ptyPaths(in: text)
            if paths.count >= count { return Array(paths.prefix(count)) }
            let gone = hasEnded
            if gone || !isRunning || ContinuousClock.now > deadline {
                let what = gone || !isRunning ? "QEMU exited" : "QEMU announced no ptys within \(timeout)"
                throw PinpadQEMU.StartError(description: "cannot start the emulated pad: \(what); its output: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM (QEMU exits within milliseconds and removes its ptys), SIGKILL after 5 s.
    func terminate() async {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }
}
