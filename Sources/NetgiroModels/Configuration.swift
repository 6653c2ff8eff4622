/// What to do with the signature Netgíró puts on its responses (`netgiro_nonce`,
/// `netgiro_signature`: SHA-256 of SecretKey + response nonce + request URL + raw response body,
/// as Netgíró's 2016 .NET client checked it). Not yet confirmed against the live service, so
/// the default is ``warn``.
public enum ResponseSignatureMode: String, Sendable, Hashable, CaseIterable {
    /// A missing or wrong signature fails the call (``NetgiroClientError/responseSignatureInvalid(call:reason:)``).
    case verify
    /// A missing or wrong signature is logged as a warning; the response is used.
    case warn
    /// Not checked.
    case off
}

/// Per-call time limits. `connect` bounds connection set-up (TCP + TLS); each call's limit bounds
/// the whole exchange. Keep `connect` below the call limits, so that a server that cannot be
/// reached is reported as "not sent" rather than as a timeout of unknown outcome.
public struct NetgiroTimeouts: Sendable, Hashable {
    public var connect: Duration = .seconds(5)
    public var insertCart: Duration = .seconds(20)
    public var checkCart: Duration = .seconds(10)
    public var confirmCart: Duration = .seconds(20)
    public var cancelCart: Duration = .seconds(10)

    public init() {}

    public subscript(call: NetgiroCall) -> Duration {
        switch call {
        case .insertCart: return insertCart
        case .checkCart: return checkCart
        case .confirmCart: return confirmCart
        case .cancelCart: return cancelCart
        }
    }

    /// Every limit set to the same value (tests, the CLI's `--timeout`).
    public static func uniform(_ limit: Duration, connect: Duration? = nil) -> NetgiroTimeouts {
        var t = NetgiroTimeouts()
        t.insertCart = limit
        t.checkCart = limit
        t.confirmCart = limit
        t.cancelCart = limit
        t.connect = connect ?? min(limit, .seconds(5))
        return t
    }
}

/// Retries of the calls that are safe to repeat (CheckCart, CancelCart). InsertCart and
/// ConfirmCart are never repeated by the client.
public struct NetgiroRetryPolicy: Sendable, Hashable {
    /// Attempts in all, including the first.
    public var maxAttempts: Int = 3
    /// Pause before attempt n+1 is `backoff * n`.
    public var backoff: Duration = .milliseconds(500)

    public init(maxAttempts: Int = 3, backoff: Duration = .milliseconds(500)) {
        self.maxAttempts = max(1, maxAttempts)
        self.backoff = backoff
    }

    public static let none = NetgiroRetryPolicy(maxAttempts: 1, backoff: .zero)
}

/// Everything the client needs to talk to one Netgíró endpoint.
public struct NetgiroConfiguration: Sendable {
    public static let productionBaseURL = "https://api.netgiro.is/v1/"
    public static let testBaseURL = "https://api.test.netgiro.is/v1/"

    /// Always ends with `/`; the call paths (`Checkout/InsertCart` …) are appended to it.
    public private(set) var baseURL: String
    /// The ApplicationId (a GUID), sent as `netgiro_appkey`.
    public var appKey: String
    public var secret: NetgiroSecret
    public var responseSignatures: ResponseSignatureMode
    public var timeouts: NetgiroTimeouts
    public var retry: NetgiroRetryPolicy

    public init(
        baseURL: String, appKey: String, secret: NetgiroSecret,
        responseSignatures: ResponseSignatureMode = .warn,
        timeouts: NetgiroTimeouts = NetgiroTimeouts(),
        retry: NetgiroRetryPolicy = NetgiroRetryPolicy()
    ) throws(NetgiroConfigurationError) {
        let lower = baseURL.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://"), baseURL.count > 8,
            !baseURL.contains("?"), !baseURL.contains("#")
        else { throw .invalidBaseURL(baseURL) }
        guard !appKey.isEmpty else { throw .missingAppKey }
        self.baseURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        self.appKey = appKey
        self.secret = secret
        self.responseSignatures = responseSignatures
        self.timeouts = timeouts
        self.retry = retry
    }

    /// The full URL of a call, exactly as sent and signed.
    public func url(for call: NetgiroCall) -> String { baseURL + call.path }
}
