#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import RedisClient
import Synchronization

/// One compaction runner at a time, across processes and hosts: a Redis key holding a
/// random token with an expiry, renewed while the run lasts. Fencing: the run's token is
/// also written to each shard's fence key, and the compare-and-delete script refuses to
/// run unless the fence still holds it; a runner that lost its lease cannot commit.
final class Lease: @unchecked Sendable {
    let pool: RedisPool
    let key: String
    let token: String
    let ttlMs: Int
    private let lost = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let renewer = DispatchGroup()
    private let wake = DispatchSemaphore(value: 0)

    static let renewScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
    static let releaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

    init(pool: RedisPool, key: String, ttlMs: Int) {
        self.pool = pool
        self.key = key
        self.ttlMs = ttlMs
        var g = SystemRandomNumberGenerator()
        token = String(g.next(), radix: 36) + String(g.next(), radix: 36)
    }

    /// Takes the lease or throws `.busy`.
    func acquire() throws {
        let r = try pool.pipelineBlocking([["SET", key, token, "NX", "PX", String(ttlMs)].map { Array($0.utf8) }])[0]
        guard case .simple("OK") = r else {
            let holder = try? pool.pipelineBlocking([["PTTL", key].map { Array($0.utf8) }])[0].int
            throw CompactionError.busy("the lease \(key) is held (expires in \(holder ?? -1) ms)")
        }
        renewer.enter()
        DispatchQueue.global().async { [self] in
            defer { renewer.leave() }
            while !stopped.load(ordering: .relaxed) {
                _ = wake.wait(timeout: .now() + .milliseconds(ttlMs / 3))
                if stopped.load(ordering: .relaxed) { break }
                let r = try? pool.pipelineBlocking([["EVAL", Self.renewScript, "1", key, token, String(ttlMs)].map { Array($0.utf8) }])[0]
                if r?.int != 1 { lost.store(true, ordering: .relaxed); break }
            }
        }
    }

    var isLost: Bool { lost.load(ordering: .relaxed) }

    func check() throws {
        if isLost { throw CompactionError.fenced("the lease \(key) expired or was taken over") }
    }

    func release() {
        stopped.store(true, ordering: .relaxed)
        wake.signal()
        renewer.wait()
        _ = try? pool.pipelineBlocking([["EVAL", Self.releaseScript, "1", key, token].map { Array($0.utf8) }])
    }
}
