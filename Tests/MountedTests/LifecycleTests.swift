import Foundation
import Glibc
import Testing

/// `epochfs mount` and the ways a mount ends.
@Suite("Mount lifecycle", .serialized, .requiresMount)
struct LifecycleTests {
    @Test("epochfs mount returns with the mount live: allow_other, default_permissions, a new store")
    func mountIsLive() throws {
        let fs = try MountFixture()
        defer { fs.tearDown() }
        #expect(!Files.exists(fs.store))
        try fs.mount()
        let entry = try #require(Mounts.entry(at: fs.mountpoint))
        #expect(entry.filesystemType.hasPrefix("fuse"), "\(entry.filesystemType)")
        #expect(entry.superOptions.contains("allow_other"), "\(entry.superOptions)")
        #expect(entry.superOptions.contains("default_permissions"), "\(entry.superOptions)")
        #expect(attributes(of: fs.mountpoint)?.st_dev != attributes(of: fs.directory.path)?.st_dev)
        #expect(names(in: fs.mountpoint) == [])
        #expect(Files.exists(fs.store), "the store is created")
        #expect(fs.daemon != nil, "the daemon keeps running")
    }

    @Test("under systemd (Type=notify) the daemon says READY=1 once the mount is live, STOPPING=1 when it goes")
    func notifiesSystemd() throws {
        let fs = try MountFixture()
        defer { fs.tearDown() }
        let socketPath = fs.directory.path + "/notify.sock"
        let listener = try NotifyListener(path: socketPath)
        // Started the way systemd starts it: in front, with NOTIFY_SOCKET set.
        let process = try fs.mountInForeground(environment: ["NOTIFY_SOCKET": socketPath])
        let ready = try listener.receive(seconds: 30)
        #expect(ready?.contains("READY=1") == true, "got \(ready ?? "nothing"); log:\n\(fs.logTail())")
        #expect(Mounts.entry(at: fs.mountpoint) != nil, "the mount is live when READY=1 arrives")
        #expect(ready?.contains("MAINPID=\(process.processIdentifier)") == true, "\(ready ?? "")")
        try fs.signalDaemon(SIGTERM)
        let stopping = try listener.receive(seconds: 30)
        #expect(stopping == "STOPPING=1")
        #expect(eventually(within: 10) { Mounts.entry(at: fs.mountpoint) == nil && !process.isRunning })
    }

    @Test("fusermount3 -u unmounts, and the daemon exits")
    func fusermountUnmounts() throws {
        try withMount { fs in
            try Files.write(fs.upload(.alpha) + "/file", [1])
            try fs.unmount()
            #expect(Mounts.entry(at: fs.mountpoint) == nil)
            #expect(fs.daemonProcesses() == [])
        }
    }

    @Test("SIGTERM to the daemon unmounts cleanly")
    func sigtermUnmounts() throws {
        try withMount { fs in
            try fs.signalDaemon(SIGTERM)
            #expect(eventually(within: 10) { Mounts.entry(at: fs.mountpoint) == nil }, "unmounted after SIGTERM")
            #expect(fs.waitForDaemonExit(seconds: 10), "the daemon exits after SIGTERM")
        }
    }

    @Test("--foreground stays in front; SIGINT unmounts and exits 0")
    func foreground() throws {
        let fs = try MountFixture()
        defer { fs.tearDown() }
        let process = try fs.mountInForeground()
        try fs.add(.alpha)
        let data = TestData.random(10_000)
        try Files.write(fs.upload(.alpha) + "/file", data)
        #expect(process.isRunning)

        try sys("kill -INT") { kill(process.processIdentifier, SIGINT) }
        #expect(eventually(within: 15) { !process.isRunning }, "exits after SIGINT")
        if !process.isRunning {
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "exit status \(process.terminationStatus)")
        }
        #expect(Mounts.entry(at: fs.mountpoint) == nil, "unmounted")

        try fs.mount()
        expectBytes(try Files.read(fs.upload(.alpha) + "/file"), data, "file after a clean stop")
    }

    @Test("a clean remount keeps districts, files, owners, times and hashes")
    func remount() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            let text = TestData.randomText(50_000)
            try District.alpha.identity.must(.mkdir(epoch))
            try District.alpha.identity.must(.write(epoch + "/students.csv", text, mode: 0o600))
            let mtime = timespec(tv_sec: 1_600_000_000, tv_nsec: 500)
            try Files.setTimes(epoch + "/students.csv", access: mtime, modification: mtime)
            let before = try Files.stat(epoch + "/students.csv")
            let hash = try Files.sha256Attribute(epoch + "/students.csv")
            let blobs = fs.blobs()

            try fs.unmount()
            try fs.mount()

            #expect(names(in: fs.mountpoint)?.sorted() == ["alpha", "beta"])
            let after = try Files.stat(epoch + "/students.csv")
            #expect(contents(of: epoch + "/students.csv") == Array(text.utf8))
            #expect(after.st_ino == before.st_ino)
            #expect(after.st_uid == District.alpha.uid)
            #expect(after.st_mode == before.st_mode)
            #expect(after.st_mtim.nanoseconds == mtime.nanoseconds)
            #expect(sha256Attribute(of: epoch + "/students.csv") == hash)
            #expect(fs.blobs() == blobs)
            #expect(attributes(of: fs.upload(.beta))?.st_uid == District.beta.uid)
        }
    }

    @Test("epochfs mount on a live mount point is refused and leaves the mount alone")
    func secondMountRefused() throws {
        try withMount { fs in
            let data = TestData.random(1000)
            try Files.write(fs.upload(.alpha) + "/file", data)
            let second = try Command.run(
                [fs.binary, "mount", fs.mountpoint, "--store", fs.store, "--staff-group", fs.staffGroup],
                timeout: 30, log: fs.logPath)
            #expect(!second.succeeded, "a second mount on a live one must fail")
            #expect(eventually { fs.daemonProcesses().count == 1 }, "one daemon: \(fs.daemonProcesses())")
            #expect(Mounts.entries().filter { $0.mountpoint == fs.mountpoint }.count == 1, "not mounted twice")
            expectBytes(try Files.read(fs.upload(.alpha) + "/file"), data, "the first mount still serves")
        }
    }

    @Test("--staff-group takes a group name")
    func staffGroupByName() throws {
        let staff = try #require(getgrnam("staff"), "this machine has no group named staff")
        let gid = staff.pointee.gr_gid
        try withMount(staffGroup: "staff") { fs in
            #expect(attributes(of: fs.upload(.alpha))?.st_gid == gid)
            try Files.write(fs.upload(.alpha) + "/file", [1])
            #expect(attributes(of: fs.upload(.alpha) + "/file")?.st_gid == gid)
            let member = Identity(uid: 5002, gid: 5002, groups: [gid])
            #expect(member.output(.list(fs.upload(.alpha))) == "file\n")
        }
    }
}

/// The receiving end of sd_notify(3): a datagram socket like systemd's `$NOTIFY_SOCKET`.
final class NotifyListener {
    private let fd: Int32

    init(path: String) throws {
        fd = try sys("socket") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                try sys("bind \(path)") { bind(fd, raw, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
    }

    deinit { close(fd) }

    /// The next message, or nil when none arrives within `seconds`.
    func receive(seconds: Int) throws -> String? {
        var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard try sys("poll") { poll(&pollfd, 1, Int32(seconds * 1000)) } > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try sys("recv") { recv(fd, &buffer, buffer.count, 0) }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
