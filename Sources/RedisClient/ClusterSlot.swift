/// Redis Cluster's key → slot rule: CRC16 (XMODEM) of the key, or of its hash tag (the
/// bytes between the first `{` and the next `}`, when not empty), modulo 16384. Strata's
/// hot-tier keys carry their shard as a tag (`st:{7}:t:…`), so that every key a merge script
/// touches lies in one slot.
public enum ClusterSlot {
    public static let count = 16_384

    public static func of(key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes[...]) % UInt16(count))
    }

    public static func of(key: String) -> Int { of(key: Array(key.utf8)) }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for b in bytes { crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(b)) & 0xFF] }
        return crc
    }

    static let table: [UInt16] = (0..<256).map { i in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = c & 0x8000 != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }

    /// Where a command's key is (the slot it must go to), or nil for a command without keys.
    public static func keyIndex(_ command: [[UInt8]]) -> Int? {
        guard let first = command.first else { return nil }
        switch String(decoding: first, as: UTF8.self).uppercased() {
        case "EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL", "FCALL_RO":
            guard command.count > 3, let n = Int(String(decoding: command[2], as: UTF8.self)), n > 0 else { return nil }
            return 3
        case "PING", "INFO", "SCRIPT", "CONFIG", "CLUSTER", "DBSIZE", "FLUSHALL", "FLUSHDB", "TIME", "COMMAND", "ASKING",
             "READONLY", "SCAN", "KEYS", "WAIT", "BGREWRITEAOF", "SAVE", "BGSAVE", "LASTSAVE", "AUTH", "HELLO", "ECHO", "ROLE":
            return nil
        default:
            return command.count > 1 ? 1 : nil
        }
    }

    /// Keyless commands that must reach every master (the answer is the first master's).
    static func isBroadcast(_ command: [[UInt8]]) -> Bool {
        guard let first = command.first else { return false }
        let name = String(decoding: first, as: UTF8.self).uppercased()
        if name == "FLUSHALL" || name == "FLUSHDB" { return true }
        if command.count > 1 {
            let sub = String(decoding: command[1], as: UTF8.self).uppercased()
            if name == "SCRIPT" && (sub == "LOAD" || sub == "FLUSH") { return true }
            if name == "CONFIG" && sub == "SET" { return true }
        }
        return false
    }
}
