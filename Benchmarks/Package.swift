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
    ],
    targets: [
        .executableTarget(
            name: "ngbridge-bench",
            dependencies: [
                .product(name: "PinpadProtocol", package: "netgiro-pos-bridge"),
                .product(name: "SerialLine", package: "netgiro-pos-bridge"),
                .product(name: "Bridge", package: "netgiro-pos-bridge"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
    ]
)
