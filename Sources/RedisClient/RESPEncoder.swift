/// Commands as RESP, the request form of the Redis protocol: `*<argc>\r\n`, then per
/// argument `$<length>\r\n<bytes>\r\n` (https://redis.io/docs/latest/develop/reference/protocol-spec/).
/// A pure function over bytes; `RedisConnection.pipeline` hands its output to hiredis whole.
public enum RESPEncoder {
    /// Appends one command (its arguments, the name first) to `out`.
    public static func append(_ command: [[UInt8]], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        decimal(command.count, to: &out)
        for a in command {
            out.append(UInt8(ascii: "$"))
            decimal(a.count, to: &out)
            out.append(contentsOf: a)
            out.append(0x0D)
            out.append(0x0A)
        }
    }

    /// `n` in decimal, then `\r\n`.
    static func decimal(_ n: Int, to out: inout [UInt8]) {
        precondition(n >= 0)
        var divisor = 1
        while divisor <= n / 10 { divisor *= 10 }
        var v = n
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(v / divisor))
            v %= divisor
            divisor /= 10
        }
        out.append(0x0D)
        out.append(0x0A)
    }
}
