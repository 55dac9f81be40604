#if canImport(Glibc)
import Glibc
import StrataCore
#endif

func printErr(_ s: String) {
    let line = Array((s + "\n").utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}

extension String {
    /// A number with two decimals.
    init(format2 v: Double) {
        let scaled = (v * 100).rounded()
        let whole = Int(scaled / 100)
        let frac = Int(abs(scaled).truncatingRemainder(dividingBy: 100))
        self = (v < 0 && whole == 0 ? "-" : "") + "\(whole)." + (frac < 10 ? "0" : "") + "\(frac)"
    }

    func padded(_ width: Int, right: Bool = false) -> String {
        let n = count
        guard n < width else { return self }
        let pad = String(repeating: " ", count: width - n)
        return right ? pad + self : self + pad
    }
}

/// A moment on the monotonic clock, for "done in N s" lines.
struct Clock {
    let seconds: Double
    static var now: Clock { Clock(seconds: monotonicSeconds()) }
    var secondsSince: Double { monotonicSeconds() - seconds }
}

/// Renders rows as an aligned text table.
func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $1.padded(widths[$0], right: rightAligned.contains($0)) }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
        .joined(separator: "\n")
}
