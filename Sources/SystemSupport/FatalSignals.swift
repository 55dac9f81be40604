#if canImport(Glibc)
import Glibc
#endif

/// On a fatal signal (a crash: SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT), says so on
/// standard error, stops a child that must not outlive the process (the daemon's managed
/// redis-server), then lets the signal do what it did before (the Swift runtime's backtrace,
/// or the default). Only async-signal-safe calls run in the handler: write, kill, sigaction,
/// raise. The main thread gets an alternate signal stack, so that even a stack overflow there
/// is reported.
public enum FatalSignals {
    static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT]
    nonisolated(unsafe) static var child: pid_t = 0
    /// Set once a fatal signal arrived.
    nonisolated(unsafe) public static var dying = false
    nonisolated(unsafe) static var previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    nonisolated(unsafe) static var messages = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: 65)
    nonisolated(unsafe) static var lengths = UnsafeMutablePointer<Int>.allocate(capacity: 65)

    /// Installs the handlers; `name` starts each message (`strata serve`).
    public static func install(name: String) {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV (a bad memory access, or a stack overflow)", SIGBUS: "SIGBUS", SIGILL: "SIGILL (a Swift runtime trap: a failed precondition or overflow)",
                                      SIGTRAP: "SIGTRAP (a Swift runtime trap)", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT (abort)"]
        let altSize = 256 << 10
        var alt = stack_t(ss_sp: UnsafeMutableRawPointer.allocate(byteCount: altSize, alignment: 16), ss_flags: 0, ss_size: altSize)
        sigaltstack(&alt, nil)
        for sig in signals {
            let text = "\(name): died of signal \(sig), \(names[sig] ?? ""); stopping the managed redis-server if any. See the backtrace below, if the runtime printed one.\n"
            let bytes = Array(text.utf8CString)
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            buffer.initialize(from: bytes, count: bytes.count)
            messages[Int(sig)] = buffer
            lengths[Int(sig)] = bytes.count - 1
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                if let m = FatalSignals.messages[Int(sig)] { _ = write(2, m, FatalSignals.lengths[Int(sig)]) }
                FatalSignals.dying = true  // the managed Redis's watchdog must not start it again
                if FatalSignals.child > 0 { kill(FatalSignals.child, SIGTERM) }
                // What the signal did before (the runtime's backtracer, or the default), again.
                sigaction(sig, FatalSignals.previous + Int(sig), nil)
                raise(sig)
                // That handler may return (the runtime's backtracer does, for a signal another
                // process sent): the signal's default action ends the process, with a core.
                signal(sig, SIG_DFL)
                raise(sig)
            }
            action.sa_flags = Int32(SA_ONSTACK | SA_NODEFER)
            sigemptyset(&action.sa_mask)
            sigaction(sig, &action, previous + Int(sig))
        }
    }

    /// A child to stop if this process crashes (0: none).
    public static func setChild(_ pid: pid_t) { child = pid }
}
