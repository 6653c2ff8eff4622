// What every fuzz executable does around its own property check: hand control to libFuzzer
// (when built with -sanitize=fuzzer -DFUZZING), or replay inputs from files and directories
// (a plain build, how CI replays the corpora and how a found crash becomes a regression input).
import Foundation

public enum FuzzMain {
    /// Runs `check` on the bytes libFuzzer passes to `LLVMFuzzerTestOneInput`.
    @inline(__always)
    public static func input(_ start: UnsafePointer<UInt8>?, _ count: Int, _ check: ([UInt8]) -> Void) -> CInt {
        guard let start else { return 0 }
        check(Array(UnsafeBufferPointer(start: start, count: count)))
        return 0
    }

    #if FUZZING
    /// Hands the process to libFuzzer with this target's `LLVMFuzzerTestOneInput`.
    public static func runLibFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
    }
    #endif

    /// Runs `check` once on every file named on the command line (directories: every file in
    /// them, in name order), then says how many ran. A failing property traps, as under libFuzzer.
    public static func replay(name: String, _ check: ([UInt8]) -> Void) -> Never {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: \(name) FILE-OR-DIRECTORY...  (runs each input once; build with -DFUZZING for libFuzzer)")
            exit(64)
        }
        var count = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("\(name): no such file or directory: \(path)")
                exit(66)
            }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                check(Array(data))
                count += 1
            }
        }
        print("ran \(count) inputs, no property failed")
        exit(0)
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif
