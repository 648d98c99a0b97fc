@testable import EpochFS
import EpochStore
import Foundation
import SSHKeys
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Who may ask the daemon what over its control socket, and what the web console's requests
/// answer.
@Suite struct ControlAccessTests {
    static let webUser = ControlAccess.WebUser(name: "epochfs-web", uid: 990, gid: 985)
    static let access = ControlAccess(webUser: webUser)

    /// One request of every kind. The switch makes a new kind of request fail to compile here
    /// until it has a sample, so no request escapes the rule's tests.
    static let everyRequest: [ControlRequest] = {
        let samples: [ControlRequest] = [
            .addDistrict(name: "x", uid: 1, gid: 1, managedUser: false), .removeDistrict(name: "x", deleteData: true),
            .setQuota(district: "x", bytes: nil, files: nil), .listDistricts, .addKeys(district: "x", keys: []),
            .listKeys(district: "x"), .removeKey(district: "x", fingerprint: "SHA256:x"), .listEpochs(district: nil, state: nil),
            .showEpoch(district: "x", epoch: "1"), .processEpoch(district: "x", epoch: "1", profile: nil),
            .reprocessEpoch(district: "x", epoch: "1"), .statistics, .collectGarbage, .integritySnapshot,
            .describeFindings([]), .backup(destination: "/tmp/b"),
        ] + everyWebRequest.map { .web(account: "admin@lincoln.example", $0) }
        let kinds = Set(samples.map { request -> String in
            switch request {
            case .addDistrict, .removeDistrict, .setQuota, .listDistricts, .addKeys, .listKeys, .removeKey, .listEpochs,
                 .showEpoch, .processEpoch, .reprocessEpoch, .statistics, .collectGarbage, .integritySnapshot,
                 .describeFindings, .backup, .web:
                request.name
            }
        })
        precondition(kinds.count == samples.count, "one sample of each request")
        return samples
    }()

    static let everyWebRequest: [WebRequest] = [
        .listDistricts, .listKeys(district: "x"), .addKeys(district: "x", text: ""), .removeKey(district: "x", fingerprint: "f"),
        .listEpochs(district: "x"), .showEpoch(district: "x", epoch: "1"), .epochReport(district: "x", epoch: "1"),
    ]

    @Test func peersAreRootTheWebUserOrStrangers() {
        #expect(Self.access.peer(uid: 0) == .root)
        #expect(Self.access.peer(uid: 990) == .web(uid: 990))
        #expect(Self.access.peer(uid: 991) == .stranger(uid: 991))
        #expect(Self.access.peer(uid: nil) == .stranger(uid: nil))
        #expect(ControlAccess(webUser: nil).peer(uid: 990) == .stranger(uid: 990), "without a web user, only root")
    }

    @Test(arguments: everyRequest)
    func rootMaySendEveryRequest(_ request: ControlRequest) {
        #expect(Self.access.refusal(of: request, from: .root) == nil)
        #expect(ControlAccess(webUser: nil).refusal(of: request, from: .root) == nil)
    }

    @Test(arguments: everyRequest)
    func theWebUserMaySendOnlyWebRequests(_ request: ControlRequest) {
        let refusal = Self.access.refusal(of: request, from: .web(uid: 990))
        if case .web = request {
            #expect(refusal == nil)
        } else {
            #expect(refusal?.contains("only web requests") == true, "\(request.name): \(refusal ?? "allowed")")
        }
        #expect(Self.access.refusal(ofConnectionFrom: .web(uid: 990)) == nil)
    }

    @Test(arguments: everyRequest)
    func anyoneElseMaySendNothing(_ request: ControlRequest) {
        for peer in [ControlAccess.Peer.stranger(uid: 1000), .stranger(uid: nil)] {
            #expect(Self.access.refusal(of: request, from: peer) != nil, "\(request.name)")
            #expect(ControlAccess(webUser: nil).refusal(of: request, from: peer) != nil, "\(request.name)")
        }
        let refusal = Self.access.refusal(ofConnectionFrom: .stranger(uid: 1000))
        #expect(refusal == "the control socket serves root and the web console's user (epochfs-web) only; uid 1000 may not use it")
    }

    @Test func theSocketIsReachableOnlyThroughSearchableDirectories() {
        // The store: root's, 0711.
        #expect(ControlAccess.maySearch(owner: 0, group: 0, mode: 0o711, uid: 990, gid: 985))
        #expect(!ControlAccess.maySearch(owner: 0, group: 0, mode: 0o700, uid: 990, gid: 985))
        #expect(ControlAccess.maySearch(owner: 0, group: 985, mode: 0o710, uid: 990, gid: 985))
        #expect(!ControlAccess.maySearch(owner: 990, group: 985, mode: 0o071, uid: 990, gid: 985), "the owner's bits decide for the owner")
    }

    // MARK: What the web requests answer

    @Test func webKeyRequestsFollowTheCommandLinesRules() throws {
        let generated = try GeneratedKey()
        try withStore { store throws in
            let administration = store.administration
            let added = administration.perform(WebRequest.addKeys(district: "alpha", text: generated.publicLine + "\n"))
            #expect(added.ok, "\(added.message)")
            #expect(added.keys?.map(\.fingerprint) == [generated.fingerprint])
            let again = administration.perform(WebRequest.addKeys(district: "alpha", text: generated.publicLine))
            #expect(again.ok && again.keys == [], "a key present already is not added twice: \(again.message)")

            let listed = administration.perform(WebRequest.listKeys(district: "alpha"))
            #expect(listed.keys?.map(\.fingerprint) == [generated.fingerprint])
            let file = try String(contentsOfFile: store.root + "/authorized_keys/alpha", encoding: .utf8)
            #expect(file.contains(generated.base64), "it works at the next login")

            let removed = administration.perform(WebRequest.removeKey(district: "alpha", fingerprint: generated.fingerprint))
            #expect(removed.ok, "\(removed.message)")
            #expect(try administration.keys(of: "alpha").isEmpty)
        }
    }

    @Test func aPastedPrivateKeyIsRefusedNothingIsStoredAndItIsNeverEchoed() throws {
        let good = try GeneratedKey()
        let pasted = try GeneratedKey()
        try withStore { store throws in
            let response = store.administration.perform(WebRequest.addKeys(district: "alpha", text: good.publicLine + "\n" + pasted.privateText))
            #expect(!response.ok)
            #expect(response.code == .keysRefused)
            #expect(response.keyProblems?.map(\.line) == [2])
            #expect(response.keyProblems?.first?.message.contains("PRIVATE KEY") == true)
            #expect(try store.administration.keys(of: "alpha").isEmpty, "nothing of a refused paste is stored")
            let encoded = String(decoding: try JSONEncoder().encode(response), as: UTF8.self)
            for line in pasted.privateText.split(separator: "\n") where !line.hasPrefix("-----") {
                #expect(!encoded.contains(line), "the answer holds none of the private key")
            }
        }
    }

    @Test func anUnknownDistrictIsNotFoundJustAsAnUnknownEpochOrKey() throws {
        try withStore { store throws in
            _ = try store.makeEpoch("1764374400")
            let administration = store.administration
            let answers = [
                WebRequest.listKeys(district: "nobody"), .listEpochs(district: "nobody"), .showEpoch(district: "nobody", epoch: "1764374400"),
                .showEpoch(district: "alpha", epoch: "1764460800"), .epochReport(district: "nobody", epoch: "1764374400"),
                .epochReport(district: "alpha", epoch: "1764374400"), .removeKey(district: "nobody", fingerprint: "SHA256:x"),
                .removeKey(district: "alpha", fingerprint: "SHA256:x"), .addKeys(district: "nobody", text: try GeneratedKey().publicLine),
                .listKeys(district: "../alpha"),
            ].map { administration.perform($0) }
            for answer in answers {
                #expect(!answer.ok && answer.code == .notFound && answer.message == "not found", "\(answer.message)")
            }
            _ = try store.makeEpoch("1764300000")
            let epochs = administration.perform(WebRequest.listEpochs(district: "alpha"))
            #expect(epochs.epochs?.map(\.epoch.name) == ["1764300000", "1764374400"], "newest first, as they arrived, whatever their names say")
            let names = administration.perform(WebRequest.listDistricts)
            #expect(names.districtNames == ["alpha"])
        }
    }

    // MARK: The server

    /// A control server on a fresh store, running while `body` uses its socket's path.
    private func withServer(timeout: Duration = .seconds(5), _ body: (String) throws -> Void) throws {
        try withStore { store throws in
            let path = store.root + "/control.sock"
            let server = try ControlServer(path: path, administration: store.administration, timeout: timeout, logger: quietLogger)
            try server.start()
            defer { server.stop() }
            try body(path)
        }
    }

    @Test func aSilentPeerHoldsTheControlThreadOnlyUntilTheTimeout() throws {
        try withServer(timeout: .milliseconds(500)) { path in
            let silent = try UnixSocket.connect(path)
            defer { Sys.close(silent) }
            let start = ContinuousClock.now
            let answered = Answer()
            let thread = Thread {
                answered.set(try? ControlClient.send(.listDistricts, socket: path))
            }
            thread.start()
            #expect(answered.wait(seconds: 5), "a request behind a silent connection is answered once it times out")
            #expect(answered.value?.ok == true)
            #expect(ContinuousClock.now - start >= .milliseconds(400), "served after the silent one, in turn")
            var fds = [pollfd(fd: silent, events: Int16(POLLIN), revents: 0)]
            #expect(poll(&fds, 1, 2000) == 1, "the silent connection was closed")
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(fds[0].revents == 0 || read(silent, &buffer, 16) == 0, "without an answer")
        }
    }

    @Test func aWebRequestNamesItsAccountInAtMost320Bytes() throws {
        try withServer { path in
            // One character to Swift, 801 bytes in every log line that names it.
            let piled = "a" + String(repeating: "\u{301}", count: 400)
            let refused = try ControlClient.send(.web(account: piled, .listDistricts), socket: path)
            #expect(!refused.ok && refused.code == .badRequest)
            let answered = try ControlClient.send(.web(account: String(repeating: "b", count: 320), .listDistricts), socket: path)
            #expect(answered.ok)
        }
    }

    @Test func aBadRequestIsRefusedWithoutEchoingIt() throws {
        try withServer { path in
            let fd = try UnixSocket.connect(path)
            defer { Sys.close(fd) }
            try UnixSocket.writeAll(fd, Data("{\"web\":{\"account\":\"a\",\"_1\":{\"addKeys\":{\"text\":\"SECRET-KEY-TEXT\"}}}}\n".utf8))
            let response = try JSONDecoder().decode(ControlResponse.self, from: UnixSocket.readLine(fd))
            #expect(!response.ok && response.code == .badRequest)
            #expect(!response.message.contains("SECRET"))
        }
    }
}

/// A value another thread sets once.
private final class Answer: Sendable {
    private let state = Mutex<(done: Bool, value: ControlResponse?)>((false, nil))

    func set(_ value: ControlResponse?) { state.withLock { $0 = (true, value) } }
    var value: ControlResponse? { state.withLock { $0.value } }

    func wait(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if state.withLock({ $0.done }) { return true }
            usleep(10_000)
        }
        return false
    }
}

/// An ed25519 key pair made by ssh-keygen.
struct GeneratedKey {
    let publicLine: String
    let privateText: String

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("epochfs-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = ["-q", "-t", "ed25519", "-N", "", "-C", "night job", "-f", directory + "/key"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        publicLine = try String(contentsOfFile: directory + "/key.pub", encoding: .utf8).trimmingCharacters(in: .newlines)
        privateText = try String(contentsOfFile: directory + "/key", encoding: .utf8)
    }

    var base64: String { String(publicLine.split(separator: " ")[1]) }
    var fingerprint: String {
        (try? KeyText.parse(publicLine).first?.fingerprint) ?? "?"
    }
}
