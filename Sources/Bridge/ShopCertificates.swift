import Crypto
import Foundation
import SwiftASN1
import X509

/// `ngbridge certs`: the shop's own small PKI for the till API on the LAN. A shop CA, the
/// bridge's server certificate (names from `--host`/`--ip`) and client certificates for tills,
/// all P-256 / ECDSA-SHA256, written as PEM; private keys mode 0600.
public enum ShopCertificates {
    public struct Written: Sendable {
        public var path: String
        public var subject: String
        public var notValidAfter: Date
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates DIR/ca.pem, ca-key.pem, server.pem, server-key.pem, till.pem, till-key.pem.
    /// Refuses to overwrite an existing CA (tills already trust it).
    public static func initialise(
        directory: String, hosts: [String], ips: [String], days: Int, now: Date = Date()
    ) throws -> [Written] {
        guard !hosts.isEmpty || !ips.isEmpty else {
            throw Failure(description: "name the bridge as tills will reach it: --host NAME and/or --ip ADDRESS (its LAN address)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caPath = directory + "/ca.pem"
        guard !FileManager.default.fileExists(atPath: caPath) else {
            throw Failure(description: "\(caPath) exists — a shop CA is already there; use `ngbridge certs till \(directory) --name NAME` for another till, or another directory")
        }
        var names: [GeneralName] = hosts.map { .dnsName($0) }
        for ip in ips {
            guard let bytes = addressBytes(ip) else { throw Failure(description: "--ip \(ip) is not an IPv4 or IPv6 address") }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let notAfter = now.addingTimeInterval(Double(days) * 86400)
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("ngbridge shop")
            CommonName("ngbridge shop CA")
        }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: notAfter, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(caKey.publicKey))
            },
            issuerPrivateKey: .init(caKey))
        var written: [Written] = []
        try write(ca, caPath, &written)
        try writeKey(caKey, directory + "/ca-key.pem")
        let serverName = hosts.first ?? ips[0]
        let server = try issue(
            common: serverName, usage: .serverAuth, sans: names, ca: ca, caKey: caKey, notBefore: now.addingTimeInterval(-300), notAfter: notAfter)
        try write(server.0, directory + "/server.pem", &written)
        try writeKey(server.1, directory + "/server-key.pem")
        let till = try issue(common: "till", usage: .clientAuth, sans: [], ca: ca, caKey: caKey, notBefore: now.addingTimeInterval(-300), notAfter: notAfter)
        try write(till.0, directory + "/till.pem", &written)
        try writeKey(till.1, directory + "/till-key.pem")
        return written
    }

    /// Another till's client certificate from the CA in DIR: DIR/NAME.pem and NAME-key.pem.
    public static func till(directory: String, name: String, validFrom: Date, days: Int) throws -> [Written] {
        guard name.range(of: #"^[A-Za-z0-9._-]{1,64}$"#, options: .regularExpression) != nil else {
            throw Failure(description: "--name \(name) must be 1–64 letters, digits, '.', '_' or '-' (it becomes a file name)")
        }
        let ca: Certificate
        let caKey: P256.Signing.PrivateKey
        do {
            ca = try Certificate(pemEncoded: String(contentsOfFile: directory + "/ca.pem", encoding: .utf8))
            caKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: directory + "/ca-key.pem", encoding: .utf8))
        } catch {
            throw Failure(description: "cannot read the shop CA from \(directory)/ca.pem and ca-key.pem (\(error)) — run `ngbridge certs init \(directory)` first")
        }
        let till = try issue(
            common: name, usage: .clientAuth, sans: [], ca: ca, caKey: caKey, notBefore: validFrom, notAfter: validFrom.addingTimeInterval(Double(days) * 86400))
        var written: [Written] = []
        try write(till.0, directory + "/\(name).pem", &written)
        try writeKey(till.1, directory + "/\(name)-key.pem")
        return written
    }

    static func issue(
        common: String, usage: ExtendedKeyUsage.Usage, sans: [GeneralName], ca: Certificate, caKey: P256.Signing.PrivateKey, notBefore: Date,
        notAfter: Date
    ) throws -> (Certificate, P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("ngbridge shop")
            CommonName(common)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                if !sans.isEmpty { SubjectAlternativeNames(sans) }
                AuthorityKeyIdentifier(keyIdentifier: try? ca.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))
        return (certificate, key)
    }

    static func write(_ certificate: Certificate, _ path: String, _ written: inout [Written]) throws {
        try writeFile(path, try certificate.serializeAsPEM().pemString + "\n", mode: 0o644)
        written.append(Written(path: path, subject: "\(certificate.subject)", notValidAfter: certificate.notValidAfter))
    }

    static func writeKey(_ key: P256.Signing.PrivateKey, _ path: String) throws {
        try writeFile(path, key.pemRepresentation + "\n", mode: 0o600)
    }

    /// Created with its mode from the start (never world-readable for a moment); an existing file is refused.
    static func writeFile(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno))) — it may exist already; remove it or use another directory")
        }
        defer { close(fd) }
        _ = fchmod(fd, mode)  // whatever the umask
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
