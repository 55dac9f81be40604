#if canImport(Glibc)
import Glibc
#endif
import FuzzTargets

// `strata-fuzz`: the fuzz targets (docs/fuzzing.md). Built with `scripts/fuzz`
// (`--sanitize fuzzer` and -DSTRATA_LIBFUZZER), libFuzzer drives it: STRATA_FUZZ_TARGET
// names the target (sql, event, segment), and a wrong answer aborts, which libFuzzer
// reports with the input that caused it. Built plainly, it replays inputs given as files:
// `strata-fuzz sql crash-1234`.

nonisolated(unsafe) var target = FuzzTarget.sql

func say(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func check(_ t: FuzzTarget, _ input: [UInt8], name: String) {
    if let wrong = t.run(input) {
        say("strata-fuzz \(t.rawValue): wrong answer for \(name): \(wrong)\n")
        abort()
    }
}

#if STRATA_LIBFUZZER
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = getenv("STRATA_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        say("strata-fuzz: set STRATA_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(name)\"\n")
        exit(2)
    }
    target = t
    _ = t.run([])  // build the target's fixtures before the first timed input
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count <= target.maxInputBytes else { return -1 }  // not added to the corpus
    check(target, input, name: "the input")
    return 0
}
#else
@main struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        if args.first == "--write-segment-seed", let path = args.dropFirst().first {
            // The corpus's whole-file seed: SEG1 and the valid segment of the edge tickets.
            let bytes = Array("SEG1".utf8) + FuzzTarget.validSegment
            guard let f = fopen(path, "wb"), fwrite(bytes, 1, bytes.count, f) == bytes.count, fclose(f) == 0 else { say("strata-fuzz: cannot write \(path)\n"); exit(1) }
            return
        }
        guard let first = args.first, let t = FuzzTarget(rawValue: first), args.count > 1 else {
            say("usage: strata-fuzz sql|event|segment FILE... (replays inputs; scripts/fuzz runs the fuzzer)\n")
            exit(2)
        }
        for path in args.dropFirst() {
            guard let f = fopen(path, "rb") else { say("strata-fuzz: cannot open \(path)\n"); exit(2) }
            var bytes = [UInt8](), buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = fread(&buffer, 1, buffer.count, f)
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            fclose(f)
            check(t, bytes, name: path)
        }
        print("strata-fuzz \(t.rawValue): \(args.count - 1) input(s) handled as the rules say")
    }
}
#endif
