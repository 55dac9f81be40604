/// A LIKE pattern: `%` any run of characters, `_` one character (a Unicode code point, as in
/// DuckDB); no escape character in this subset. Matching takes time linear in the text and
/// the pattern: the pattern is cut at each `%` into segments, the first anchored at the start,
/// the last at the end, and each other found at its leftmost place after the one before
/// (leftmost is always safe when `%` separates them). A segment is found with KMP when it has
/// no `_`, with a bit-parallel shift-and (64 pattern places a word) when it has.
struct LikePattern {
    typealias Element = UInt32
    /// One place of a segment: a code point, or nil for `_`.
    let segments: [[Element?]]
    let caseInsensitive: Bool
    /// KMP failure tables of the segments without `_` (nil for those with one).
    let failure: [[Int]?]

    init(_ p: String, caseInsensitive: Bool) {
        self.caseInsensitive = caseInsensitive
        let text = caseInsensitive ? p.lowercased() : p
        var segs = [[Element?]](), current = [Element?]()
        for u in text.unicodeScalars {
            switch u {
            case "%": segs.append(current); current = []
            case "_": current.append(nil)
            default: current.append(u.value)
            }
        }
        segs.append(current)
        // "a%b" -> ["a", "b"]: the first segment is anchored at the start, the last at the end.
        segments = segs
        failure = segs.map { seg in seg.contains(where: { $0 == nil }) ? nil : Self.kmpTable(seg.map { $0! }) }
    }

    func matches(_ s: String) -> Bool {
        let t = Array((caseInsensitive ? s.lowercased() : s).unicodeScalars.lazy.map(\.value))
        return matches(t)
    }

    func matches(_ t: [Element]) -> Bool {
        if segments.count == 1 { return t.count == segments[0].count && matchesAt(segments[0], t, 0) }
        let first = segments[0], last = segments[segments.count - 1]
        guard t.count >= first.count + last.count, matchesAt(first, t, 0), matchesAt(last, t, t.count - last.count) else { return false }
        var pos = first.count
        let end = t.count - last.count
        for k in 1..<(segments.count - 1) where !segments[k].isEmpty {
            guard let at = find(k, in: t, from: pos, to: end) else { return false }
            pos = at + segments[k].count
        }
        return true
    }

    func matchesAt(_ seg: [Element?], _ t: [Element], _ at: Int) -> Bool {
        for (j, c) in seg.enumerated() where c != nil && c! != t[at + j] { return false }
        return true
    }

    /// The leftmost start of segment `k` within t[from..<to], or nil.
    func find(_ k: Int, in t: [Element], from: Int, to: Int) -> Int? {
        let seg = segments[k]
        let m = seg.count
        guard to - from >= m else { return nil }
        if let fail = failure[k] {
            var q = 0
            for i in from..<to {
                while q > 0 && seg[q]! != t[i] { q = fail[q - 1] }
                if seg[q]! == t[i] { q += 1 }
                if q == m { return i - m + 1 }
            }
            return nil
        }
        // Shift-and over ceil(m/64) words: bit j of the state is set when seg[0...j] ends here.
        let words = (m + 63) / 64
        var masks = [Element: [UInt64]]()
        var wildcard = [UInt64](repeating: 0, count: words)
        for (j, c) in seg.enumerated() {
            if let c {
                masks[c, default: [UInt64](repeating: 0, count: words)][j / 64] |= 1 << UInt64(j % 64)
            } else {
                wildcard[j / 64] |= 1 << UInt64(j % 64)
            }
        }
        var state = [UInt64](repeating: 0, count: words)
        let topWord = (m - 1) / 64, topBit = UInt64(1) << UInt64((m - 1) % 64)
        for i in from..<to {
            let mask = masks[t[i]]
            var carry: UInt64 = 1  // a match may start at every place
            for w in 0..<words {
                let next = state[w] >> 63
                state[w] = ((state[w] << 1) | carry) & (wildcard[w] | (mask?[w] ?? 0))
                carry = next
            }
            if state[topWord] & topBit != 0 { return i - m + 1 }
        }
        return nil
    }

    static func kmpTable(_ p: [Element]) -> [Int] {
        var fail = [Int](repeating: 0, count: p.count)
        var q = 0
        for i in 1..<max(1, p.count) {
            while q > 0 && p[q] != p[i] { q = fail[q - 1] }
            if p[q] == p[i] { q += 1 }
            fail[i] = q
        }
        return fail
    }
}

/// What stops a query in the middle of its work: its deadline, or its reader going away.
struct QueryInterrupt: Sendable {
    var deadline = Double.infinity
    var timeoutSeconds = 0.0
    var cancelled: (@Sendable () -> Bool)? = nil

    func check() throws(QueryError) {
        if QueryEngine.monotonic() >= deadline {
            throw QueryError(.limit, "query stopped after the timeout of \(Int(timeoutSeconds)) s", offset: nil)
        }
        if let cancelled, cancelled() { throw QueryError(.unavailable, "the reader of the answer went away", offset: nil) }
    }
}
