/// `lower` and `upper` as DuckDB computes them (utf8proc): each code point maps to one code
/// point, never more, and without context (no final sigma). Swift's `lowercased()` and
/// `uppercased()` use the full mappings, which change lengths: `upper('straße')` would be
/// `STRASSE` (DuckDB `STRAẞE`) and `lower('İ')` two code points (DuckDB `i`).
enum CaseMapping {
    static func lower(_ s: String) -> String { map(s, upper: false) }
    static func upper(_ s: String) -> String { map(s, upper: true) }

    static func map(_ s: String, upper: Bool) -> String {
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            if c.isASCII {
                let v = c.value
                if upper, v >= 0x61, v <= 0x7A { out.append(Unicode.Scalar(v - 32)!) }
                else if !upper, v >= 0x41, v <= 0x5A { out.append(Unicode.Scalar(v + 32)!) }
                else { out.append(c) }
                continue
            }
            out.append(simple(c, upper: upper))
        }
        return String(out)
    }

    /// The simple (one code point) mapping, from the full one: a one-code-point full mapping
    /// is the simple one; otherwise (SpecialCasing) the simple mapping is, for upper case, the
    /// title case when that is one code point (`ᾳ` → `ᾼ`), `ß` → `ẞ` as utf8proc has it, or
    /// none; for lower case (only `İ`) its first code point.
    static func simple(_ c: Unicode.Scalar, upper: Bool) -> Unicode.Scalar {
        let full = upper ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
        let scalars = full.unicodeScalars
        if scalars.count == 1 { return scalars.first! }
        if !upper { return scalars.first ?? c }
        if c.value == 0xDF { return Unicode.Scalar(0x1E9E)! }
        let title = c.properties.titlecaseMapping.unicodeScalars
        if title.count == 1, title.first! != c { return title.first! }
        return c
    }
}
