import Foundation
import Glibc
import TestSupport
import Testing

/// The control socket as the web console's user meets it: a real daemon, a real system user,
/// and clients that connect from processes of other uids.
@Suite("Control socket", .serialized, .requiresMount,
       .enabled(if: access("/usr/bin/python3", X_OK) == 0 && access("/usr/sbin/useradd", X_OK) == 0
                && access("/usr/bin/ssh-keygen", X_OK) == 0, "needs python3, useradd and ssh-keygen"))
struct ControlSocketTests {
    /// Sends one JSON line to the socket from a process of `identity` and returns what came back.
    static let client = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(sys.argv[2].encode() + b"\\n")
        data = b""
        while not data.endswith(b"\\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        sys.stdout.write(data.decode())
        """

    /// Connects, says it did, and sends nothing.
    static let silent = """
        import socket, sys, time
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        print("connected", flush=True)
        time.sleep(60)
        """

    struct Response: Decodable {
        struct Key: Decodable { var fingerprint: String }
        struct Problem: Decodable { var line: Int; var message: String }
        struct Report: Decodable { var logName: String; var log: String; var result: String }
        var ok: Bool
        var message: String
        var code: String?
        var keys: [Key]?
        var keyProblems: [Problem]?
        var districtNames: [String]?
        var report: Report?
    }

    static func send(_ line: String, to fs: MountFixture, as identity: Identity) throws -> (Response?, CommandResult) {
        let result = try Command.run(["/usr/bin/python3", "-c", client, fs.store + "/control.sock", line], as: identity, timeout: 30)
        return (try? JSONDecoder().decode(Response.self, from: Data(result.output)), result)
    }

    /// `{"web":{"account":…,"_1":{"<request>":{…}}}}`, as Swift's Codable spells the enum.
    static func web(_ request: String, _ arguments: [String: String] = [:], account: String = "admin@alpha.example") throws -> String {
        let object: [String: Any] = ["web": ["account": account, "_1": [request: arguments]]]
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("the web user may send web requests only; anyone else nothing; a silent peer holds no one up")
    func webUserAndStrangers() throws {
        try withWebUser { user in
            try withMount(mountArguments: ["--web-user", user.name, "--settle-seconds", "3600"]) { fs in
                let socket = try Files.stat(fs.store + "/control.sock")
                #expect(socket.st_mode & 0o777 == 0o660)
                #expect(socket.st_uid == 0 && socket.st_gid == user.identity.gid, "root's and the web user's group's")

                // A web request is answered.
                let (listed, listing) = try Self.send(try Self.web("listDistricts"), to: fs, as: user.identity)
                #expect(listed?.ok == true && listed?.districtNames == ["alpha"], "\(listing)")

                // A root-only request is refused, and changes nothing.
                let addDistrict = #"{"addDistrict":{"name":"mallory","uid":7000,"gid":7000,"managedUser":false}}"#
                let (refused, refusal) = try Self.send(addDistrict, to: fs, as: user.identity)
                #expect(refused?.ok == false && refused?.code == "forbidden", "\(refusal)")
                #expect(refused?.message.contains("only web requests") == true)
                #expect(names(in: fs.mountpoint) == ["alpha"])

                // Another uid cannot connect (the socket's mode), and one that can (in the web
                // user's group) is refused by the daemon, whatever it asks.
                let (_, unconnected) = try Self.send(try Self.web("listDistricts"), to: fs, as: .outsider)
                #expect(!unconnected.succeeded && unconnected.stderr.contains("PermissionError"), "\(unconnected)")
                let member = Identity(uid: Identity.outsider.uid, gid: Identity.outsider.gid, groups: [user.identity.gid])
                let (stranger, strangerResult) = try Self.send(try Self.web("listDistricts"), to: fs, as: member)
                #expect(stranger?.ok == false && stranger?.code == "forbidden", "\(strangerResult)")
                #expect(stranger?.message.contains("serves root and the web console's user (\(user.name)) only") == true)
                #expect(stranger?.districtNames == nil)

                // An unknown district reads exactly like an unknown epoch.
                let (noDistrict, _) = try Self.send(try Self.web("showEpoch", ["district": "beta", "epoch": "1764374400"]), to: fs, as: user.identity)
                let (noEpoch, _) = try Self.send(try Self.web("showEpoch", ["district": "alpha", "epoch": "1764374400"]), to: fs, as: user.identity)
                #expect(noDistrict?.message == "not found" && noDistrict?.code == "notFound")
                #expect(noEpoch?.message == noDistrict?.message && noEpoch?.code == noDistrict?.code)

                // Root's command line is answered at once while web peers sit silent on the
                // socket, one more of them than the daemon serves at a time
                // (`ControlServer.maxGuests`, 4): before any of them reaches its deadline (5 s).
                let readLog = { String(decoding: (try? Files.read(fs.store + "/epochfs.log")) ?? [], as: UTF8.self) }
                let peers = try (1...5).map { _ in try SilentPeer(socket: fs.store + "/control.sock", as: user.identity) }
                let list = try fs.epochfs(["district", "list", "--store", fs.store])
                #expect(list.succeeded, "\(list)")
                #expect(!readLog().contains("sent no request in time"), "root's request waited for no silent web peer")
                let deadline = ContinuousClock.now + .seconds(30)
                while !readLog().contains("sent no request in time") && ContinuousClock.now < deadline {
                    Thread.sleep(forTimeInterval: 0.2)
                }
                peers.forEach { $0.stop() }

                let log = readLog()
                #expect(log.contains("peers other than root are being served already"), "the fifth silent peer was closed at once")
                #expect(log.contains("web request"), "every web request is logged")
                #expect(log.contains("admin@alpha.example") && log.contains("peer.uid=\(user.identity.uid)"), "with its account and the peer's uid")
                #expect(log.contains("control connection refused") && log.contains("peer.uid=\(Identity.outsider.uid)"))
                #expect(log.contains("sent no request in time"))
            }
        }
    }

    @Test("keys pasted through the web: a private key is refused, stored nowhere, echoed nowhere, logged nowhere")
    func pastedKeys() throws {
        let directory = try TestDirectory(scratch: true)
        let keygen = try Command.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "night job", "-f", directory.path + "/key"])
        #expect(keygen.succeeded, "\(keygen)")
        let publicLine = String(decoding: try Files.read(directory.path + "/key.pub"), as: UTF8.self).trimmingCharacters(in: .newlines)
        let privateText = String(decoding: try Files.read(directory.path + "/key"), as: UTF8.self)
        let secretLines = privateText.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        try #require(!secretLines.isEmpty)

        try withWebUser { user in
            try withMount(mountArguments: ["--web-user", user.name]) { fs in
                let (refused, refusal) = try Self.send(try Self.web("addKeys", ["district": "alpha", "text": publicLine + "\n" + privateText]),
                                                       to: fs, as: user.identity)
                #expect(refused?.ok == false && refused?.code == "keysRefused", "\(refusal)")
                #expect(refused?.keyProblems?.map(\.line) == [2])
                #expect(refused?.keyProblems?.first?.message.contains("PRIVATE KEY") == true)
                let keys = try fs.epochfs(["keys", "list", "alpha", "--store", fs.store])
                #expect(keys.lines.count == 1, "nothing of the paste was stored, not even its good key: \(keys)")

                let (added, addition) = try Self.send(try Self.web("addKeys", ["district": "alpha", "text": publicLine]), to: fs, as: user.identity)
                #expect(added?.ok == true && added?.keys?.count == 1, "\(addition)")
                let listed = try fs.epochfs(["keys", "list", "alpha", "--store", fs.store])
                #expect(listed.stdout.contains("night job"), "the command line sees what the web added: \(listed)")
                let (removed, removal) = try Self.send(
                    try Self.web("removeKey", ["district": "alpha", "fingerprint": added?.keys?.first?.fingerprint ?? "?"]), to: fs, as: user.identity)
                #expect(removed?.ok == true, "\(removal)")

                try fs.unmount()
                let log = String(decoding: (try? Files.read(fs.store + "/epochfs.log")) ?? [], as: UTF8.self)
                #expect(log.contains("request=addKeys"), "the paste was logged as a request: \(log.suffix(2000))")
                for line in secretLines {
                    #expect(!refusal.stdout.contains(line), "the answer echoes none of the private key")
                    #expect(!log.contains(line), "the daemon's log holds none of the private key")
                }
            }
        }
    }

    @Test("a published epoch's log and processing.json, read through the daemon")
    func epochReport() throws {
        try withWebUser { user in
            try withMount(mountArguments: ["--web-user", user.name, "--settle-seconds", "3600"]) { fs in
                let name = "20261129T020000Z"
                let epoch = fs.upload(.alpha) + "/" + name
                #expect(try Command.run(["/bin/mkdir", epoch], as: District.alpha.identity).succeeded)
                for (file, text) in Sets.clever + [(".done", "")] {
                    let result = try Command.run(["/bin/sh", "-c", "cat > \(shellQuote(epoch + "/" + file))"],
                                                 as: District.alpha.identity, input: Array(text.utf8))
                    #expect(result.succeeded, "\(result)")
                }
                let published = fs.processed(.alpha) + "/" + name
                try #require(eventually(within: 20) { Files.exists(published + "/processing-succeeded.log") }, "\(fs.logTail())")

                let (answer, result) = try Self.send(try Self.web("epochReport", ["district": "alpha", "epoch": name]), to: fs, as: user.identity)
                #expect(answer?.ok == true, "\(result)")
                #expect(answer?.report?.logName == "processing-succeeded.log")
                #expect(answer.map { Array($0.report?.log.utf8 ?? "".utf8) } == (try Files.read(published + "/processing-succeeded.log")))
                #expect(answer.map { Array($0.report?.result.utf8 ?? "".utf8) } == (try Files.read(published + "/processing.json")))

                let (other, _) = try Self.send(try Self.web("epochReport", ["district": "nobody", "epoch": name]), to: fs, as: user.identity)
                #expect(other?.code == "notFound")
            }
        }
    }
}

/// A system user for the web console, made for one test and always deleted after it.
struct WebUser {
    let name: String
    let identity: Identity
}

func withWebUser<R>(_ body: (WebUser) throws -> R) throws -> R {
    let name = "epochfs-webtest-" + TestData.randomText(6)
    let made = try Command.run(["/usr/sbin/useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                                "--shell", "/usr/sbin/nologin", name])
    guard made.succeeded, let entry = getpwnam(name) else { throw CommandError(description: "useradd failed: \(made)") }
    let user = WebUser(name: name, identity: Identity(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, groups: []))
    defer {
        let removed = try? Command.run(["/usr/sbin/userdel", name])
        if removed?.succeeded != true { Issue.record("userdel \(name) failed: \(removed.map { "\($0)" } ?? "did not run")") }
    }
    return try body(user)
}

/// A process of another uid that connects to the control socket and then says nothing.
final class SilentPeer {
    private let process = Process()

    init(socket: String, as identity: Identity) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(identity.uid)", "--regid=\(identity.gid)", "--clear-groups", "--",
                             "/usr/bin/python3", "-c", ControlSocketTests.silent, socket]
        process.environment = Command.environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.availableData
        guard String(decoding: line, as: UTF8.self).hasPrefix("connected") else {
            stop()
            throw CommandError(description: "the silent peer did not connect")
        }
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}
