// swift-tools-version: 6.1
// Benchmarks of netgiro-pos-bridge, kept in their own package so the product's build stays light.
// Run: cd Benchmarks && swift run -c release ngbridge-bench   (see BENCHMARKS.md at the top)
import PackageDescription

let package = Package(
    name: "netgiro-pos-bridge-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "netgiro-pos-bridge", path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // The same versions the product resolves: a stub Netgíró server and bare HTTP references.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // malloc & co. interposed in the benchmark executable, counting calls per thread (glibc).
        .target(name: "AllocationCounter"),
        .executableTarget(
            name: "ngbridge-bench",
            dependencies: [
                "AllocationCounter",
                .product(name: "PinpadProtocol", package: "netgiro-pos-bridge"),
                .product(name: "PinpadFirmware", package: "netgiro-pos-bridge"),
                .product(name: "SerialLine", package: "netgiro-pos-bridge"),
                .product(name: "Bridge", package: "netgiro-pos-bridge"),
                .product(name: "NetgiroAPI", package: "netgiro-pos-bridge"),
                .product(name: "Checkout", package: "netgiro-pos-bridge"),
                .product(name: "Journal", package: "netgiro-pos-bridge"),
                .product(name: "NetgiroSim", package: "netgiro-pos-bridge"),
                .product(name: "Common", package: "netgiro-pos-bridge"),
                .product(name: "PinpadSim", package: "netgiro-pos-bridge"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
    ]
)
