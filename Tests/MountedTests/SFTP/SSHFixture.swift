import Foundation
import Glibc
import Testing

/// What the SFTP tests need besides a mount; a suite without it is disabled, never passed.
enum SSHRequirements {
    static let tools = [
        "/usr/sbin/sshd", "/usr/bin/sftp", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/lftp",
        "/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/sbin/groupadd",
    ]

    static var unmet: String? {
        if let unmet = MountRequirements.unmet { return unmet }
        if let missing = tools.first(where: { access($0, X_OK) != 0 }) { return "\(missing) is missing" }
        if (try? Command.run([python, "-c", "import paramiko"]))?.succeeded != true { return "\(python) cannot import paramiko" }
        return nil
    }

    /// Debian's own Python, where python3-paramiko lives (not whatever `python3` is first on PATH).
    static let python = "/usr/bin/python3"
}

extension Trait where Self == ConditionTrait {
    static var requiresSSH: Self {
        .enabled(if: SSHRequirements.unmet == nil,
                 "needs a mount, openssh-server, openssh-client, lftp and python3-paramiko: \(SSHRequirements.unmet ?? "all present")")
    }
}

/// A district with a real unix user (sshd looks it up), created by
/// `epochfs district add --create-user`, and a key pair of its own.
struct SSHDistrict: CustomStringConvertible {
    let name: String
    let uid: uid_t
    let gid: gid_t
    let privateKey: String
    let publicKey: String

    var identity: Identity { Identity(uid: uid, gid: gid, groups: []) }
    var description: String { name }
}

/// A mount with districts and a stock sshd of the test's own on a loopback port, configured
/// with the shipped drop-in (`mount-scripts/epochfs-sshd-config`). `withSSH` always stops
/// sshd, removes the districts' users and unmounts.
final class SSHFixture {
    static let keysUser = "epochfs-keys"
    static let districtsGroup = "epochfs-districts"

    let mount: MountFixture
    private(set) var districts: [SSHDistrict] = []
    private(set) var port: UInt16 = 0
    private var sshd: pid_t?

    var directory: String { mount.directory.path }
    var sshDirectory: String { directory + "/ssh" }
    /// The binary sshd runs as AuthorizedKeysCommand: a root-owned copy, since the checkout
    /// may live below a world-writable directory such as /tmp, which sshd refuses.
    var installedBinary: String { directory + "/bin/epochfs" }
    var sshdLog: String { sshDirectory + "/sshd.log" }

    /// The district's directories as root sees them on the mount.
    func upload(_ district: SSHDistrict) -> String { mount.path(district.name + "/upload") }
    func processed(_ district: SSHDistrict) -> String { mount.path(district.name + "/upload-processed") }

    init() throws {
        mount = try MountFixture()
    }

    /// Mounts, creates the districts with users and keys, and starts sshd.
    func start(districts count: Int, mountArguments: [String] = []) throws {
        try Self.ensureSystemAccounts()
        try mount.mount(mountArguments)
        for _ in 0..<count { districts.append(try addDistrict()) }
        try Files.mkdir(directory + "/bin")
        try Self.copy(mount.binary, to: installedBinary)
        try startSSHD()
    }

    /// The group and user sshd's AuthorizedKeysCommand runs as, as install.sh creates them.
    /// They must exist before the daemon starts: it gives the key files their group.
    static func ensureSystemAccounts() throws {
        try withAccountsLock {
            for group in [keysUser, districtsGroup] where getgrnam(group) == nil {
                try must(["/usr/sbin/groupadd", "--system", group])
            }
            if getpwnam(keysUser) == nil {
                try must(["/usr/sbin/useradd", "--system", "--gid", keysUser, "--no-create-home",
                          "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", keysUser])
            }
        }
    }

    /// useradd, userdel and groupadd lock /etc/passwd and fail rather than wait: suites that
    /// run at the same time take turns.
    private static let accountsLock = NSLock()

    static func withAccountsLock<R>(_ body: () throws -> R) rethrows -> R {
        accountsLock.lock()
        defer { accountsLock.unlock() }
        return try body()
    }

    /// A district named `ep` and six random letters (unix user names are global), with a key.
    func addDistrict(keyType: String = "ed25519") throws -> SSHDistrict {
        let name = "ep" + String((0..<6).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement()! })
        let added = try Self.withAccountsLock {
            try mount.epochfs(["district", "add", name, "--create-user", "--store", mount.store])
        }
        guard added.succeeded, let user = getpwnam(name) else {
            throw CommandError(description: "district add --create-user failed: \(added)")
        }
        let key = sshDirectory + "/" + name
        if !Files.exists(sshDirectory) { try Files.mkdir(sshDirectory, mode: 0o700) }
        try Self.must(["/usr/bin/ssh-keygen", "-q", "-t", keyType, "-N", "", "-C", "\(name)@test", "-f", key])
        let district = SSHDistrict(name: name, uid: user.pointee.pw_uid, gid: user.pointee.pw_gid,
                                   privateKey: key, publicKey: key + ".pub")
        try addKey(district.publicKey, to: district)
        return district
    }

    /// Leaves a district the test removed itself out of the teardown.
    func forget(_ district: SSHDistrict) {
        districts.removeAll { $0.name == district.name }
    }

    func addKey(_ path: String, to district: SSHDistrict) throws {
        let result = try mount.epochfs(["keys", "add", district.name, path, "--store", mount.store])
        guard result.succeeded else { throw CommandError(description: "keys add failed: \(result)") }
    }

    // MARK: sshd

    private func startSSHD() throws {
        try Self.must(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", sshDirectory + "/host_ed25519"])
        let dropIn = try Command.run([
            Self.mountScripts + "/epochfs-sshd-config", "--mount", mount.mountpoint,
            "--epochfs", installedBinary, "--store", mount.store,
            "--keys-user", Self.keysUser, "--districts-group", Self.districtsGroup,
        ])
        guard dropIn.succeeded else { throw CommandError(description: "epochfs-sshd-config failed: \(dropIn)") }
        try Files.write(sshDirectory + "/epochfs.conf", Array(dropIn.output))
        port = try Self.freeLoopbackPort()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(sshDirectory)/host_ed25519
            PidFile \(sshDirectory)/sshd.pid
            UsePAM no
            LogLevel VERBOSE
            AllowGroups \(Self.districtsGroup)
            Subsystem sftp internal-sftp
            Include \(sshDirectory)/epochfs.conf

            """
        try Files.write(sshDirectory + "/sshd_config", Array(config.utf8))
        if !Files.exists("/run/sshd") { try Files.mkdir("/run/sshd", mode: 0o755) }
        let check = try Command.run(["/usr/sbin/sshd", "-t", "-f", sshDirectory + "/sshd_config"])
        guard check.succeeded else { throw CommandError(description: "sshd -t refuses the configuration: \(check)") }

        // sshd daemonizes (no -D): a long-lived child started with Foundation's Process would
        // hold up the reaping of every later Command.run child until it exits.
        let started = try Command.run(["/usr/sbin/sshd", "-f", sshDirectory + "/sshd_config", "-E", sshdLog])
        guard started.succeeded else { throw CommandError(description: "sshd did not start: \(started)\n\(logTail())") }
        // The daemonized sshd writes its pid file after it starts to listen.
        var pid: pid_t?
        let listening = eventually(within: 10) {
            pid = pidFromFile
            return pid != nil && Self.accepts(port: port)
        }
        sshd = pid
        guard listening else { throw CommandError(description: "sshd does not listen on port \(port):\n\(logTail())") }
    }

    /// What the daemonized sshd wrote to its pid file, once it has.
    private var pidFromFile: pid_t? {
        (try? Files.read(sshDirectory + "/sshd.pid")).flatMap {
            pid_t(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    func logTail(_ count: Int = 4000) -> String {
        let sshdText = (try? Files.read(sshdLog)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return "sshd log:\n" + String(sshdText.suffix(count)) + "\n" + mount.logTail(count)
    }

    // MARK: Clients

    /// The ssh options every client here uses: this key only, no host key prompts, no waiting.
    func sshOptions(_ district: SSHDistrict) -> [String] {
        [
            "-i", district.privateKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10",
        ]
    }

    /// Runs OpenSSH `sftp -b -` with these commands; a failing command ends the batch with exit 1.
    func sftp(_ district: SSHDistrict, _ commands: [String], options: [String] = [], timeout: Int = 120) throws -> CommandResult {
        try Command.run(
            ["/usr/bin/sftp", "-b", "-", "-P", String(port)] + sshOptions(district) + options + ["\(district.name)@127.0.0.1"],
            input: Array((commands.joined(separator: "\n") + "\n").utf8), timeout: timeout)
    }

    /// Runs `ssh` with these arguments before the destination and `command` after it.
    func ssh(_ district: SSHDistrict, _ arguments: [String], command: [String] = [], timeout: Int = 30) throws -> CommandResult {
        try Command.run(["/usr/bin/ssh", "-p", String(port)] + sshOptions(district) + arguments
                        + ["\(district.name)@127.0.0.1"] + command, timeout: timeout)
    }

    /// Runs a Python script with paramiko connected as `district`: the script sees `sftp`
    /// (a `paramiko.SFTPClient`) and `root` (a scratch directory of its own).
    func paramiko(_ district: SSHDistrict, _ script: String, timeout: Int = 120) throws -> CommandResult {
        let prelude = """
            import os, sys, hashlib, paramiko
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            client.connect("127.0.0.1", port=\(port), username="\(district.name)", key_filename="\(district.privateKey)",
                           allow_agent=False, look_for_keys=False, timeout=10)
            sftp = client.open_sftp()
            root = "\(directory)/paramiko-\(district.name)"
            os.makedirs(root, exist_ok=True)

            """
        return try Command.run([SSHRequirements.python, "-c", prelude + script + "\nsftp.close()\nclient.close()\n"], timeout: timeout)
    }

    // MARK: Teardown

    /// Stops sshd and the sessions it left, removes the districts and their users, unmounts.
    func tearDown() {
        // sshd may have started without the pid being read in time.
        if let sshd = sshd ?? pidFromFile {
            kill(sshd, SIGTERM)
            if !eventually(within: 10, { kill(sshd, 0) != 0 }) {
                Issue.record("sshd \(sshd) still runs 10 s after SIGTERM; killing it")
                kill(sshd, SIGKILL)
            }
        }
        for district in districts {
            _ = try? Command.run([Self.mountScripts + "/epochfs-end-sessions", mount.mountpoint])
            let removed = Self.withAccountsLock {
                try? mount.epochfs(["district", "remove", district.name, "--delete-data", "--store", mount.store])
            }
            if removed?.succeeded != true { Issue.record("district remove \(district.name) failed: \(removed.map(String.init(describing:)) ?? "did not run")") }
            if getpwnam(district.name) != nil {
                Issue.record("the unix user \(district.name) outlived district remove; deleting it")
                _ = try? Command.run(["/usr/sbin/userdel", district.name])
            }
        }
        mount.tearDown()
    }

    // MARK: Helpers

    /// `mount-scripts/` of the checkout this file belongs to.
    static var mountScripts: String {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" && access(directory.path + "/Package.swift", F_OK) != 0 {
            directory.deleteLastPathComponent()
        }
        return directory.path + "/mount-scripts"
    }

    private static func copy(_ source: String, to target: String) throws {
        try must(["/usr/bin/install", "-o", "root", "-g", "root", "-m", "0755", source, target])
    }

    private static func must(_ argv: [String]) throws {
        let result = try Command.run(argv)
        guard result.succeeded else { throw CommandError(description: "\(result)") }
    }

    private static func freeLoopbackPort() throws -> UInt16 {
        let fd = try sys("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = try sys("bind") { bind(fd, raw, length) }
                _ = try sys("getsockname") { getsockname(fd, raw, &length) }
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// Runs `body` with a mount, `districts` districts with users and keys, and sshd; always
/// cleans up. The sshd log is attached to a failure.
func withSSH<R>(districts: Int = 1, mountArguments: [String] = [], _ body: (SSHFixture) throws -> R) throws -> R {
    let fixture = try SSHFixture()
    defer { fixture.tearDown() }
    do {
        try fixture.start(districts: districts, mountArguments: mountArguments)
        return try body(fixture)
    } catch {
        Issue.record("\(error)\n\(fixture.logTail())")
        throw error
    }
}
