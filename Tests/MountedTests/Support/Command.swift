import Foundation
import Glibc
import Testing

/// Who a command runs as. No unix user needs to exist: `setpriv` sets the ids directly.
struct Identity: Sendable, CustomStringConvertible {
    let uid: uid_t
    let gid: gid_t
    let groups: [gid_t]

    static let root = Identity(uid: 0, gid: 0, groups: [])

    var isRoot: Bool { uid == 0 }

    var description: String {
        isRoot ? "root" : "uid \(uid) gid \(gid) groups [\(groups.map(String.init).joined(separator: ","))]"
    }
}

/// How a finished command ended and what it printed.
struct CommandResult: CustomStringConvertible {
    let command: [String]
    let identity: Identity
    let status: Int32
    let output: [UInt8]
    let errorOutput: [UInt8]

    var succeeded: Bool { status == 0 }
    var stdout: String { String(decoding: output, as: UTF8.self) }
    var stderr: String { String(decoding: errorOutput, as: UTF8.self) }
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    var description: String {
        "`\(command.joined(separator: " "))` as \(identity) exited \(status)"
            + (output.isEmpty ? "" : "\nstdout: \(stdout.prefix(2000))")
            + (errorOutput.isEmpty ? "" : "\nstderr: \(stderr.prefix(2000))")
    }
}

struct CommandError: Error, CustomStringConvertible {
    let description: String
}

/// Runs programs with a clean environment, bounded by `timeout`, as root or as another identity.
enum Command {
    static let environment = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C",
        "HOME": "/",
        // Not the host's /etc/epochfs/epochfs.conf: the tests pass what they need.
        "EPOCHFS_CONFIG": "/nonexistent/epochfs.conf",
    ]

    /// Runs `argv` and waits for it. Output goes to unlinked temporary files, never pipes, so a
    /// daemon that inherits them cannot keep this waiting. With `log`, both streams go there.
    static func run(
        _ argv: [String], as identity: Identity = .root, input: [UInt8] = [],
        timeout seconds: Int = 60, log: String? = nil
    ) throws -> CommandResult {
        var command = ["/usr/bin/timeout", "-k", "5", String(seconds)]
        if !identity.isRoot {
            command += [
                "/usr/bin/setpriv", "--reuid=\(identity.uid)", "--regid=\(identity.gid)",
                identity.groups.isEmpty
                    ? "--clear-groups" : "--groups=\(identity.groups.map(String.init).joined(separator: ","))",
                "--",
            ]
        }
        command += argv

        let stdin = try TemporaryFile(contents: input)
        let stdout = try log.map { try TemporaryFile(appendingTo: $0) } ?? TemporaryFile(contents: [])
        let stderr = log == nil ? try TemporaryFile(contents: []) : stdout

        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.standardInput = FileHandle(fileDescriptor: stdin.fd, closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: stdout.fd, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: stderr.fd, closeOnDealloc: false)
        try process.run()
        process.waitUntilExit()

        let status = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        return CommandResult(
            command: argv, identity: identity, status: status,
            output: try stdout.contents(), errorOutput: log == nil ? try stderr.contents() : [])
    }

    /// Runs a `/bin/sh` script.
    static func sh(_ script: String, as identity: Identity = .root, timeout: Int = 60) throws -> CommandResult {
        try run(["/bin/sh", "-c", script], as: identity, timeout: timeout)
    }
}

/// Quotes a string for `/bin/sh`.
func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A file a child process reads or writes through an inherited descriptor.
private final class TemporaryFile {
    let fd: Int32

    init(contents: [UInt8]) throws {
        var template = Array("/tmp/epochfs-command-XXXXXX".utf8CString)
        fd = try sys("mkstemp") { mkstemp(&template) }
        unlink(template)
        var done = 0
        while done < contents.count {
            done += try sys("write temporary file") {
                contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            }
        }
        lseek(fd, 0, SEEK_SET)
    }

    init(appendingTo path: String) throws {
        fd = try sys("open \(path)") { Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
    }

    deinit { close(fd) }

    func contents() throws -> [UInt8] {
        var result = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset = 0
        while true {
            let n = try sys("read temporary file") { pread(fd, &buffer, buffer.count, offset) }
            if n == 0 { return result }
            result += buffer[..<n]
            offset += n
        }
    }
}

/// Test content: random (a content-addressed store must not be flattered by repeated bytes).
enum TestData {
    static func random(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open /dev/urandom")
        defer { close(fd) }
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, count - done) }
            precondition(n > 0, "cannot read /dev/urandom")
            done += n
        }
        return bytes
    }

    /// Random printable text, for content written by another user through a command line.
    static func randomText(_ count: Int) -> String {
        String(random(count).map { "0123456789abcdefghijklmnopqrstuvwxyz"[Int($0) % 36] })
    }

    /// SHA-256 in hex, computed by coreutils, independently of the code under test.
    static func sha256(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            let result = try Command.run(["sha256sum"], input: bytes)
            if result.succeeded, let hash = result.stdout.split(separator: " ").first { return String(hash) }
            Issue.record("sha256sum failed: \(result)", sourceLocation: sourceLocation)
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
        }
        return "sha256sum failed"
    }
}

private extension String {
    subscript(_ index: Int) -> Character { self[self.index(startIndex, offsetBy: index)] }
}
