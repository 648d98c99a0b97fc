import EpochStore
import Foundation
import FuseBridge
#if canImport(Glibc)
import Glibc
#endif

/// The unix side of a district: its user (sshd needs one to log in), its group membership,
/// and its live SFTP sessions.
enum UnixAccounts {
    /// Creates the group if it does not exist (a system group).
    static func ensureGroup(_ group: String) throws {
        guard getgrnam(group) == nil else { return }
        try run(["/usr/sbin/groupadd", "--system", group])
    }

    /// A user for a district: no home, no usable shell, in `group` (which sshd chroots), and a
    /// password field of `*` (with `UsePAM no`, the `!` that useradd leaves locks key logins
    /// out too). sshd starts its sessions in `/upload`, inside the chroot.
    static func createDistrictUser(_ name: String, group: String) throws {
        try ensureGroup(group)
        try run([
            "/usr/sbin/useradd", "--no-create-home", "--home-dir", "/upload", "--shell", "/usr/sbin/nologin",
            "--user-group", "--groups", group, "--password", "*", "--comment", "EpochFS district", name,
        ])
    }

    /// Removes the user and its own group.
    static func deleteUser(_ name: String) throws {
        try run(["/usr/sbin/userdel", name])
    }

    static func isMember(_ user: String, of group: String) -> Bool {
        guard let entry = getpwnam(user), let groupEntry = getgrnam(group) else { return false }
        let wanted = groupEntry.pointee.gr_gid
        if entry.pointee.pw_gid == wanted { return true }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, entry.pointee.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user, entry.pointee.pw_gid, &groups, &count)
        }
        return groups.prefix(Int(count)).contains(wanted)
    }

    /// Ends the district's sshd sessions, the processes of `uid` chrooted into
    /// `<an epochfs mount>/<district>`: removing a district must end its access at once, not at
    /// its next login, and userdel refuses a user with processes. SIGTERM first, SIGKILL for
    /// what is left after five seconds. Returns how many there were.
    @discardableResult
    static func endSessions(of district: String, uid: uid_t) -> Int {
        let sessions = sessionProcesses(of: district, uid: uid)
        for pid in sessions { kill(pid, SIGTERM) }
        for _ in 0..<50 where !sessionProcesses(of: district, uid: uid).isEmpty { usleep(100_000) }
        for pid in sessionProcesses(of: district, uid: uid) { kill(pid, SIGKILL) }
        for _ in 0..<20 where !sessionProcesses(of: district, uid: uid).isEmpty { usleep(100_000) }
        return sessions.count
    }

    /// Never another user's chrooted processes (a container, or a district sharing a uid).
    private static func sessionProcesses(of district: String, uid: uid_t) -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = pid_t(entry), pid > 1 else { return nil }
            var st = stat()
            guard stat("/proc/\(entry)", &st) == 0, st.st_uid == uid,
                  var root = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/root") else {
                return nil
            }
            // The district's directory is gone by now: the kernel says so after the path.
            if root.hasSuffix(" (deleted)") { root.removeLast(" (deleted)".count) }
            let url = URL(fileURLWithPath: root)
            guard url.lastPathComponent == district,
                  MountTable.epochfsMount(at: url.deletingLastPathComponent().path) != nil else { return nil }
            return pid
        }
    }

    private static func run(_ argv: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CommandError("cannot run \(argv[0]) (\(error)): is the passwd package installed?")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandError("\(argv.joined(separator: " ")) failed (exit \(process.terminationStatus)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

extension UnixAccounts {
    /// Makes `directory` the web user's own (0700), creating it, and the store above it
    /// traversable (0711), as root.
    static func prepareWebDirectory(_ directory: String, for user: String) throws {
        let (uid, gid) = try ids(of: user)
        try Sys.mkdir(URL(fileURLWithPath: directory).deletingLastPathComponent().path, 0o711)
        try Sys.mkdir(directory, 0o700)
        try Sys.chown(directory, uid, gid)
        try Sys.chmod(directory, 0o700)
    }

    /// Becomes `user` for good: its group alone, then its uid; root cannot be taken back.
    static func becomeUser(_ user: String) throws {
        var (uid, gid) = try ids(of: user)
        guard setgroups(1, &gid) == 0, setgid(gid) == 0, setuid(uid) == 0 else { throw SystemError("setuid", user) }
        guard setuid(0) != 0, geteuid() == uid else { throw CommandError("could not give up root for \(user)") }
    }

    /// The uid and primary gid of the web console's user.
    private static func ids(of user: String) throws -> (uid: uid_t, gid: gid_t) {
        guard let entry = getpwnam(user) else {
            throw CommandError("no user '\(user)': run mount-scripts/install.sh, or useradd --system \(user)")
        }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }
}
