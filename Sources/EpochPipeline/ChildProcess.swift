import CLinux
import EpochCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command with a given environment and a time limit, capturing (the start of) its output.
///
/// The command is started with `posix_spawn` rather than Foundation's `Process`, because the
/// child must not inherit the daemon's signal state: the daemon blocks SIGINT, SIGTERM and
/// SIGHUP in every thread (one thread waits for them) and ignores SIGPIPE, and a child that
/// inherited that would never receive the SIGTERM of its time limit, nor die of a closed pipe.
/// The child gets an empty signal mask, every signal at its default action, a process group of
/// its own, and no descriptor of the daemon's but its standard input, output and error.
enum ChildProcess {
    struct Outcome: Sendable {
        var exitCode: Int32
        /// The signal that ended it, if one did.
        var signal: Int32?
        var timedOut: Bool
        /// Standard output and error together, cut at the limit.
        var output: String
        var seconds: Double
    }

    struct SpawnError: Error, CustomStringConvertible {
        var command: String
        var errno: Int32
        var description: String { "cannot run \(command): \(String(cString: strerror(errno)))" }
    }

    static func run(command: [String], environment: [String: String], input: Data? = nil,
                    workingDirectory: String? = nil, timeoutSeconds: Int64, outputLimit: Int) throws -> Outcome {
        // Input and output are unlinked temporary files, not pipes: neither side can block the
        // other. A command that never reads its input (a notify command that ignores it, with a
        // reason naming thousands of files) must not hold this thread, and every event queued
        // after it, past the time limit; a chatty command must not block on a full pipe.
        let output = try temporaryFile(for: command[0])
        defer { close(output) }
        let stdin: Int32
        if let input {
            stdin = try temporaryFile(for: command[0])
            do {
                try input.withUnsafeBytes { try Sys.pwriteAll(stdin, $0, 0) }
            } catch {
                close(stdin)
                throw SpawnError(command: command[0], errno: (error as? SystemError)?.errno ?? Int32(EIO))
            }
        } else {
            stdin = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard stdin >= 0 else { throw SpawnError(command: command[0], errno: errno) }
        }
        defer { close(stdin) }

        let started = Date()
        let pid = try spawn(command, environment: environment, workingDirectory: workingDirectory,
                            stdin: stdin, stdout: output)

        let deadline = started.addingTimeInterval(Double(timeoutSeconds))
        var timedOut = false
        var status: Int32 = 0
        var ended = reap(pid, &status)
        while !ended {
            if Date() >= deadline {
                timedOut = true
                // End everything the command started, not only the command.
                signalGroup(pid, SIGTERM)
                let grace = Date().addingTimeInterval(5)
                while !ended && Date() < grace {
                    usleep(50_000)
                    ended = reap(pid, &status)
                }
                if !ended {
                    signalGroup(pid, SIGKILL)
                    ended = reap(pid, &status, blocking: true)
                }
                break
            }
            usleep(20_000)
            ended = reap(pid, &status)
        }
        // Whatever the command left running in its group goes with it. (Only the group: the
        // child's pid is free for reuse once it has been reaped.)
        kill(-pid, SIGKILL)

        var bytes = [UInt8](repeating: 0, count: outputLimit)
        let read = bytes.withUnsafeMutableBytes { pread(output, $0.baseAddress!, outputLimit, 0) }
        bytes.removeLast(outputLimit - max(read, 0))
        let signalled = status & 0x7f != 0
        return Outcome(exitCode: signalled ? -1 : (status >> 8) & 0xff, signal: signalled ? status & 0x7f : nil,
                       timedOut: timedOut, output: String(decoding: bytes, as: UTF8.self),
                       seconds: Date().timeIntervalSince(started))
    }

    /// A new file no one else can open: created, then unlinked at once. Its offset starts at 0,
    /// where the command reads or writes from.
    private static func temporaryFile(for command: String) throws -> Int32 {
        let path = NSTemporaryDirectory() + "epochfs-child-\(UUID().uuidString)"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpawnError(command: command, errno: errno) }
        unlink(path)
        return fd
    }

    /// Starts the command in a clean signal state and a process group of its own.
    private static func spawn(_ command: [String], environment: [String: String], workingDirectory: String?,
                              stdin: Int32, stdout: Int32) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stdout, 2)
        // Descriptors the daemon opened without O_CLOEXEC (a library's) stay with the daemon.
        clinux_spawn_closefrom(&actions, 3)
        if let workingDirectory { clinux_spawn_chdir(&actions, workingDirectory) }

        let arguments = command.map { strdup($0) } + [nil]
        let variables = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { throw SpawnError(command: command[0], errno: result) }
        return pid
    }

    /// Whether the child has ended (and is reaped), its wait status in `status`.
    private static func reap(_ pid: pid_t, _ status: inout Int32, blocking: Bool = false) -> Bool {
        // ECHILD: reaped already, which nothing else here does; treat it as ended.
        guard let result = try? Sys.waitpid(pid, &status, blocking ? 0 : WNOHANG) else { return true }
        return result == pid
    }

    /// Signals the process group led by `pid`, or the process alone if it leads none.
    private static func signalGroup(_ pid: Int32, _ signal: Int32) {
        if kill(-pid, signal) != 0 && errno == ESRCH { kill(pid, signal) }
    }
}
