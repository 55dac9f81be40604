/// Bytes that must be UTF-8, as a String: nil if they are not.
///
/// `String(validating:as:)` is generic over the encoding and, called from another module,
/// looks its metadata up at run time on every call: on the write path (three or more
/// strings per event) that lookup cost more than the validation. Here ASCII (nearly every
/// writer name, status and channel) is checked with a plain loop and copied as it is; other
/// bytes are decoded (which repairs what is broken) and kept only if decoding changed
/// nothing, which holds exactly when they were valid UTF-8.
public enum UTF8Text {
    public static func string(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        var ascii = true
        for byte in b where byte >= 0x80 {
            ascii = false
            break
        }
        let s = String(decoding: b, as: UTF8.self)
        if ascii { return s }
        var copy = s
        let same = copy.withUTF8 { $0.count == b.count && $0.elementsEqual(b) }
        return same ? s : nil
    }

    public static func string(_ b: [UInt8]) -> String? {
        b.withUnsafeBufferPointer { string($0) }
    }
}
