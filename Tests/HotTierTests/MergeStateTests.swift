import Testing
import StrataCore
@testable import HotTier

@Suite struct MergeStateTests {
    /// A ticket array as the merge script stores it: 17 values, 17 stamps, 1 writer, 1 dot.
    static func ticketArray(values: [UInt8] = [UInt8](repeating: 0x01, count: 17)) -> [UInt8] {
        var b: [UInt8] = [0xDC, 0x00, 0x27]  // array16 of 39 items
        b += values                                  // 17 fixint values
        b += [UInt8](repeating: 0x05, count: 17)     // 17 stamps
        b += [0x01, 0xA3, 0x73, 0x76, 0x63, 0x02, 0x01]  // 1 writer "svc", counter 2, prefix 1
        b += [0xCC, 0xC0]                            // one seen dot
        return b
    }

    @Test func valuesAreBlankedAndTheRestKeptByteForByte() throws {
        let blob = Self.ticketArray()
        let out = try MergeState.blankValues(blob)
        #expect(out.count == blob.count)
        #expect(Array(out[3..<20]) == [UInt8](repeating: 0xC2, count: 17))
        #expect(Array(out[20...]) == Array(blob[20...]))
        // Values of any width are blanked to one byte each.
        var wide = Self.ticketArray()
        wide.replaceSubrange(3..<4, with: [0xA5, 0x68, 0x65, 0x6C, 0x6C, 0x6F])  // "hello"
        #expect(try MergeState.blankValues(wide) == out)
    }

    @Test func damagedStatesAreRefused() {
        let blob = Self.ticketArray()
        #expect(throws: MsgPackError.self) { _ = try MergeState.blankValues([]) }
        #expect(throws: MsgPackError.self) { _ = try MergeState.blankValues([0x93, 0x01, 0x02, 0x03]) }
        #expect(throws: MsgPackError.self) { _ = try MergeState.blankValues(Array(blob.dropLast())) }
        #expect(throws: MsgPackError.self) { _ = try MergeState.blankValues(blob + [0x01]) }
        #expect(throws: MsgPackError.self) { _ = try MergeState.blankValues([UInt8](repeating: 0x90, count: MergeState.maxBytes + 1)) }
    }
}

/// `FlatTicket`, the one decoder of the stored ticket, and `HotTicket` on top of it.
@Suite struct FlatTicketTests {
    @Test func aStoredTicketDecodesToItsValuesStampsAndVector() throws {
        var values = [UInt8](repeating: 0xC2, count: 17)  // unset
        values[6] = 0x07                                   // an integer where a column is text: its digits
        values[12] = 0xA2; values.insert(contentsOf: [0x68, 0x69], at: 13)  // "hi" (subject, column 12)
        var b: [UInt8] = [0xDC, 0x00, 0x27] + values
        var stamps = [UInt8](repeating: 0x00, count: 17)
        stamps[6] = 0x05; stamps[12] = 0x05
        b += stamps
        b += [0x01, 0xA3, 0x73, 0x76, 0x63, 0x02, 0x01, 0xCC, 0xC0]
        let flat = try FlatTicket.parse(b)
        #expect(flat.setColumns == (1 << 6) | (1 << 12))
        #expect(flat.version == 2 && flat.writers.count == 1 && Array(b[flat.writers[0].name]) == Array("svc".utf8))
        let t = try HotTicket.decode(id: 42, b)
        #expect(t.values[0] == .integer(42) && t.values[Tables.tickets.index(of: "version")!] == .integer(2))
        #expect(t.values[6] == .string("7"))
        #expect(t.values[12] == .string("hi"))
        #expect(t.values[3] == nil, "a column no event set is nil, not null")
        #expect(t.vv.map(\.writer) == ["svc"] && t.vv.map(\.count) == [2])
    }

    @Test func anOutlineReadsTheSameValuesAndMergeStateAgainAndRefusesAnotherBlob() throws {
        let blob = MergeStateTests.ticketArray()
        let flat = try FlatTicket.parse(blob)
        let outline = flat.outline
        #expect(outline.setColumns == flat.setColumns && outline.version == flat.version)
        var again = [FlatTicket.Value]()
        try FlatTicket.forEachValue(blob, outline) { i, v in
            #expect(i == again.count)
            again.append(v)
        }
        #expect(again == flat.values)
        var state = [UInt8]()
        FlatTicket.appendMergeState(blob, outline, to: &state)
        // The array's 3-byte header and 17 one-byte values: the values blanked, the rest kept.
        #expect(state == Array(blob[0..<3]) + [UInt8](repeating: 0xC2, count: 17) + Array(blob[20...]))
        // A blob whose values end elsewhere is not read as this one.
        var other = blob
        other.insert(contentsOf: [0xA1, 0x78], at: flat.headerLength)
        other.remove(at: flat.headerLength + 2)
        #expect(throws: MsgPackError.self) { try FlatTicket.forEachValue(other, outline) { _, _ in } }
    }

    @Test func everyTruncationAndMostFlipsAreRefusedNeverATrap() throws {
        let blob = MergeStateTests.ticketArray()
        for n in 0..<blob.count {
            #expect(throws: MsgPackError.self, "truncated to \(n) bytes") { _ = try HotTicket.decode(id: 1, Array(blob.prefix(n))) }
        }
        // One flipped bit anywhere: refused, or decoded to a ticket that checks out.
        var decoded = 0
        for i in blob.indices {
            for bit in 0..<8 {
                var b = blob
                b[i] ^= 1 << UInt8(bit)
                if let t = try? HotTicket.decode(id: 1, b) {
                    decoded += 1
                    #expect(t.values.count == 17 && t.vv.count <= 63)
                }
            }
        }
        #expect(decoded < blob.count * 8, "some flips must be refused")
    }
}

@Suite struct SnapshotRowTests {
    @Test func aSnapshotRowIsOneCreateWithEveryField() throws {
        let names = ["id", "created_at", "updated_at", "status", "tags", "satisfaction", "version"]
        let e = try TicketEvent.create(snapshotHeader: names, values: ["7", "2026-10-01T08:00:00Z", "2026-10-02T08:00:00Z", "open", "", "", "3"])
        #expect(e.op == .create && e.id == 7 && e.vv.map(\.count) == [3] && e.at == Timestamp.parse("2026-10-02T08:00:00Z")!)
        #expect(e.fields.count == 5)
        #expect(e.fields.first { $0.column == 13 }?.value == .string(""), "an empty tag list is the empty string")
        #expect(e.fields.first { $0.column == 14 }?.value == .null, "an empty satisfaction is null")
        #expect(throws: EventError.self) { _ = try TicketEvent.create(snapshotHeader: names, values: ["x", "", "", "", "", "", "1"]) }
        #expect(throws: EventError.self) { _ = try TicketEvent.create(snapshotHeader: ["nope"], values: ["1"]) }
    }
}
