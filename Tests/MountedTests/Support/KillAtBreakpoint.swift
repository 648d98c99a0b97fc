import Foundation
import Glibc

/// A crash at one exact point of a running program, with no hook in the program: gdb attaches
/// to it, stops it at the first call of a function and kills it there (SIGKILL, as `kill -9`).
final class KillAtBreakpoint {
    private let gdb: pid_t
    private var status: Int32?
    private let log: String

    /// Attaches to `pid` and returns once the breakpoint is set (the program runs on meanwhile).
    /// `function` is a regular expression for gdb's `rbreak`, on the symbol's mangled name.
    init(pid: pid_t, function: String, log: String) throws {
        self.log = log
        let arguments = ["/usr/bin/gdb", "-p", String(pid), "-batch", "-nx",
                         "-ex", "set print thread-events off",
                         // The program's own signals (a child's exit, say) are not the stop waited for.
                         "-ex", "handle all nostop noprint pass",
                         "-ex", "rbreak \(function)",
                         "-ex", "echo armed\\n",
                         "-ex", "continue",
                         "-ex", "kill"]
        gdb = try Self.spawn(arguments, output: log)
        guard eventually(within: 60, { text.contains("armed") || !isRunning }), isRunning else {
            cancel()
            throw CommandError(description: "gdb did not set its breakpoint: \(text)")
        }
        guard text.contains("Breakpoint 1 at") else {
            cancel()
            throw CommandError(description: "no function matches \(function): \(text)")
        }
    }

    /// gdb learns of every stop of the threads it traces from SIGCHLD: it must not inherit the
    /// test process's mask, which blocks it (and it would then leave each thread of the program
    /// that gets a signal stopped for good). Foundation's `Process` passes the mask on.
    private static func spawn(_ arguments: [String], output: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let path: String = "PATH=" + (Command.environment["PATH"] ?? "/usr/bin:/bin")
        let environment: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { environment.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/usr/bin/gdb", &actions, &attributes, argv, environment)
        guard result == 0 else { throw CommandError(description: "gdb could not be started: \(String(cString: strerror(result)))") }
        return pid
    }

    private var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        guard waitpid(gdb, &raw, WNOHANG) == gdb else { return true }
        status = raw
        return false
    }

    /// What gdb printed.
    var text: String { String(decoding: (try? Files.read(log)) ?? [], as: UTF8.self) }

    /// Waits until the program stopped at the breakpoint and gdb killed it there.
    func waitForKill(within seconds: Double) -> Bool {
        guard eventually(within: seconds, { !isRunning }) else { return false }
        return text.contains("Breakpoint 1, ") && text.contains("killed")
    }

    /// Ends gdb if the breakpoint was never reached, detaching it (the program runs on).
    func cancel() {
        guard isRunning else { return }
        kill(gdb, SIGTERM)
        _ = eventually(within: 10) { !isRunning }
    }
}
