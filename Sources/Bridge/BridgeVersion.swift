/// The product's version, shown by `ngbridge --version` and reported to the PIN pad in HELLO.
public enum BridgeVersion {
    public static let current = "0.1.0"
}
