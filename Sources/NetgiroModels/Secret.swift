import Foundation

/// The Netgíró SecretKey. Held as the text it is issued as (it looks like base64; it is never
/// decoded). Its `description`, `debugDescription` and reflection are redacted so the value
/// cannot leak into logs, error text or `dump` output by accident.
///
/// Load it with ``fromFile(_:)`` or ``fromEnvironment(_:)``; there is deliberately no way to
/// take it from a command-line argument in the tools.
public struct NetgiroSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret's UTF-8 bytes, used only to compute signatures and for the partner API's `token`
    /// header (package-wide, never public: nothing outside this package reads the secret).
    package let utf8: [UInt8]

    public init(_ value: String) {
        self.utf8 = Array(value.utf8)
    }

    public var description: String { "<redacted secret>" }
    public var debugDescription: String { "<redacted secret>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    public var isEmpty: Bool { utf8.isEmpty }

    /// Reads the secret from a file: the whole file, without leading/trailing whitespace and
    /// newlines.
    public static func fromFile(_ path: String) throws -> NetgiroSecret {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw NetgiroConfigurationError.secretFileUnreadable(
                path: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw NetgiroConfigurationError.secretFileUnreadable(path: path, reason: "it is not UTF-8 text")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw NetgiroConfigurationError.secretFileEmpty(path: path) }
        return NetgiroSecret(trimmed)
    }

    /// Reads the secret from an environment variable (default `NGBRIDGE_NETGIRO_SECRET`).
    public static func fromEnvironment(
        _ name: String = NetgiroSecret.environmentVariable,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> NetgiroSecret {
        guard let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty
        else { throw NetgiroConfigurationError.secretEnvironmentMissing(variable: name) }
        return NetgiroSecret(value)
    }

    /// The environment variable the tools read the secret from when no file is given.
    public static let environmentVariable = "NGBRIDGE_NETGIRO_SECRET"

    /// The SecretKey of Netgíró's public sandbox account "NETGIRO POST" (published in Netgíró's
    /// testing docs). Not a secret; it is what the simulator uses by default.
    public static let publicSandbox = NetgiroSecret(
        "YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A="
    )
    /// The ApplicationId of the public sandbox account "NETGIRO POST".
    public static let publicSandboxAppKey = "881E674F-7891-4C20-AFD8-56FE2624C4B5"
}

/// Problems with the client's configuration, each saying what to do about it.
public enum NetgiroConfigurationError: Error, Equatable, CustomStringConvertible {
    case secretFileUnreadable(path: String, reason: String)
    case secretFileEmpty(path: String)
    case secretEnvironmentMissing(variable: String)
    case invalidBaseURL(String)
    case missingAppKey

    public var description: String {
        switch self {
        case .secretFileUnreadable(let path, let reason):
            return "cannot read the Netgíró secret from \(path): \(reason) — check the path and its permissions"
        case .secretFileEmpty(let path):
            return "the Netgíró secret file \(path) is empty — put the SecretKey from Netgíró in it"
        case .secretEnvironmentMissing(let variable):
            return "no Netgíró secret: set \(variable) or give a secret file"
        case .invalidBaseURL(let url):
            return "the Netgíró base URL \(url) is not an http(s) URL — use e.g. https://api.netgiro.is/v1/"
        case .missingAppKey:
            return "no Netgíró app key (ApplicationId) configured"
        }
    }
}
