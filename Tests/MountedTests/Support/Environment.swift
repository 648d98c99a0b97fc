import Foundation
import Glibc
import Synchronization
import Testing

/// What a mounted test needs from the machine; a suite without it is disabled, never passed.
enum MountRequirements {
    static let tools = [
        "/usr/bin/fusermount3", "/usr/bin/setpriv", "/usr/bin/timeout", "/usr/bin/perl",
        "/usr/bin/sha256sum",
    ]

    /// Why mounted tests cannot run here, or nil when they can.
    static var unmet: String? {
        if geteuid() != 0 { return "mounted tests must run as root (euid is \(geteuid()))" }
        if access("/dev/fuse", R_OK | W_OK) != 0 { return "/dev/fuse is missing or not usable" }
        if let missing = tools.first(where: { access($0, X_OK) != 0 }) { return "\(missing) is missing" }
        return nil
    }
}

extension Trait where Self == ConditionTrait {
    /// Enabled only as root with /dev/fuse, fusermount3, setpriv and perl.
    static var requiresMount: Self {
        .enabled(
            if: MountRequirements.unmet == nil,
            "needs root, /dev/fuse, fusermount3, setpriv and perl: \(MountRequirements.unmet ?? "all present")")
    }
}

enum KernelFeatures {
    /// FUSE passthrough: Linux 6.9 and later (the mount falls back to the writeback cache
    /// before that, and tests of passthrough's behaviour do not apply), unless this run
    /// mounts with `--no-passthrough`.
    static var passthrough: Bool {
        if MountFixture.runArguments.contains("--no-passthrough") { return false }
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return false }
        return (numbers[0], numbers[1]) >= (6, 9)
    }
}

extension Trait where Self == ConditionTrait {
    /// Enabled where the kernel offers FUSE passthrough.
    static var requiresPassthrough: Self {
        .enabled(if: KernelFeatures.passthrough, "needs FUSE passthrough: Linux 6.9 or later, and a run without --no-passthrough")
    }
}

/// A district the tests add, with ids that need no unix user.
struct District: Sendable, CustomStringConvertible {
    let name: String
    let uid: uid_t
    let gid: gid_t

    static let alpha = District(name: "alpha", uid: 5001, gid: 5001)
    static let beta = District(name: "beta", uid: 5011, gid: 5011)
    static let gamma = District(name: "gamma", uid: 5021, gid: 5021)

    var identity: Identity { Identity(uid: uid, gid: gid, groups: []) }
    var description: String { name }
}

extension Identity {
    /// The staff group the tests mount with: numeric, so that no group needs to exist.
    static let staffGroup: gid_t = 4242
    /// A staff member who is not root.
    static let staff = Identity(uid: 5002, gid: 5002, groups: [staffGroup])
    /// Neither root, a district, nor staff.
    static let outsider = Identity(uid: 5003, gid: 5003, groups: [])
}

/// A fresh directory of its own under the root-owned base `/srv/epochfs-test`.
final class TestDirectory {
    static let base = "/srv/epochfs-test"

    let path: String
    /// Removed when the last reference goes (a test's scratch space); a mount fixture
    /// removes its directory itself, after unmounting.
    private let scratch: Bool

    init(scratch: Bool = false) throws {
        self.scratch = scratch
        try Self.prepareBase()
        var template = Array("\(Self.base)/run-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else {
            throw SystemCallError(call: "mkdtemp \(Self.base)/run-XXXXXX", errno: .current)
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try sys("chmod \(path)") { chmod(path, 0o755) }
    }

    /// Creates the base if it is missing; refuses one that someone else could write to.
    private static func prepareBase() throws {
        if Glibc.mkdir(base, 0o755) != 0 && errno != EEXIST {
            throw SystemCallError(call: "mkdir \(base)", errno: .current)
        }
        let st = try Files.lstat(base)
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == 0, st.st_mode & 0o022 == 0 else {
            throw CommandError(description: "\(base) must be a directory owned by root and writable only by root")
        }
        try sys("chmod \(base)") { chmod(base, 0o755) }
    }

    deinit {
        if scratch { remove() }
    }

    /// Removes the directory, unless a mount is still live below it or EPOCHFS_KEEP_TEST_DIRS is set.
    func remove() {
        if ProcessInfo.processInfo.environment["EPOCHFS_KEEP_TEST_DIRS"] != nil { return }
        if Mounts.entries().contains(where: { $0.mountpoint.hasPrefix(path + "/") }) {
            Issue.record("left \(path) in place: a mount below it is still live")
            return
        }
        _ = try? Command.run(["rm", "-rf", "--one-file-system", path], timeout: 120)
    }
}

/// Runs `body` with a fresh directory that is removed afterwards.
func withTestDirectory<R>(_ body: (TestDirectory) throws -> R) throws -> R {
    let directory = try TestDirectory()
    defer { directory.remove() }
    return try body(directory)
}

/// Lines of /proc/self/mountinfo.
enum Mounts {
    struct Entry {
        let mountpoint: String
        let filesystemType: String
        let source: String
        let superOptions: [String]
        let mountOptions: [String]
    }

    static func entries() -> [Entry] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { return nil }
            let head = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard head.count >= 6, tail.count >= 3 else { return nil }
            return Entry(
                mountpoint: unescape(String(head[4])), filesystemType: String(tail[0]), source: String(tail[1]),
                superOptions: tail[2].split(separator: ",").map(String.init),
                mountOptions: head[5].split(separator: ",").map(String.init))
        }
    }

    static func entry(at mountpoint: String) -> Entry? {
        entries().last { $0.mountpoint == mountpoint }
    }

    private static func unescape(_ field: String) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }
}

extension Files {
    static func lstat(_ path: String) throws -> stat {
        var st = Glibc.stat()
        try sys("lstat \(path)") { fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) }
        return st
    }
}

/// Polls `condition` until it holds or `seconds` pass; for work the filesystem may finish later
/// (reclaiming space), never for what a call must have done by the time it returns.
func eventually(within seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if try condition() { return true }
        if Date() > deadline { return false }
        usleep(20_000)
    }
}

/// Runs the jobs on threads of their own, all at once, and returns their errors.
func runConcurrently(_ jobs: [@Sendable () throws -> Void], timeout seconds: Double = 120) -> [any Error] {
    let errors = ErrorList()
    let group = DispatchGroup()
    for job in jobs {
        group.enter()
        let thread = Thread {
            do { try job() } catch { errors.append(error) }
            group.leave()
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    if group.wait(timeout: .now() + seconds) == .timedOut {
        errors.append(CommandError(description: "concurrent jobs still running after \(seconds) s"))
    }
    return errors.all
}

private final class ErrorList: Sendable {
    private let errors = Mutex<[any Error]>([])

    func append(_ error: any Error) { errors.withLock { $0.append(error) } }
    var all: [any Error] { errors.withLock { $0 } }
}
