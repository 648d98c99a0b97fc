import Foundation
import Glibc
import Testing

/// What a district must not be able to do through sshd, and how access ends.
@Suite("SFTP isolation", .serialized, .requiresSSH)
struct IsolationTests {
    @Test("no shell, no terminal, no forwarding of any kind")
    func noShellNoForwarding() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            // Logged in (no "Permission denied"), but the command is replaced by internal-sftp.
            let shell = try ssh.ssh(district, ["-T"], command: ["echo", "shell-reached"], timeout: 20)
            #expect(!shell.stdout.contains("shell-reached") && !shell.stderr.contains("Permission denied"), "\(shell)")

            let terminal = try ssh.ssh(district, ["-tt"], command: ["echo", "shell-reached"], timeout: 20)
            #expect(terminal.stderr.contains("PTY allocation request failed"), "PermitTTY no refuses a terminal: \(terminal)")
            #expect(!terminal.stdout.contains("shell-reached"), "\(terminal)")

            let remote = try ssh.ssh(district, ["-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:\(ssh.port)"], timeout: 20)
            #expect(remote.status != 0 && remote.status != 124, "remote forwarding was refused at once: \(remote)")

            let local = try ssh.ssh(district, ["-W", "127.0.0.1:\(ssh.port)"], timeout: 20)
            #expect(local.status != 0 && local.status != 124, "a direct-tcpip channel was refused: \(local)")
            #expect(local.stderr.contains("prohibited") || local.stderr.contains("failed"), "\(local)")

        }
    }

    @Test("a district sees its own chroot only: no other district, nothing of the host, no writes in upload-processed")
    func chrootShowsOwnTreeOnly() throws {
        try withSSH(districts: 2) { ssh in
            let (district, other) = (ssh.districts[0], ssh.districts[1])
            try Files.write(ssh.upload(other) + "/secret.csv", Array("other district".utf8))
            let local = try LocalFiles(ssh, [("x.csv", 100)])

            let listing = try ssh.sftp(district, ["ls -a /", "ls -a /..", "ls -a /../.."])
            #expect(listing.succeeded, "\(listing)")
            // sftp -b echoes each command ("sftp> ls -a /"), then lists names as paths ("/upload", "/../upload").
            let shown = Set(listing.lines.filter { !$0.hasPrefix("sftp>") }
                .flatMap { $0.split(whereSeparator: \.isWhitespace) }
                .map { String($0.split(separator: "/").last ?? Substring($0)) })
            #expect(shown == [".", "..", "upload", "upload-processed"], "only the chroot: \(listing.stdout)")

            for command in [
                "ls /\(other.name)", "ls /../\(other.name)/upload", "get /../\(other.name)/upload/secret.csv \(local.path("s"))",
                "get /etc/passwd \(local.path("p"))", "put \(local.path("x.csv")) /upload-processed/x.csv",
                "mkdir /upload-processed/e", "mkdir /escape", "put \(local.path("x.csv")) /x.csv", "rmdir /upload",
                "chmod 777 /", "chmod 700 /upload", "rename /upload /mine",
            ] {
                let result = try ssh.sftp(district, [command])
                #expect(!result.succeeded, "`\(command)` must fail: \(result)")
            }
            #expect(!Files.exists(local.path("s")) && !Files.exists(local.path("p")))
            #expect(names(in: ssh.processed(district)) == [])
            let root = try Files.stat(ssh.mount.path(district.name))
            #expect(root.st_mode & 0o7777 == 0o755 && root.st_uid == 0, "the chroot stays root's 0755")
            #expect(try Files.stat(ssh.upload(district)).st_mode & 0o7777 == 0o750, "upload/ keeps its mode")
            let again = try ssh.sftp(district, ["ls /upload"])
            #expect(again.succeeded, "sshd still accepts the chroot afterwards: \(again)")
        }
    }

    @Test("a removed key stops the next login; a removed district loses access and its unix user")
    func removedKeysAndDistrictsLoseAccessAtOnce() throws {
        try withSSH(districts: 2) { ssh in
            let (district, other) = (ssh.districts[0], ssh.districts[1])
            #expect(try ssh.sftp(district, ["ls /upload"]).succeeded)

            // A second key works at once, without any reload.
            let second = ssh.sshDirectory + "/second"
            try Command.run(["/usr/bin/ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "second", "-f", second])
            try ssh.addKey(second + ".pub", to: district)
            let withSecond = district.with(key: second)
            #expect(try ssh.sftp(withSecond, ["ls /upload"]).succeeded, "a key added works at the next login")
            #expect(!(try ssh.sftp(other.with(key: second), ["ls /upload"])).succeeded, "one district's key opens no other")

            let list = try ssh.mount.epochfs(["keys", "list", district.name, "--store", ssh.mount.store])
            let fingerprint = try #require(list.lines.first { $0.contains("ssh-ed25519") }?.split(separator: "\t")[2])
            let removal = try ssh.mount.epochfs(["keys", "remove", district.name, String(fingerprint), "--store", ssh.mount.store])
            #expect(removal.succeeded, "\(removal)")
            let refused = try ssh.sftp(district, ["ls /upload"])
            #expect(!refused.succeeded && refused.stderr.contains("Permission denied"), "the removed key no longer logs in: \(refused)")
            #expect(try ssh.sftp(withSecond, ["ls /upload"]).succeeded, "the other key still does")

            // A session left open (sftp waiting for its next command) ends with the district.
            let open = try BackgroundProcess(
                ["/usr/bin/sftp", "-b", "-", "-P", String(ssh.port)] + ssh.sshOptions(other) + ["\(other.name)@127.0.0.1"],
                input: "ls /upload\n")
            #expect(eventually(within: 10) { SFTPClientTests.sessionRuns(other) }, "the session is open")
            let gone = try SSHFixture.withAccountsLock {
                try ssh.mount.epochfs(["district", "remove", other.name, "--delete-data", "--store", ssh.mount.store])
            }
            #expect(gone.succeeded, "\(gone)")
            #expect(getpwnam(other.name) == nil, "the user made with --create-user went with the district")
            #expect(eventually(within: 5) { !SFTPClientTests.sessionRuns(other) }, "its open session was ended")
            open.kill()
            #expect(!(try ssh.sftp(other, ["ls /upload"])).succeeded, "a removed district cannot log in")
            ssh.forget(other)
        }
    }
}

extension SSHDistrict {
    func with(key path: String) -> SSHDistrict {
        SSHDistrict(name: name, uid: uid, gid: gid, privateKey: path, publicKey: path + ".pub")
    }
}
