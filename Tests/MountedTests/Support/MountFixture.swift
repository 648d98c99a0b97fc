import Foundation
import Glibc
import Synchronization
import Testing

/// One epochfs mount of a test's own: a fresh store and mount point under `/srv/epochfs-test`,
/// the daemon it started, and the store's files. `withMount` always unmounts and stops the daemon.
final class MountFixture {
    let directory: TestDirectory
    let binary: String
    let staffGroup: String
    private(set) var daemon: pid_t?
    private var startedDaemons = [pid_t]()
    private var foreground: Process?
    private var watchdog: Watchdog?

    var mountpoint: String { directory.path + "/mnt" }
    var store: String { directory.path + "/store" }
    var logPath: String { directory.path + "/mount.log" }

    init(staffGroup: String = String(Identity.staffGroup)) throws {
        binary = try Self.locateBinary()
        directory = try TestDirectory()
        self.staffGroup = staffGroup
        try Files.mkdir(directory.path + "/mnt")
    }

    /// `EPOCHFS_BIN`, else `.build/debug/epochfs` of the package this file belongs to.
    static func locateBinary(file: String = #filePath) throws -> String {
        if let path = ProcessInfo.processInfo.environment["EPOCHFS_BIN"], !path.isEmpty {
            guard access(path, X_OK) == 0 else {
                throw CommandError(description: "EPOCHFS_BIN=\(path) is not an executable file")
            }
            return path
        }
        var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
        while directory.path != "/" {
            if access(directory.path + "/Package.swift", F_OK) == 0 {
                let path = directory.path + "/.build/debug/epochfs"
                guard access(path, X_OK) == 0 else {
                    throw CommandError(description: "no epochfs binary at \(path): run `swift build` or set EPOCHFS_BIN")
                }
                return path
            }
            directory.deleteLastPathComponent()
        }
        throw CommandError(description: "no Package.swift above \(file): set EPOCHFS_BIN")
    }

    // MARK: Paths

    func path(_ relative: String) -> String { mountpoint + "/" + relative }
    func root(_ district: District) -> String { path(district.name) }
    func upload(_ district: District) -> String { path(district.name + "/upload") }
    func processed(_ district: District) -> String { path(district.name + "/upload-processed") }

    // MARK: Mounting

    /// `epochfs mount` arguments for every mount of this run, from `EPOCHFS_TEST_MOUNT_ARGS`:
    /// scripts/test.sh runs the mounted suites a second time with `--no-passthrough`.
    static let runArguments: [String] = ProcessInfo.processInfo.environment["EPOCHFS_TEST_MOUNT_ARGS"]?
        .split(separator: " ").map(String.init) ?? []

    /// Runs `epochfs mount`, which must return only once the mount is live, and finds its daemon.
    /// A watchdog kills that daemon if the mount is still up after `deadline` seconds, so that a
    /// hung daemon fails the test instead of hanging the run.
    /// `launcher` runs `epochfs mount` under another program (`prlimit`, say).
    func mount(_ arguments: [String] = [], launcher: [String] = [], deadline: Double = 120) throws {
        let arguments = arguments + Self.runArguments.filter { !arguments.contains($0) }
        let result = try Command.run(
            launcher + [binary, "mount", mountpoint, "--store", store, "--staff-group", staffGroup] + arguments,
            timeout: 30, log: logPath)
        guard result.succeeded else {
            throw CommandError(description: "`epochfs mount` exited \(result.status); log:\n\(logTail())")
        }
        guard let entry = Mounts.entry(at: mountpoint), entry.filesystemType.hasPrefix("fuse") else {
            throw CommandError(description: "`epochfs mount` returned but \(mountpoint) is not a FUSE mount")
        }
        let found = daemonProcesses()
        if found.count != 1 {
            Issue.record("expected one `epochfs mount \(mountpoint)` process, found \(found)")
        }
        daemon = found.last
        startedDaemons += found.filter { !startedDaemons.contains($0) }
        _ = watchdog?.disarm()
        watchdog = Watchdog(daemon: daemon, connection: try connection(), seconds: deadline)
    }

    /// Starts `epochfs mount --foreground` as a child process and waits until the mount is live.
    /// `environment` adds to the clean environment the tests run commands with.
    func mountInForeground(environment: [String: String] = [:]) throws -> Process {
        let log = try OpenFile(logPath, O_WRONLY | O_CREAT | O_APPEND)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["mount", mountpoint, "--store", store, "--staff-group", staffGroup, "--foreground"]
            + Self.runArguments
        process.environment = Command.environment.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(fileDescriptor: log.fd, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: log.fd, closeOnDealloc: false)
        try process.run()
        try log.close()
        foreground = process
        daemon = process.processIdentifier
        startedDaemons.append(process.processIdentifier)
        let live = eventually(within: 30) { !process.isRunning || Mounts.entry(at: mountpoint) != nil }
        guard live, process.isRunning else {
            throw CommandError(description: "`epochfs mount --foreground` did not mount; log:\n\(logTail())")
        }
        _ = watchdog?.disarm()
        watchdog = Watchdog(daemon: process.processIdentifier, connection: try connection(), seconds: 120)
        return process
    }

    /// `fusermount3 -u`; throws unless it succeeds and the daemon then exits within 10 s.
    func unmount() throws {
        if watchdog?.disarm() == true { Issue.record("the mount hung: the watchdog killed its daemon") }
        let result = try Command.run(["fusermount3", "-u", mountpoint], timeout: 30)
        guard result.succeeded else { throw CommandError(description: "unmount failed: \(result)") }
        guard waitForDaemonExit(seconds: 10) else {
            throw CommandError(description: "daemon \(daemon.map(String.init) ?? "?") still runs 10 s after unmount")
        }
        daemon = nil
    }

    /// Sends `signal` to the daemon this fixture started; for SIGKILL, waits until it is gone.
    func signalDaemon(_ signal: Int32) throws {
        guard let daemon else { throw CommandError(description: "no daemon known for \(mountpoint)") }
        try sys("kill \(daemon)") { kill(daemon, signal) }
        if signal == SIGKILL {
            guard waitForDaemonExit(seconds: 10) else {
                throw CommandError(description: "daemon \(daemon) survived SIGKILL")
            }
            _ = watchdog?.disarm()
        }
    }

    /// Waits until the current daemon has exited.
    func waitForDaemonExit(seconds: Double) -> Bool {
        guard let daemon else { return true }
        return eventually(within: seconds) { !isAlive(daemon) }
    }

    private func isAlive(_ pid: pid_t) -> Bool {
        if let foreground, foreground.processIdentifier == pid { return foreground.isRunning }
        return daemonProcesses().contains(pid)
    }

    /// Replaces the watchdog with one that fires after `seconds`.
    func arm(deadline seconds: Double) throws {
        _ = watchdog?.disarm()
        watchdog = Watchdog(daemon: daemon, connection: try connection(), seconds: seconds)
    }

    /// Processes whose command line is `…epochfs … mount <this mountpoint> …`; not a child the
    /// daemon is starting (between its fork and its exec it shows the daemon's command line).
    func daemonProcesses() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let found = entries.compactMap { pid_t($0) }.filter { pid in
            guard let bytes = try? Files.read("/proc/\(pid)/cmdline") else { return false }
            let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let program = arguments.first, program.hasSuffix("epochfs") else { return false }
            return arguments.contains("mount") && arguments.contains(mountpoint)
        }
        // A child the daemon forks shows the daemon's command line until it execs; it is told
        // apart by its parent. One that exits between the two reads has no status left: it is
        // gone, not a second daemon.
        return found.filter { pid in
            guard let status = (try? Files.read("/proc/\(pid)/status")).map({ String(decoding: $0, as: UTF8.self) }),
                  let parent = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") })?
                      .split(separator: "\t").last.flatMap({ pid_t($0.trimmingCharacters(in: .whitespaces)) })
            else { return false }
            return !found.contains(parent)
        }.sorted()
    }

    /// The kernel's number for this mount's FUSE connection (`/sys/fs/fuse/connections/N`).
    func connection() throws -> UInt64 {
        deviceMinor(try Files.stat(mountpoint).st_dev)
    }

    /// Unmounts (lazily if it must) and stops every daemon this fixture started. Never throws.
    func tearDown() {
        if watchdog?.disarm() == true {
            Issue.record("the mount hung: the watchdog killed its daemon; log:\n\(logTail())")
        }
        for _ in 0..<3 where Mounts.entry(at: mountpoint) != nil {
            let unmounted = (try? Command.run(["fusermount3", "-u", mountpoint], timeout: 20))?.succeeded == true
            if !unmounted {
                if let id = try? connection() { Watchdog.abort(connection: id) }
                _ = try? Command.run(["umount", "-l", mountpoint], timeout: 20)
            }
        }
        for pid in Set(startedDaemons + daemonProcesses()) where isAlive(pid) {
            if eventually(within: 10, { !isAlive(pid) }) { continue }
            Issue.record("daemon \(pid) still running 10 s after its mount went away; killing it")
            if isAlive(pid) { kill(pid, SIGKILL) }
        }
        if let foreground, foreground.isRunning {
            foreground.terminate()
            foreground.waitUntilExit()
        }
        directory.remove()
    }

    /// The end of what `epochfs mount` printed and of the daemon's log in the store, for reports.
    func logTail(_ count: Int = 4000) -> String {
        [logPath, store + "/epochfs.log"].compactMap { path in
            guard let bytes = try? Files.read(path), !bytes.isEmpty else { return nil }
            return "\(path):\n" + String(String(decoding: bytes, as: UTF8.self).suffix(count))
        }.joined(separator: "\n")
    }

    // MARK: The command line

    /// Runs `epochfs` with these arguments (callers pass `--store` themselves where it applies).
    @discardableResult
    func epochfs(_ arguments: [String], as identity: Identity = .root, input: String = "") throws -> CommandResult {
        try Command.run([binary] + arguments, as: identity, input: Array(input.utf8), timeout: 30)
    }

    func add(_ district: District) throws {
        let result = try epochfs([
            "district", "add", district.name, "--store", store,
            "--uid", String(district.uid), "--gid", String(district.gid),
        ])
        guard result.succeeded else { throw CommandError(description: "district add failed: \(result)") }
    }

    /// A district's row of `epochfs district list`, by column name (NAME, BYTES, UPLOAD_BYTES, …).
    func districtRow(_ name: String) throws -> [String: String] {
        let list = try epochfs(["district", "list", "--store", store])
        guard let header = list.lines.first?.split(separator: "\t").map(String.init),
              let row = list.lines.dropFirst().first(where: { $0.hasPrefix(name + "\t") })?.split(separator: "\t").map(String.init),
              row.count == header.count else {
            throw CommandError(description: "no row for \(name) in: \(list)")
        }
        return Dictionary(uniqueKeysWithValues: zip(header, row))
    }

    func remove(_ district: District, deleteData: Bool = false) throws -> CommandResult {
        try epochfs(["district", "remove", district.name, "--store", store] + (deleteData ? ["--delete-data"] : []))
    }

    // MARK: The store

    /// Blob files, as paths relative to `<store>/blobs` (`ab/abcd…`).
    func blobs(sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        let root = store + "/blobs"
        guard Files.exists(root) else { return [] }
        return recording(sourceLocation) { try Files.regularFiles(under: root).sorted() } ?? ["(unreadable)"]
    }

    /// Names of the files in `<store>/staging`.
    func stagingFiles(sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        let root = store + "/staging"
        guard Files.exists(root) else { return [] }
        return recording(sourceLocation) { try Files.list(root).sorted() } ?? ["(unreadable)"]
    }

    /// Waits for release (which the kernel sends after close returns) to finish with staging.
    func stagingSettles(to expected: Set<String> = []) -> Bool {
        eventually { Set(stagingFiles()) == expected }
    }
}

/// Runs `body` with a fresh mount to which the districts have been added; always tears down.
func withMount<R>(
    districts: [District] = [.alpha], staffGroup: String = String(Identity.staffGroup),
    mountArguments: [String] = [], launcher: [String] = [],
    _ body: (MountFixture) throws -> R
) throws -> R {
    let fixture = try MountFixture(staffGroup: staffGroup)
    defer { fixture.tearDown() }
    try fixture.mount(mountArguments, launcher: launcher)
    for district in districts { try fixture.add(district) }
    return try body(fixture)
}

/// Ends a hung mount after a deadline unless disarmed first: kills the daemon it started (its
/// callers then get ENOTCONN) and aborts the FUSE connection where fusectl is mounted.
final class Watchdog: Sendable {
    private struct State { var armed = true, fired = false }
    private let state = Mutex(State())

    init(daemon: pid_t?, connection: UInt64, seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            let fire = state.withLock { state in
                defer { state.armed = false }
                state.fired = state.armed
                return state.armed
            }
            guard fire else { return }
            if let daemon { kill(daemon, SIGKILL) }
            Self.abort(connection: connection)
        }
    }

    /// Stops the watchdog; true if it had already fired.
    func disarm() -> Bool {
        state.withLock { state in
            state.armed = false
            return state.fired
        }
    }

    static func abort(connection: UInt64) {
        let fd = open("/sys/fs/fuse/connections/\(connection)/abort", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = write(fd, "1", 1)
        close(fd)
    }
}
