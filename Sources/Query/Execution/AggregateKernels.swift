/// The aggregator's batch kernels: sums and null counts over a batch, values bucketed by
/// group, and quantiles by selection. Pure functions over arrays, tested on their own
/// (AggregatorTests).
extension Aggregator {
    /// The non-null values of a batch summed exactly (no batch of at most 2^63 values can
    /// pass Int128), with no overflow check per value.
    @inline(__always)
    static func sum(_ x: UnsafeBufferPointer<Int64>, nulls: UnsafeBufferPointer<Bool>, count n: Int) -> Int128 {
        precondition(n < 1 << 31 && n <= x.count && n <= nulls.count)
        // Halves summed apart, without a branch or an overflow check (so the loop runs in
        // vector registers): under 2^31 values, neither sum can pass 64 bits.
        return nulls.withMemoryRebound(to: UInt8.self) { isNull in
            var low: UInt64 = 0, high: Int64 = 0
            for i in 0..<n {
                let v = x[i] & (Int64(isNull[i]) &- 1)  // a null (1) masks its value to 0
                low &+= UInt64(bitPattern: v) & 0xFFFF_FFFF
                high &+= v >> 32
            }
            return Int128(high) << 32 + Int128(low)
        }
    }

    /// Nulls in a batch, counted without a branch.
    @inline(__always)
    static func nullCount(_ nulls: UnsafeBufferPointer<Bool>, count n: Int) -> Int {
        nulls.withMemoryRebound(to: UInt8.self) { isNull in
            var count = 0
            for i in 0..<n { count &+= Int(isNull[i]) }
            return count
        }
    }

    /// The non-null values of a batch summed in four lanes, so that additions need not
    /// wait for each other.
    @inline(__always)
    static func sum(_ x: UnsafeBufferPointer<Double>, nulls: UnsafeBufferPointer<Bool>, count n: Int) -> Double {
        var a = 0.0, b = 0.0, c = 0.0, d = 0.0, i = 0
        while i + 4 <= n {
            a += nulls[i] ? 0 : x[i]
            b += nulls[i + 1] ? 0 : x[i + 1]
            c += nulls[i + 2] ? 0 : x[i + 2]
            d += nulls[i + 3] ? 0 : x[i + 3]
            i += 4
        }
        while i < n { a += nulls[i] ? 0 : x[i]; i += 1 }
        return (a + b) + (c + d)
    }

    /// Appends each value to its row's group's list: one bulk append per group of the batch
    /// (rows bucketed by group first), not one append per row.
    /// The rows' values ordered by group (a counting sort): group g's values are
    /// `values[starts[g]..<starts[g + 1]]`, in the rows' order.
    static func bucketed(_ source: [Int64], rows: [Int], groupOf: [Int], groups: Int) -> (values: [Int64], starts: [Int]) {
        var starts = [Int](repeating: 0, count: groups + 1)
        for i in rows { starts[groupOf[i] + 1] += 1 }
        for g in 0..<groups { starts[g + 1] += starts[g] }
        var next = starts
        let values = [Int64](unsafeUninitializedCapacity: rows.count) { out, initialized in
            source.withUnsafeBufferPointer { x in
                for i in rows {
                    let g = groupOf[i]
                    out[next[g]] = x[i]
                    next[g] += 1
                }
            }
            initialized = rows.count
        }
        return (values, starts)
    }

    static func append(_ values: [Double], rows: [Int], groupOf: [Int], single: Bool, into lists: inout [[Double]]) {
        if single || lists.count == 1 { lists[0].append(contentsOf: values); return }
        var counts = [Int](repeating: 0, count: lists.count + 1)
        for i in rows { counts[groupOf[i] + 1] += 1 }
        for g in 0..<lists.count { counts[g + 1] += counts[g] }
        var bucketed = [Double](repeating: 0, count: values.count)
        var next = counts
        for (r, i) in rows.enumerated() {
            let g = groupOf[i]
            bucketed[next[g]] = values[r]
            next[g] += 1
        }
        for g in 0..<lists.count where counts[g + 1] > counts[g] {
            lists[g].append(contentsOf: bucketed[counts[g]..<counts[g + 1]])
        }
    }

    /// quantile_cont: the value at `fraction` of the sorted values, interpolated between the
    /// two neighbours, found by selection (linear time) rather than a sort.
    static func quantile(_ values: inout [Double], _ fraction: Double) -> Double {
        let pos = fraction * Double(values.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        if values.count >= radixSelectMinimum {
            let (low, high) = ranked(values, lo)
            return hi == lo ? low : low + (high - low) * (pos - Double(lo))
        }
        let low = select(&values, lo)
        if hi == lo { return low }
        // After selection everything right of `lo` is at least its value: the next is their minimum.
        var high = values[lo + 1]
        for v in values[(lo + 2)...] where v < high { high = v }
        return low + (high - low) * (pos - Double(lo))
    }

    /// Lists at least this long are ranked by their values' top bits (`ranked`) rather
    /// than by quickselect alone.
    static let radixSelectMinimum = 4096

    /// A key that orders as the doubles do (negatives reversed below positives).
    @inline(__always)
    static func orderKey(_ x: Double) -> UInt64 {
        let bits = x.bitPattern
        return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
    }

    /// The k-th and (k+1)-th smallest values (the second is the first when k is the last),
    /// in two passes without moving the list: a histogram of the values' top 16 bits
    /// finds the buckets holding ranks k and k+1, and quickselect runs over those buckets'
    /// values alone. Durations spread over a few hundred buckets, so the second stage sees
    /// a small fraction of the list.
    static func ranked(_ values: [Double], _ k: Int) -> (Double, Double) {
        precondition(k >= 0 && k < values.count)
        var counts = [Int](repeating: 0, count: 1 << 16)
        values.withUnsafeBufferPointer { v in
            counts.withUnsafeMutableBufferPointer { c in
                for x in v { c[Int(truncatingIfNeeded: orderKey(x) >> 48)] &+= 1 }
            }
        }
        // The bucket of rank k, and of rank k + 1 (the same, or the next one not empty).
        var below = 0, bucket = 0
        while below + counts[bucket] <= k { below += counts[bucket]; bucket += 1 }
        let nextRank = Swift.min(k + 1, values.count - 1)
        var next = bucket, belowNext = below
        while belowNext + counts[next] <= nextRank { belowNext += counts[next]; next += 1 }
        var inBucket = [Double](), inNext = [Double]()
        inBucket.reserveCapacity(counts[bucket])
        if next != bucket { inNext.reserveCapacity(counts[next]) }
        for x in values {
            let b = Int(truncatingIfNeeded: orderKey(x) >> 48)
            if b == bucket { inBucket.append(x) } else if b == next { inNext.append(x) }
        }
        precondition(inBucket.count == counts[bucket])
        let first = select(&inBucket, k - below)
        if next != bucket { return (first, inNext.min()!) }
        if nextRank == k { return (first, first) }
        // After selection everything right of rank k in the bucket is at least its value.
        var second = inBucket[k - below + 1]
        for x in inBucket[(k - below + 2)...] where x < second { second = x }
        return (first, second)
    }

    /// The k-th smallest (0-based), leaving smaller values left of k and larger right
    /// (quickselect, middle-of-three pivots, Hoare partitioning).
    static func select(_ a: inout [Double], _ k: Int) -> Double {
        precondition(k >= 0 && k < a.count)
        var left = 0, right = a.count - 1
        a.withUnsafeMutableBufferPointer { v in
            while right > left {
                let mid = left + (right - left) / 2
                if v[mid] < v[left] { v.swapAt(mid, left) }
                if v[right] < v[left] { v.swapAt(right, left) }
                if v[right] < v[mid] { v.swapAt(right, mid) }
                let pivot = v[mid]
                var i = left, j = right
                while i <= j {
                    while v[i] < pivot { i += 1 }
                    while pivot < v[j] { j -= 1 }
                    if i <= j { v.swapAt(i, j); i += 1; j -= 1 }
                }
                if k <= j { right = j } else if k >= i { left = i } else { break }
            }
        }
        return a[k]
    }

    /// quantile_cont over intervals: the two neighbours, interpolated part by part as DuckDB does.
    static func quantile(_ values: [Interval], _ fraction: Double) throws(QueryError) -> Value {
        if values.isEmpty { return .null }
        let list = values.sorted()
        let pos = fraction * Double(list.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        if lo == hi || list[lo] == list[hi] { return .interval(list[lo]) }
        guard let negLo = list[lo].negated, let span = list[hi] + negLo, let step = span.times(pos - Double(lo)), let q = list[lo] + step else {
            throw QueryError(.execution, "interval overflow in median", offset: nil)
        }
        return .interval(q)
    }
}
