// swift-tools-version: 6.1
// netgiro-pos-bridge: drives a USB-serial PIN pad and runs Netgíró's v1 offline (POS) checkout.
// Module plan and dependency rules: ARCHITECTURE.md — pure state machines
// in the middle (PinpadProtocol, PinpadFirmware, Checkout), thin I/O shells around them.
import PackageDescription

let package = Package(
    name: "netgiro-pos-bridge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ngbridge", targets: ["ngbridge"]),
        // For the Benchmarks/ package (and integrators who embed the protocol or the bridge).
        .library(name: "PinpadProtocol", targets: ["PinpadProtocol"]),
        .library(name: "SerialLine", targets: ["SerialLine"]),
        .library(name: "Bridge", targets: ["Bridge"]),
        // For the Benchmarks/ package's in-process payment benchmarks (simulators, runner, journal).
        .library(name: "PinpadFirmware", targets: ["PinpadFirmware"]),
        .library(name: "NetgiroModels", targets: ["NetgiroModels"]),
        .library(name: "NetgiroAPI", targets: ["NetgiroAPI"]),
        .library(name: "Checkout", targets: ["Checkout"]),
        .library(name: "Journal", targets: ["Journal"]),
        .library(name: "NetgiroSim", targets: ["NetgiroSim"]),
        .library(name: "PinpadSim", targets: ["PinpadSim"]),
        .library(name: "LineFaults", targets: ["LineFaults"]),
        .library(name: "Common", targets: ["Common"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.0.0"),
    ],
    targets: [
        // Embedded-clean: imports nothing. Frames, CRC, COBS, messages, link-layer state machine.
        .target(name: "PinpadProtocol"),
        // Embedded-clean: the pad's logic (screen model, prompt table, keypad entry).
        .target(name: "PinpadFirmware", dependencies: ["PinpadProtocol"]),
        // termios tty, pty pairs, exclusive open, poll()-based async I/O. System only.
        .target(name: "SerialLine", dependencies: ["Common", "CTimerFD"]),
        // The kernel's timerfd (header only, glibc): the line thread's earlier deadlines.
        .systemLibrary(name: "CTimerFD"),
        .systemLibrary(
            name: "CUdev", pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]),
        .target(name: "DeviceWatch", dependencies: ["CUdev", "Common"]),
        // Test-only: umockdev's testbed API, for fake USB pads and uevents in DeviceWatchTests.
        .systemLibrary(
            name: "CUmockdev", pkgConfig: "umockdev-1.0",
            providers: [.apt(["libumockdev-dev"])]),
        // Netgíró v1's wire format without any HTTP: JSON models, result codes, errors, dates,
        // personal-data masking, the signing recipe. Foundation, plus swift-crypto for SHA-256 only.
        .target(
            name: "NetgiroModels",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Netgíró v1 Checkout and partner-refund HTTP clients, the nonce generator.
        .target(
            name: "NetgiroAPI",
            dependencies: [
                "NetgiroModels", "Common",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        // The till API's wire types and request validation (Foundation only; Bridge re-exports it).
        .target(name: "TillAPIContract"),
        // One payment as a pure state machine: customer-id rules, poll schedule, race rules.
        .target(name: "Checkout", dependencies: ["NetgiroModels"]),
        // Admission: which terminal, busy, idempotency, reference reuse, cancel — a pure core.
        .target(name: "Admission", dependencies: ["Checkout", "NetgiroModels", "TillAPIContract"]),
        // Durable payment records (SQLite, write-ahead intents) and crash-recovery queries.
        .target(
            name: "Journal",
            dependencies: ["Checkout", .product(name: "GRDB", package: "GRDB.swift")]),
        // The repository's one lock box (`Locked`) and one seeded generator (`SeededRandom`).
        .target(name: "Common"),
        // Netgíró API simulator: strict pure core, HTTP shell, control client, callback receiver.
        .target(
            name: "NetgiroSim",
            dependencies: [
                "NetgiroModels", "Common",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Faults on a pad's line: the fault description and the proxy between a pad and the bridge.
        .target(name: "LineFaults", dependencies: ["SerialLine", "Common"]),
        // PIN-pad simulator: the firmware on a pty, terminal UI, QEMU runner, scenarios, transcript.
        .target(
            name: "PinpadSim",
            dependencies: ["PinpadProtocol", "PinpadFirmware", "SerialLine", "LineFaults", "Common"]),
        // The daemon and host-side tooling that is not argument parsing.
        .target(
            name: "Bridge",
            dependencies: [
                "PinpadProtocol", "SerialLine", "DeviceWatch", "NetgiroAPI", "Checkout", "Journal", "TillAPIContract", "Admission", "Common",
                .product(name: "Logging", package: "swift-log"),
                // The daemon: till API, configuration, lifecycle, metrics.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The till API on the shop's LAN: TLS with client certificates; `ngbridge certs init`.
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // `ngbridge demo`: the simulators and the bridge's pieces wired for one payment.
        .target(
            name: "Demo",
            dependencies: [
                "Bridge", "NetgiroSim", "PinpadSim", "LineFaults", "Common", "Checkout", "Journal", "NetgiroAPI", "PinpadFirmware", "PinpadProtocol",
                .product(name: "Logging", package: "swift-log"),
                // `demo --till-page`: the example till's page server in front of the till API.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The libFuzzer entry and corpus replay shared by the fuzz targets.
        .target(name: "FuzzSupport"),
        // libFuzzer target for the protocol's receiving side (see the file's header for the commands).
        .executableTarget(name: "ProtocolFuzz", dependencies: ["PinpadProtocol", "FuzzSupport"]),
        // libFuzzer target for the pad firmware's frame handling, driven by fuzzed host programs.
        .executableTarget(name: "FirmwareFuzz", dependencies: ["PinpadFirmware", "PinpadProtocol", "FuzzSupport"]),
        // libFuzzer target for the till API's request decoding and validation (body + headers).
        .executableTarget(name: "TillAPIFuzz", dependencies: ["TillAPIContract", "FuzzSupport"]),
        .executableTarget(
            name: "ngbridge",
            dependencies: [
                "Bridge", "NetgiroSim", "PinpadSim", "LineFaults", "Common", "Demo", "DeviceWatch", "NetgiroAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "PinpadProtocolTests", dependencies: ["PinpadProtocol", "Bridge", "Common"]),
        .testTarget(name: "SerialLineTests", dependencies: ["SerialLine", "Common"]),
        .testTarget(name: "DeviceWatchTests", dependencies: ["DeviceWatch", "CUmockdev"], exclude: ["Fixtures"]),
        .testTarget(name: "NetgiroAPITests", dependencies: ["NetgiroAPI", "NetgiroModels", "NetgiroSim", "Common"]),
        // The firmware image in QEMU, driven over its pty by the bridge's host side (skips without QEMU).
        .testTarget(
            name: "PinpadQEMUTests",
            dependencies: [
                "NetgiroSim", "PinpadSim", "Bridge", "SerialLine", "PinpadProtocol", "Checkout", "Journal", "NetgiroAPI",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "BridgeTests", dependencies: ["Bridge", "Checkout", "PinpadProtocol", "PinpadFirmware", "PinpadSim", "LineFaults", "SerialLine"]),
        .testTarget(name: "CheckoutTests", dependencies: ["Checkout", "Journal", "Bridge", "NetgiroSim", "NetgiroAPI", "NetgiroModels", "Admission", "TillAPIContract", "Common"]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Admission", "Bridge", "Checkout", "Journal", "NetgiroAPI", "NetgiroSim", "PinpadSim", "PinpadFirmware", "PinpadProtocol", "Common",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(name: "PinpadFirmwareTests", dependencies: ["PinpadFirmware", "PinpadProtocol", "Common"]),
        .testTarget(name: "PinpadSimulatorTests", dependencies: ["PinpadSim", "LineFaults", "PinpadFirmware", "PinpadProtocol", "SerialLine", "Bridge"]),
    ]
)
