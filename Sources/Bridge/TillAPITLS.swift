import Foundation
import HummingbirdTLS

/// The till API over TLS with client certificates (mutual TLS): the bridge shows its server
/// certificate, and only a till whose certificate was issued by the shop's CA (`api.tls.client-ca`)
/// gets past the handshake — a missing, foreign or expired certificate is refused there, before
/// any HTTP. `ngbridge certs init` makes a CA and the two certificates for first setup.
public struct TillAPITLS: Sendable {
    public var certificatePath: String
    public var keyPath: String
    public var clientCAPath: String
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    let clientCAs: [NIOSSLCertificate]

    /// The TLS settings from the three `api.tls.*` keys: none set is plain (nil); one or two set
    /// is a mistake; all three are read and checked now, so a bad file stops start-up naming its key.
    static func resolve(certificate: String?, key: String?, clientCA: String?) throws(DaemonConfigurationError) -> TillAPITLS? {
        let given = [("api.tls.certificate", certificate), ("api.tls.key", key), ("api.tls.client-ca", clientCA)]
        if given.allSatisfy({ $0.1 == nil }) { return nil }
        if let missing = given.first(where: { $0.1 == nil }) {
            throw DaemonConfigurationError(
                key: missing.0,
                problem: "not set — TLS for the till API needs all three of api.tls.certificate, api.tls.key and api.tls.client-ca (`ngbridge certs init DIR` makes them)")
        }
        let (certificate, key, clientCA) = (certificate!, key!, clientCA!)
        try DaemonConfiguration.refuseIfOthersMayRead(key, key: "api.tls.key", what: "the till API's TLS private key")
        let chain = try certificates(certificate, key: "api.tls.certificate", what: "the bridge's server certificate")
        let clientCAs = try certificates(clientCA, key: "api.tls.client-ca", what: "the shop CA certificate")
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw DaemonConfigurationError(
                key: "api.tls.key", problem: "cannot read a PEM private key from \(key) (\(error)) — check the path, its owner, and that it is the key of api.tls.certificate")
        }
        return TillAPITLS(certificatePath: certificate, keyPath: key, clientCAPath: clientCA, chain: chain, key: privateKey, clientCAs: clientCAs)
    }

    static func certificates(_ path: String, key: String, what: String) throws(DaemonConfigurationError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw DaemonConfigurationError(key: key, problem: "cannot read \(path) (\(what)) — check the path and that the ngbridge user may read it")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw DaemonConfigurationError(key: key, problem: "\(path) is not a PEM certificate (\(error)) — it should hold \(what)")
        }
        guard !certificates.isEmpty else {
            throw DaemonConfigurationError(key: key, problem: "\(path) holds no PEM certificate — it should hold \(what)")
        }
        return certificates
    }

    /// Server side: our chain and key, TLS 1.2 or later, and a client certificate required and
    /// verified against the shop CA only (not the system's roots; tills have no host name to check).
    public var serverConfiguration: TLSConfiguration {
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        c.minimumTLSVersion = .tlsv12
        c.certificateVerification = .noHostnameVerification
        c.trustRoots = .certificates(clientCAs)
        c.sendCANameList = true
        return c
    }
}
