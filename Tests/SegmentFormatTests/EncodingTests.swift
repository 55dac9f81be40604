import Testing
import StrataTesting
import StrataCore
@testable import SegmentFormat

@Suite struct EncodingTests {
    func roundTrip(_ v: [Int64], _ e: Encoding, ref: [Int64]? = nil) throws -> [Int64] {
        var w = ByteWriter()
        IntegerCodec.encode(v, as: e, ref: ref, into: &w)
        #expect(w.count == IntegerCodec.size(e, v, ref: ref), "size estimate of \(e)")
        return try w.bytes.withUnsafeBytes { b in
            var r = ByteReader(b)
            let out = try IntegerCodec.decode(e, count: v.count, ref: ref, from: &r)
            #expect(r.isAtEnd)
            return out
        }
    }

    static let edgeCases: [[Int64]] = [
        [], [0], [Int64.min], [Int64.max], [Int64.min, Int64.max], [Int64.max, Int64.min, Int64.max],
        [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], Array(repeating: 7, count: 300), (0..<1000).map { $0 * 60_000 },
        (0..<257).map { Int64($0 % 2 == 0 ? -1 : 1) << 62 }, (0..<129).map { Int64.max / 129 * Int64($0) },
    ]

    @Test(arguments: [Encoding.plain, .frameOfReference, .delta, .deltaOfDelta, .runLength])
    func integerEncodingsAtTheirEdges(_ e: Encoding) throws {
        for v in Self.edgeCases { #expect(try roundTrip(v, e) == v, "\(e) on \(v.prefix(5))…") }
        var rng = SeededRandom(seed: testSeed("integerEncodingsAtTheirEdges(\(e))"))
        for _ in 0..<50 {
            let n = Int(rng.next() % 600)
            let bits = Int(rng.next() % 65)
            let v = (0..<n).map { _ in Int64(bitPattern: bits == 64 ? rng.next() : rng.next() & ((1 << UInt64(bits)) - 1)) }
            #expect(try roundTrip(v, e) == v)
        }
    }

    @Test func referenceDeltaAtItsEdges() throws {
        let ref: [Int64] = [Int64.min, 0, Int64.max, 5, -5]
        let v: [Int64] = [Int64.max, Int64.min, 0, 5, 1_000_000]
        #expect(try roundTrip(v, .referenceDelta, ref: ref) == v)
    }

    @Test func bitPackingEveryWidth() throws {
        for width in 0...64 {
            for n in [1, 127, 128, 129, 300] {
                let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
                let v = (0..<n).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 & mask | (width > 0 ? 1 << UInt64(width - 1) : 0) }
                var w = ByteWriter()
                BitPacking.encode(v, into: &w)
                #expect(w.count == BitPacking.encodedSize(v))
                var out = [UInt64](repeating: 0, count: n)
                try w.bytes.withUnsafeBytes { b in
                    var r = ByteReader(b)
                    try out.withUnsafeMutableBufferPointer { try BitPacking.decode(from: &r, into: $0) }
                    #expect(r.isAtEnd)
                }
                #expect(out == v, "width \(width), \(n) values")
            }
        }
    }

    @Test func chooserPicksEachEncodingOnSuitableData() {
        #expect(IntegerCodec.choose((1...5000).map { Int64($0) }) == .delta)  // ids
        #expect(IntegerCodec.choose((0..<5000).map { 1_700_000_000_000 + Int64($0) * Int64($0) * 7 }) == .deltaOfDelta)  // steadily growing steps
        #expect(IntegerCodec.choose((0..<5000).map { Int64($0 / 1000) }) == .runLength)
        var rng = SeededRandom(seed: 5)
        #expect(IntegerCodec.choose((0..<5000).map { _ in Int64(rng.next() % 400) }) == .frameOfReference)
        #expect(IntegerCodec.choose((0..<5000).map { _ in Int64(bitPattern: rng.next()) }) == .plain)
    }

    @Test func chunkEncoderPicksDictionaryPlainAndReference() {
        var status = ColumnVector.emptyStrings()
        var subject = ColumnVector.emptyStrings()
        var created = ColumnVector.emptyIntegers()
        var replied = ColumnVector.emptyIntegers()
        var rng = SeededRandom(seed: 9)
        for i in 0..<4000 {
            status.appendString(Array(["new", "open", "closed"][i % 3].utf8))
            subject.appendString(Array("Ticket \(rng.next()) about order \(i)".utf8))
            let t = 1_780_000_000_000 + Int64(rng.next() % 7_776_000_000)
            created.appendInteger(t)
            if i % 5 == 0 { replied.appendNull() } else { replied.appendInteger(t + Int64(rng.next() % 100_000)) }
        }
        #expect(ChunkEncoder.encode(status, type: .string).meta.encoding == .dictionary)
        #expect(ChunkEncoder.encode(subject, type: .string).meta.encoding == .plainString)
        let block = ChunkEncoder.encode(replied, type: .timestamp,
                                        references: [.init(column: 1, type: .timestamp, vector: created)])
        #expect(block.meta.encoding == .referenceDelta)
        #expect(block.meta.referenceColumn == 1)
        #expect(block.meta.nullCount == 800)
        #expect(ChunkEncoder.encode(created, type: .timestamp).meta.encoding == .frameOfReference)
        // LZ4 goes on top only where it pays: repetitive text yes, random integers no.
        #expect(ChunkEncoder.encode(subject, type: .string).meta.compression == .lz4Block)
        #expect(ChunkEncoder.encode(created, type: .timestamp).meta.compression == .none)
    }

    @Test func crc32cMatchesKnownValuesOnBothPaths() {
        // RFC 3720 B.4 test vectors.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0...31)) == 0x46DD_794E)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        var rng = SeededRandom(seed: 1)
        for n in [0, 1, 7, 8, 9, 63, 1000] {
            let b = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(CRC32C.checksum(b) == CRC32C.checksumPortable(b))
        }
    }

    @Test func lz4BlocksThatLieAboutTheirSizeAreRejected() throws {
        let raw = Array(repeating: Array("abcabcabc".utf8), count: 50).flatMap { $0 }
        let c = try #require(LZ4Block.compress(raw, maxOutput: raw.count))
        try c.withUnsafeBytes { b throws in
            let back = try LZ4Block.decompress(b, rawLength: raw.count)
            #expect(back == raw)
            #expect(throws: FormatError.self) { try LZ4Block.decompress(b, rawLength: raw.count + 1) }
            #expect(throws: FormatError.self) { try LZ4Block.decompress(b, rawLength: raw.count - 1) }
        }
    }
}

@Suite struct EstimateTests {
    @Test func fusedEstimatesEqualTheEncodedSizes() {
        var rng = SeededRandom(seed: testSeed("fusedEstimatesEqualTheEncodedSizes"))
        for _ in 0..<200 {
            let n = Int(rng.next() % 700) + 1
            let bits = UInt64(rng.next() % 63) + 1
            let sorted = rng.next() % 2 == 0
            var acc: Int64 = 0
            let v: [Int64] = (0..<n).map { _ in
                let r = Int64(bitPattern: rng.next() & ((1 << bits) - 1))
                acc &+= r
                return sorted ? acc : r
            }
            let e = IntegerCodec.exactSizes(v)
            #expect(e.frameOfReference == IntegerCodec.size(.frameOfReference, v))
            #expect(e.delta == IntegerCodec.size(.delta, v))
            #expect(e.deltaOfDelta == IntegerCodec.size(.deltaOfDelta, v))
            #expect(e.runs == IntegerCodec.runs(v).values.count)
        }
    }
}

/// The byte-at-a-time helpers that spread non-null values over rows and back.
@Suite struct ValidityScatterTests {
    static func randomBitmap(_ n: Int, density: UInt64, rng: inout SeededRandom) -> Bitmap {
        var b = Bitmap()
        for _ in 0..<n { b.append(rng.next() % 100 < density) }
        return b
    }

    @Test(arguments: [0, 1, 7, 8, 9, 63, 64, 65, 1000, 65_536])
    func scatterThenCompactGivesTheValuesBack(rows n: Int) {
        var rng = SeededRandom(seed: UInt64(n) &+ 11)
        for density: UInt64 in [0, 3, 50, 97, 100] {
            let validity = Self.randomBitmap(n, density: density, rng: &rng)
            let values = (0..<validity.setCount).map { _ in Int64(bitPattern: rng.next()) }
            let spread = ChunkDecoder.scatter(values, validity: validity, count: n)
            #expect(spread.count == n)
            var k = 0
            for i in 0..<n {
                if validity[i] { #expect(spread[i] == values[k]); k += 1 } else { #expect(spread[i] == 0) }
            }
            #expect(ChunkDecoder.compact(spread, validity: validity) == values)
        }
    }

    @Test func aValueWhoseReferenceIsNullIsAnError() throws {
        // Rows 0-9: the reference is null at row 5, where the block holds a value.
        var refValidity = Bitmap(count: 10, allSet: true)
        refValidity[5] = false
        let ref = ColumnVector(values: .integers(Array(0..<10)), validity: refValidity)
        var mine = Bitmap(count: 10, allSet: false)
        mine[2] = true
        #expect(try ChunkDecoder.gatherReference(ref, validity: mine, count: 10) == [2])
        mine[5] = true
        #expect(throws: FormatError.self) { try ChunkDecoder.gatherReference(ref, validity: mine, count: 10) }
        #expect(throws: FormatError.self) { try ChunkDecoder.gatherReference(ref, validity: nil, count: 10) }
        do { _ = try ChunkDecoder.gatherReference(ref, validity: mine, count: 10) } catch {
            #expect("\(error)".contains("row 5"))
        }
    }
}
