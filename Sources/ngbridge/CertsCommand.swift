import ArgumentParser
import Bridge
import Foundation

/// `ngbridge certs init|till`
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Certificates for the till API on the shop's LAN (TLS with client certificates).",
        subcommands: [Init.self, Till.self])

    static func report(_ written: [ShopCertificates.Written]) {
        let format = ISO8601DateFormatter()
        for w in written { print("\(w.path)  \(w.subject)  expires \(format.string(from: w.notValidAfter))") }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create a shop CA, the bridge's server certificate and a till's client certificate in DIR.",
            discussion: """
                Writes ca.pem, ca-key.pem, server.pem, server-key.pem, till.pem, till-key.pem (keys mode 0600). \
                Then: api.tls.certificate=DIR/server.pem, api.tls.key=DIR/server-key.pem, api.tls.client-ca=DIR/ca.pem; \
                the till gets till.pem, till-key.pem and ca.pem (to check the bridge). Keep ca-key.pem off the till.
                """)
        @Argument(help: "Directory for the files (created if missing).") var directory: String
        @Option(name: .customLong("host"), help: "DNS name tills use for the bridge (repeatable).") var hosts: [String] = []
        @Option(name: .customLong("ip"), help: "IP address tills use for the bridge (repeatable).") var ips: [String] = []
        @Option(help: "Validity in days.") var days = 825

        func run() throws {
            do {
                CertsCommand.report(try ShopCertificates.initialise(directory: directory, hosts: hosts, ips: ips, days: days))
            } catch let error as ShopCertificates.Failure {
                throw ValidationError(error.description)
            }
        }
    }

    struct Till: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "till", abstract: "Issue another till's client certificate from the shop CA in DIR (DIR/NAME.pem, NAME-key.pem).")
        @Argument(help: "Directory holding ca.pem and ca-key.pem.") var directory: String
        @Option(help: "The till's name (file name and certificate CN).") var name: String
        @Option(help: "Validity in days.") var days = 825
        @Option(help: "First day of validity, YYYY-MM-DD (default: now).") var validFrom: String?

        func run() throws {
            var from = Date()
            if let validFrom {
                let f = DateFormatter()
                f.dateFormat = "yyyy-MM-dd"
                f.timeZone = TimeZone(identifier: "UTC")
                guard let d = f.date(from: validFrom) else { throw ValidationError("--valid-from \(validFrom) is not YYYY-MM-DD") }
                from = d
            }
            do {
                CertsCommand.report(try ShopCertificates.till(directory: directory, name: name, validFrom: from, days: days))
            } catch let error as ShopCertificates.Failure {
                throw ValidationError(error.description)
            }
        }
    }
}
