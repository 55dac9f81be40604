/// One command encoded as RESP (`RESPEncoder`), with what sending it needs: its name for
/// errors, and, for a cluster, the key that routes it and whether it goes to every master.
/// Pipelines carry these, so that a command built straight into its bytes
/// (`RESPCommand.Builder`) is never taken apart into one array per argument.
public struct RESPCommand: Sendable {
    /// `*<argc>\r\n`, then `$<length>\r\n<bytes>\r\n` per argument.
    public let bytes: [UInt8]
    /// The command's name, as given (for error messages).
    public let name: String
    /// The key whose slot the command goes to on a cluster (nil: keyless).
    public let key: [UInt8]?
    /// A keyless command every master must run (`SCRIPT LOAD`, `FLUSHALL`, `CONFIG SET`).
    public let broadcast: Bool
    /// The replies it takes: 1, or more for several commands built into one buffer
    /// (`Builder.next`: a transaction's commands on one connection; not for a cluster router).
    public let replies: Int

    /// A command from its arguments, the name first.
    public init(_ arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "empty Redis command")
        var out = [UInt8]()
        out.reserveCapacity(16 + arguments.reduce(0) { $0 + $1.count + 16 })
        RESPEncoder.append(arguments, to: &out)
        bytes = out
        name = String(decoding: arguments[0], as: UTF8.self).uppercased()
        key = ClusterSlot.keyIndex(arguments).map { arguments[$0] }
        broadcast = ClusterSlot.isBroadcast(arguments)
        replies = 1
    }

    init(bytes: [UInt8], name: String, key: [UInt8]?, replies: Int = 1) {
        self.bytes = bytes
        self.name = name
        self.key = key
        self.broadcast = false
        self.replies = replies
    }

    /// Builds a command argument by argument into its bytes: the count of arguments is
    /// declared first (RESP writes it first) and checked when the command is made.
    public struct Builder: Sendable {
        private var out: [UInt8]
        private var declared: Int
        private var written = 0
        private var commands = 1

        /// `arguments` in all, the name included; `capacity`: the bytes expected.
        public init(arguments: Int, capacity: Int = 256) {
            precondition(arguments > 0, "empty Redis command")
            out = []
            out.reserveCapacity(capacity + 16 * arguments + 16)
            declared = arguments
            out.append(UInt8(ascii: "*"))
            RESPEncoder.decimal(arguments, to: &out)
        }

        /// Ends the command being built (all its arguments written) and starts another of
        /// `arguments` in the same buffer: the command made answers with one reply per command.
        public mutating func next(arguments: Int) {
            precondition(written == declared, "\(written) arguments written, \(declared) declared")
            precondition(arguments > 0, "empty Redis command")
            out.append(UInt8(ascii: "*"))
            RESPEncoder.decimal(arguments, to: &out)
            declared = arguments
            written = 0
            commands += 1
        }

        /// One argument: these bytes.
        public mutating func append(_ argument: [UInt8]) {
            header(argument.count)
            out.append(contentsOf: argument)
            trailer()
        }

        public mutating func append(_ argument: ArraySlice<UInt8>) {
            header(argument.count)
            out.append(contentsOf: argument)
            trailer()
        }

        public mutating func append(_ argument: String) {
            var s = argument
            s.withUTF8 { u in
                header(u.count)
                out.append(contentsOf: u)
            }
            trailer()
        }

        /// One argument: `n` in decimal.
        public mutating func append(decimal n: Int64) {
            header(Self.digitCount(n))
            appendDigits(n)
            trailer()
        }

        /// One argument: `prefix`, then `n` in decimal (a key such as `st:{7}:t:8609`).
        public mutating func append(_ prefix: [UInt8], decimal n: Int64) {
            header(prefix.count + Self.digitCount(n))
            out.append(contentsOf: prefix)
            appendDigits(n)
            trailer()
        }

        static func digitCount(_ n: Int64) -> Int {
            var count = n < 0 ? 2 : 1
            var v = n.magnitude
            while v >= 10 { v /= 10; count += 1 }
            return count
        }

        private mutating func appendDigits(_ n: Int64) {
            if n < 0 { out.append(UInt8(ascii: "-")) }
            var v = n.magnitude
            var divisor: UInt64 = 1
            while divisor <= v / 10 { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(v / divisor))
                v %= divisor
                divisor /= 10
            }
        }

        /// The command, sent to the slot of `key` on a cluster.
        public consuming func command(name: String, key: [UInt8]?) -> RESPCommand {
            precondition(written == declared, "\(name): \(written) arguments written, \(declared) declared")
            return RESPCommand(bytes: out, name: name, key: key, replies: commands)
        }

        private mutating func header(_ length: Int) {
            precondition(written < declared, "more arguments than the \(declared) declared")
            written += 1
            out.append(UInt8(ascii: "$"))
            RESPEncoder.decimal(length, to: &out)
        }

        private mutating func trailer() {
            out.append(0x0D)
            out.append(0x0A)
        }
    }
}
