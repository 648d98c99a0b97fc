import Foundation
import Glibc
import Testing

/// Real SFTP clients through a stock sshd chrooted onto the mount, doing what districts'
/// upload jobs do.
@Suite("SFTP clients", .serialized, .requiresSSH)
struct SFTPClientTests {
    @Test("OpenSSH sftp: an epoch of small, empty and 50 MiB files, .filepart then rename, chmod, df, get back")
    func openSSHUploadsAnEpoch() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let local = try LocalFiles(ssh, [("small.bin", 100_000), ("empty.bin", 0), ("big.bin", 50 << 20)])
            let epoch = "/upload/2026-11-30T020000"
            let result = try ssh.sftp(district, [
                "mkdir \(epoch)",
                "cd \(epoch)",
                "put \(local.path("small.bin"))",
                "put \(local.path("empty.bin"))",
                "put \(local.path("big.bin"))",
                "put \(local.path("small.bin")) students.csv.filepart",
                "rename students.csv.filepart students.csv",
                "chmod 600 students.csv",
                "get big.bin \(local.path("big.back"))",
                "get empty.bin \(local.path("empty.back"))",
                "df",
                "ls -l",
            ])
            #expect(result.succeeded, "\(result)\n\(ssh.logTail())")
            #expect(result.stdout.contains("Avail"), "df answers with the store's figures: \(result.stdout)")

            let onMount = ssh.upload(district) + String(epoch.dropFirst("/upload".count))
            #expect(names(in: onMount)?.sorted() == ["big.bin", "empty.bin", "small.bin", "students.csv"])
            for name in ["small.bin", "empty.bin", "big.bin"] {
                #expect(sha256Attribute(of: onMount + "/" + name) == local.sha256(name), "\(name) stored whole")
            }
            #expect(sha256Attribute(of: onMount + "/students.csv") == local.sha256("small.bin"))
            #expect(local.sha256("big.back") == local.sha256("big.bin"), "got back what was put")
            #expect(local.sha256("empty.back") == local.sha256("empty.bin"))
            let csv = try Files.stat(onMount + "/students.csv")
            #expect(csv.st_mode & 0o700 == 0o600 && csv.st_mode & 0o007 == 0, "chmod 600 took")
            #expect(csv.st_uid == district.uid, "the file belongs to the district")
        }
    }

    @Test("OpenSSH sftp: put -p keeps mode and times; an overwrite replaces; rm and rmdir clean up")
    func openSSHPreservesOverwritesAndRemoves() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let local = try LocalFiles(ssh, [("old.csv", 5000), ("first.csv", 3000), ("second.csv", 7000)])
            try sys("chmod") { chmod(local.path("old.csv"), 0o640) }
            try Files.setTimes(local.path("old.csv"), access: timespec(tv_sec: 1_609_459_200, tv_nsec: 0),
                               modification: timespec(tv_sec: 1_609_545_600, tv_nsec: 0))
            let put = try ssh.sftp(district, [
                "mkdir /upload/e2",
                "put -p \(local.path("old.csv")) /upload/e2/old.csv",
                "put \(local.path("first.csv")) /upload/e2/roster.csv",
                "put \(local.path("second.csv")) /upload/e2/roster.csv",
                "get /upload/e2/roster.csv \(local.path("roster.back"))",
            ])
            #expect(put.succeeded, "\(put)\n\(ssh.logTail())")
            let old = try Files.stat(ssh.upload(district) + "/e2/old.csv")
            #expect(old.st_mtim.tv_sec == 1_609_545_600, "put -p kept the modification time")
            #expect(old.st_mode & 0o700 == 0o600, "put -p kept the owner's mode bits")
            #expect(local.sha256("roster.back") == local.sha256("second.csv"), "the overwrite replaced the content")

            let removal = try ssh.sftp(district, ["rm /upload/e2/old.csv", "rm /upload/e2/roster.csv", "rmdir /upload/e2"])
            #expect(removal.succeeded, "\(removal)")
            #expect(names(in: ssh.upload(district)) == [])
        }
    }

    @Test("scp (SFTP mode: write in place, then ftruncate) and sftp put -f (fsync) store whole files")
    func scpAndFsyncedPut() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let local = try LocalFiles(ssh, [("scp.bin", 3 << 20), ("fsync.bin", 2 << 20), ("shorter.bin", 1000)])
            let scp = try Command.run(
                ["/usr/bin/scp", "-q", "-P", String(ssh.port)] + ssh.sshOptions(district)
                    + [local.path("scp.bin"), "\(district.name)@127.0.0.1:/upload/scp.bin"], timeout: 60)
            #expect(scp.succeeded, "\(scp)\n\(ssh.logTail())")
            #expect(sha256Attribute(of: ssh.upload(district) + "/scp.bin") == local.sha256("scp.bin"))
            // scp over an existing, longer file: written in place, then truncated to size.
            let over = try Command.run(
                ["/usr/bin/scp", "-q", "-P", String(ssh.port)] + ssh.sshOptions(district)
                    + [local.path("shorter.bin"), "\(district.name)@127.0.0.1:/upload/scp.bin"], timeout: 60)
            #expect(over.succeeded, "\(over)")
            #expect(sha256Attribute(of: ssh.upload(district) + "/scp.bin") == local.sha256("shorter.bin"))

            let put = try ssh.sftp(district, ["put -f \(local.path("fsync.bin")) /upload/fsync.bin"])
            #expect(put.succeeded, "\(put)")
            #expect(sha256Attribute(of: ssh.upload(district) + "/fsync.bin") == local.sha256("fsync.bin"))
        }
    }

    @Test("OpenSSH sftp: an upload cut off mid-file keeps a prefix; reput completes it")
    func openSSHResumesACutUpload() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let local = try LocalFiles(ssh, [("export.zip", 24 << 20)])
            let target = ssh.upload(district) + "/export.zip"
            // 8 Mbit/s: the upload takes ~25 s, and is killed once some of it has arrived.
            let upload = try BackgroundProcess(
                ["/usr/bin/sftp", "-l", "8000", "-b", "-", "-P", String(ssh.port)] + ssh.sshOptions(district)
                    + ["\(district.name)@127.0.0.1"],
                input: "put \(local.path("export.zip")) /upload/export.zip\n")
            let started = eventually(within: 30) { ((try? Files.stat(target))?.st_size ?? 0) > 1 << 20 }
            upload.kill()
            #expect(started, "the upload began: \(ssh.logTail())")
            // The session ends when sshd notices the client is gone; then the file is closed.
            let settled = eventually(within: 20) { !Self.sessionRuns(district) }
            #expect(settled, "the cut session ended")
            let partial = try Files.read(target)
            #expect(partial.count < 24 << 20, "the upload was cut before its end")
            #expect(isPrefix(partial, of: try Files.read(local.path("export.zip"))), "what arrived is a prefix of what was sent")

            let resumed = try ssh.sftp(district, ["reput \(local.path("export.zip")) /upload/export.zip"])
            #expect(resumed.succeeded, "\(resumed)")
            #expect(sha256Attribute(of: target) == local.sha256("export.zip"), "reput completed the file")
        }
    }

    @Test("paramiko: legacy rename (link, then rename on EPERM), posix-rename over a file, truncate, chmod, times on a handle")
    func paramikoRenamesAndChanges() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let script = """
                data = os.urandom(300000)
                sftp.mkdir("/upload/p")
                with sftp.open("/upload/p/a.part", "wb") as f:
                    f.write(data)
                sftp.rename("/upload/p/a.part", "/upload/p/a.csv")          # SSH_FXP_RENAME: link + unlink
                with sftp.open("/upload/p/b.csv", "wb") as f:
                    f.write(b"old")
                try:
                    sftp.rename("/upload/p/a.csv", "/upload/p/b.csv")       # legacy rename never overwrites
                    print("legacy-overwrite: allowed")
                except IOError:
                    print("legacy-overwrite: refused")
                sftp.posix_rename("/upload/p/a.csv", "/upload/p/b.csv")      # overwrites
                sftp.truncate("/upload/p/b.csv", 1000)
                sftp.chmod("/upload/p/b.csv", 0o600)
                with sftp.open("/upload/p/c.csv", "wb") as f:
                    f.write(b"x" * 10)
                    f.truncate(5)
                    f.utime((1600000000, 1600000000))
                # rclone moveto over an existing file: delete the target, then rename.
                with sftp.open("/upload/p/d.tmp", "wb") as f:
                    f.write(b"new")
                sftp.remove("/upload/p/c.csv")
                sftp.rename("/upload/p/d.tmp", "/upload/p/c.csv")
                print("b:", hashlib.sha256(data[:1000]).hexdigest(), sftp.stat("/upload/p/b.csv").st_size)
                print("names:", ",".join(sorted(sftp.listdir("/upload/p"))))
                """
            let result = try ssh.paramiko(district, script)
            #expect(result.succeeded, "\(result)\n\(ssh.logTail())")
            #expect(result.stdout.contains("legacy-overwrite: refused"), "\(result.stdout)")
            #expect(result.stdout.contains("names: b.csv,c.csv"), "\(result.stdout)")
            let directory = ssh.upload(district) + "/p"
            let expected = result.lines.first { $0.hasPrefix("b:") }?.split(separator: " ").dropFirst().first.map(String.init)
            #expect(sha256Attribute(of: directory + "/b.csv") == expected, "posix-rename then truncate kept the first 1000 bytes")
            #expect(try Files.stat(directory + "/b.csv").st_mode & 0o700 == 0o600)
            #expect(contents(of: directory + "/c.csv") == Array("new".utf8))
        }
    }

    @Test("lftp: mirror -R of a tree and back again; diff -r finds nothing, times kept")
    func lftpMirrorsBothWays() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let tree = ssh.directory + "/tree"
            let back = ssh.directory + "/tree-back"
            for (path, size) in [("a/one.csv", 1000), ("a/two.csv", 3 << 20), ("b/c/three.csv", 0), ("top.txt", 4096)] {
                try Command.run(["mkdir", "-p", URL(fileURLWithPath: tree + "/" + path).deletingLastPathComponent().path])
                try Files.write(tree + "/" + path, TestData.random(size))
            }
            try Files.setTimes(tree + "/top.txt", access: timespec(tv_sec: 1_500_000_000, tv_nsec: 0),
                               modification: timespec(tv_sec: 1_500_000_000, tv_nsec: 0))
            let connect = (["ssh", "-a", "-x"] + ssh.sshOptions(district)).joined(separator: " ")
            let script = """
                set sftp:connect-program "\(connect)"; set net:max-retries 1; set net:timeout 30;
                open -u \(district.name), sftp://127.0.0.1:\(ssh.port);
                mirror -R \(tree) /upload/mirror; mirror /upload/mirror \(back)
                """
            let result = try Command.run(["/usr/bin/lftp", "-c", script], timeout: 120)
            #expect(result.succeeded, "\(result)\n\(ssh.logTail())")
            let diff = try Command.run(["diff", "-r", tree, back])
            #expect(diff.succeeded && diff.stdout.isEmpty, "\(diff)")
            let top = try Files.stat(ssh.upload(district) + "/mirror/top.txt")
            #expect(top.st_mtim.tv_sec == 1_500_000_000, "lftp's times reached the mount")
        }
    }

    /// Whether a process of the district's uid (its sshd session) still runs; zombies waiting
    /// for sshd to reap them do not count.
    static func sessionRuns(_ district: SSHDistrict) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard pid_t(entry) != nil, let st = try? Files.stat("/proc/" + entry), st.st_uid == district.uid,
                  let stat = try? Files.read("/proc/\(entry)/stat") else { return false }
            // "pid (comm) S …": the state follows the last ')'.
            let text = String(decoding: stat, as: UTF8.self)
            return text.split(separator: ")").last?.dropFirst().first != "Z"
        }
    }
}

/// Random files in a local directory of the fixture's, with their SHA-256 as coreutils computes it.
struct LocalFiles {
    let directory: String

    init(_ ssh: SSHFixture, _ files: [(String, Int)]) throws {
        directory = ssh.directory + "/local"
        try Files.mkdir(directory)
        for (name, size) in files { try Files.write(directory + "/" + name, TestData.random(size)) }
    }

    func path(_ name: String) -> String { directory + "/" + name }

    func sha256(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        guard let bytes = contents(of: path(name), sourceLocation: sourceLocation) else { return nil }
        return TestData.sha256(bytes, sourceLocation: sourceLocation)
    }
}

/// A client left running while the test does something else, then killed like a dropped connection.
final class BackgroundProcess {
    private let process = Process()
    /// Stays open: `sftp -b -` would otherwise quit after the last command.
    private let stdin = Pipe()

    init(_ argv: [String], input: String) throws {
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = Command.environment
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { kill() }
}
