import Testing
import StrataCore

@Suite struct ColumnVectorTests {
    /// Selecting rows keeps each representation and carries nulls along.
    @Test func selectingKeepsRepresentationAndNulls() {
        var dict = StringColumn()
        for w in ["open", "solved"] { dict.append(w) }
        var valid = Bitmap(count: 4, allSet: true)
        valid[1] = false
        let text = ColumnVector(values: .dictionary(codes: [1, 0, 0, 1], dictionary: dict), validity: valid)
        let picked = text.selecting([3, 1, 2])
        guard case .dictionary(let codes, let d) = picked.values else { Issue.record("not a dictionary any more"); return }
        #expect(codes == [1, 0, 0] && d == dict)
        #expect(picked.string(at: 0) == "solved" && picked.string(at: 1) == nil && picked.string(at: 2) == "open")
        let ints = ColumnVector(values: .integers([10, 20, 30]), validity: nil).selecting([2, 2, 0])
        #expect(ints.values == .integers([30, 30, 10]) && ints.validity == nil)
        var plain = StringColumn()
        for w in ["a", "bb", "ccc"] { plain.append(w) }
        let strings = ColumnVector(values: .strings(plain), validity: nil).selecting([1])
        #expect(strings.string(at: 0) == "bb" && strings.count == 1)
    }
}
