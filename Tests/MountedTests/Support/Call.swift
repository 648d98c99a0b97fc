import Glibc
import Testing

/// One system call made by another user. It runs as a perl one-liner under `setpriv` (perl-base
/// is always installed), and the exit status is the call's errno, so tests see the exact error.
enum Call: Sendable, CustomStringConvertible {
    case mkdir(String, mode: mode_t = 0o755)
    case rmdir(String)
    case unlink(String)
    /// Opens with `flags` (0644 for a new file), writes `text`, closes: each step checked.
    case write(String, String, flags: Int32 = O_WRONLY | O_CREAT | O_TRUNC, mode: mode_t = 0o644)
    case open(String, flags: Int32)
    /// Reads the whole file to standard output.
    case read(String)
    /// Prints the names in a directory, one a line, sorted.
    case list(String)
    case stat(String)
    case rename(String, String)
    case link(String, String)
    case symlink(String, String)
    case mkfifo(String)
    case chmod(String, mode_t)
    /// -1 leaves the id unchanged.
    case chown(String, uid: Int, gid: Int)
    case truncate(String, Int)
    /// Creates the file with `mode` and ftruncates it to `size` through the creating descriptor.
    case createAndTruncate(String, mode: mode_t, size: Int)
    /// `utime(undef, undef, path)`: both times to now, which needs ownership or write permission.
    case touch(String)

    private var program: (script: String, arguments: [String]) {
        switch self {
        case .mkdir(let path, let mode):
            ("mkdir($ARGV[0], $ARGV[1]) or fail", [path, String(mode)])
        case .rmdir(let path):
            ("rmdir($ARGV[0]) or fail", [path])
        case .unlink(let path):
            ("unlink($ARGV[0]) == 1 or fail", [path])
        case .write(let path, let text, let flags, let mode):
            ("""
             defined(my $fd = POSIX::open($ARGV[0], $ARGV[1], $ARGV[2])) or fail;
             my $text = $ARGV[3];
             while (length $text) { my $n = POSIX::write($fd, $text, length $text); defined $n or fail; substr($text, 0, $n) = "" }
             defined(POSIX::close($fd)) or fail
             """, [path, String(flags), String(mode), text])
        case .open(let path, let flags):
            ("defined(my $fd = POSIX::open($ARGV[0], $ARGV[1], 0644)) or fail; defined(POSIX::close($fd)) or fail",
             [path, String(flags)])
        case .read(let path):
            ("""
             open(my $f, "<", $ARGV[0]) or fail; binmode $f; binmode STDOUT;
             while (1) { my $n = sysread($f, my $b, 65536); defined $n or fail; last if $n == 0; print $b }
             close($f) or fail
             """, [path])
        case .list(let path):
            ("""
             opendir(my $d, $ARGV[0]) or fail;
             print map { "$_\\n" } sort grep { $_ ne "." && $_ ne ".." } readdir $d
             """, [path])
        case .stat(let path):
            ("my @s = stat($ARGV[0]) or fail; printf \"%o %d %d %d\\n\", $s[2], $s[4], $s[5], $s[7]", [path])
        case .rename(let from, let to):
            ("rename($ARGV[0], $ARGV[1]) or fail", [from, to])
        case .link(let from, let to):
            ("link($ARGV[0], $ARGV[1]) or fail", [from, to])
        case .symlink(let target, let path):
            ("symlink($ARGV[0], $ARGV[1]) or fail", [target, path])
        case .mkfifo(let path):
            ("POSIX::mkfifo($ARGV[0], 0644) or fail", [path])
        case .chmod(let path, let mode):
            ("chmod($ARGV[1], $ARGV[0]) == 1 or fail", [path, String(mode)])
        case .chown(let path, let uid, let gid):
            ("chown($ARGV[1], $ARGV[2], $ARGV[0]) == 1 or fail", [path, String(uid), String(gid)])
        case .truncate(let path, let size):
            ("truncate($ARGV[0], $ARGV[1]) or fail", [path, String(size)])
        case .createAndTruncate(let path, let mode, let size):
            ("""
             use Fcntl; sysopen(my $f, $ARGV[0], O_RDWR | O_CREAT | O_EXCL, $ARGV[1]) or fail;
             truncate($f, $ARGV[2]) or fail; close($f) or fail
             """, [path, String(mode), String(size)])
        case .touch(let path):
            ("utime(undef, undef, $ARGV[0]) == 1 or fail", [path])
        }
    }

    var description: String {
        let (_, arguments) = program
        let name = Mirror(reflecting: self).children.first?.label ?? "call"
        return "\(name)(\(arguments.map { $0.count > 40 ? "\($0.prefix(40))…" : $0 }.joined(separator: ", ")))"
    }

    /// The perl command line; `fail` exits with errno (250 if errno is somehow unset).
    var argv: [String] {
        let (script, arguments) = program
        let prelude = "use strict; use POSIX (); sub fail { exit(($! + 0) || 250) } "
        return ["/usr/bin/perl", "-e", prelude + script, "--"] + arguments
    }
}

/// The outcome of a `Call`.
struct CallResult: CustomStringConvertible {
    let call: Call
    let identity: Identity
    let result: CommandResult

    /// nil when the call succeeded.
    var errno: Errno? { result.status == 0 ? nil : Errno(result.status) }

    var output: String { result.stdout }

    var description: String {
        "\(call) as \(identity): \(errno.map(\.description) ?? "succeeded")"
            + (result.stderr.isEmpty ? "" : " (stderr: \(result.stderr.prefix(500)))")
    }
}

extension Identity {
    /// Makes `call` as this identity; nil when it succeeded, otherwise its errno. Not throwing, so
    /// that `#expect(alpha.attempt(…) == .EACCES)` shows the errno it got.
    func attempt(_ call: Call, sourceLocation: SourceLocation = #_sourceLocation) -> Errno? {
        do {
            return try perform(call).errno
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
            return .didNotRun
        }
    }

    /// What `call` printed, or nil (and an issue recorded) when it failed.
    func output(_ call: Call, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            return try must(call)
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
            return nil
        }
    }

    func perform(_ call: Call) throws -> CallResult {
        let result = try Command.run(call.argv, as: self, timeout: 30)
        if result.status >= 124 {
            throw CommandError(description: "\(call) as \(self) did not run: \(result)")
        }
        return CallResult(call: call, identity: self, result: result)
    }

    /// Makes `call` and throws unless it succeeded; returns what it printed.
    @discardableResult
    func must(_ call: Call) throws -> String {
        let outcome = try perform(call)
        guard outcome.errno == nil else { throw CommandError(description: outcome.description) }
        return outcome.output
    }
}
