#if canImport(Glibc)
import Glibc
#endif
import RedisClient
import SystemSupport

// What the benchmarks print beside throughput: CPU per unit of work, for Redis (its own
// counters) and for a process (/proc), and Redis's memory.

/// Redis's CPU time so far (`INFO cpu`: used_cpu_sys + used_cpu_user), seconds.
public func redisCPU(_ pool: RedisPool) throws -> Double {
    let info = try pool.pipelineBlocking([[Array("INFO".utf8), Array("cpu".utf8)]])[0].string ?? ""
    var total = 0.0
    for line in info.split(separator: "\r\n") where line.hasPrefix("used_cpu_sys:") || line.hasPrefix("used_cpu_user:") {
        total += Double(line.split(separator: ":")[1]) ?? .nan
    }
    return total
}

/// `INFO commandstats`: microseconds spent per command, most first.
public func commandTimes(_ pool: RedisPool) throws -> [(command: String, calls: Double, usec: Double)] {
    let info = try pool.pipelineBlocking([[Array("INFO".utf8), Array("commandstats".utf8)]])[0].string ?? ""
    var out = [(String, Double, Double)]()
    for line in info.split(separator: "\r\n") where line.hasPrefix("cmdstat_") {
        let name = String(line.dropFirst(8).prefix { $0 != ":" })
        var calls = 0.0, usec = 0.0
        for kv in line.split(separator: ":").last!.split(separator: ",") {
            let p = kv.split(separator: "=")
            if p.first == "calls" { calls = Double(p.last!) ?? 0 }
            if p.first == "usec" { usec = Double(p.last!) ?? 0 }
        }
        out.append((name, calls, usec))
    }
    return out.sorted { $0.2 > $1.2 }
}

/// A process's CPU time so far (user + system, /proc/<pid>/stat), seconds.
public func processCPU(_ pid: Int32) -> Double {
    guard let b = readWholeFile("/proc/\(pid)/stat") else { return .nan }
    let text = String(decoding: b, as: UTF8.self)
    guard let close = text.lastIndex(of: ")") else { return .nan }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return .nan }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Redis's `used_memory`, bytes.
public func usedMemory(_ pool: RedisPool) throws -> Double {
    let info = try pool.pipelineBlocking([[Array("INFO".utf8), Array("memory".utf8)]])[0].string ?? ""
    let line = info.split(separator: "\r\n").first { $0.hasPrefix("used_memory:") } ?? "used_memory:0"
    return Double(line.split(separator: ":")[1]) ?? .nan
}
