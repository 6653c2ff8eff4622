import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ProcessHolder {
    /// Processes holding a `flock` on the file with this `st_dev`/`st_ino`, read from
    /// `/proc/locks`. Best effort: empty when the file cannot be read.
    static func lockHolders(device: UInt64, inode: UInt64) -> [ProcessHolder] {
        guard let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return [] }
        // st_dev encoding as glibc's gnu_dev_major/gnu_dev_minor decode it.
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        var holders: [ProcessHolder] = []
        for line in text.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 1234 00:05:678 0 EOF"
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]) else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, let maj = UInt64(id[0], radix: 16), let min = UInt64(id[1], radix: 16),
                let ino = UInt64(id[2])
            else { continue }
            if maj == major && min == minor && ino == inode {
                holders.append(ProcessHolder(pid: pid, command: command(of: pid)))
            }
        }
        return holders
    }

    /// Processes that have `path` open, found by reading `/proc/*/fd` links. Best effort: only
    /// processes this user may inspect are seen.
    static func openers(of path: String) -> [ProcessHolder] {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var holders: [ProcessHolder] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != me else { continue }
            let fdDirectory = "/proc/\(entry)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
            for fd in fds {
                if let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
                    destination == target
                {
                    holders.append(ProcessHolder(pid: pid, command: command(of: pid)))
                    break
                }
            }
        }
        return holders
    }

    static func command(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
