import Foundation
import SSHKeys
import Testing

/// Keys made by `ssh-keygen`, so that parsing and fingerprints are checked against OpenSSH itself.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen"), "needs ssh-keygen (openssh-client)"))
struct KeyTextTests {
    @Test(arguments: [
        ("ed25519", [String]()), ("ecdsa", ["-b", "256"]), ("ecdsa", ["-b", "384"]), ("ecdsa", ["-b", "521"]),
        ("rsa", ["-b", "2048"]), ("rsa", ["-b", "3072"]),
    ])
    func acceptsWhatSSHKeygenMakesWithItsFingerprint(type: String, options: [String]) throws {
        let generated = try GeneratedKey(type: type, options: options, comment: "district it <it@example.org>")
        let keys = try KeyText.parse(generated.publicLine)
        try #require(keys.count == 1)
        let key = keys[0]
        // `ssh-keygen -l`: "<bits> SHA256:<fp> <comment> (<TYPE>)"
        #expect("\(key.bits) \(key.fingerprint) \(key.comment) (\(key.displayType))" == generated.fingerprintLine)
        #expect(key.md5Fingerprint == generated.md5Fingerprint)
        #expect(key.openSSHLine == generated.publicLine)
    }

    @Test func readsSeveralKeysAndSkipsBlankAndCommentLines() throws {
        let first = try GeneratedKey(type: "ed25519", comment: "one")
        let second = try GeneratedKey(type: "ecdsa", comment: "")
        let text = "# keys for the night job\r\n\n" + first.publicLine + "\r\n   \n" + second.publicLine
        let keys = try KeyText.parse(text)
        #expect(keys.map(\.comment) == ["one", ""])
        #expect(keys.map(\.algorithm) == ["ssh-ed25519", "ecdsa-sha2-nistp256"])
    }

    @Test func convertsTheRFC4716BlockOfSSHKeygenAndPuTTYgen() throws {
        let generated = try GeneratedKey(type: "rsa", options: ["-b", "2048"], comment: "x")
        let exported = try run(["/usr/bin/ssh-keygen", "-e", "-f", generated.publicPath])
        let fromBlock = try KeyText.parse(exported)
        #expect(fromBlock.map(\.fingerprint) == [generated.fingerprint])
        #expect(fromBlock.first?.comment.contains("2048-bit RSA") == true)

        // PuTTYgen: a quoted comment, a header continued with a backslash, 64-column body.
        let body = generated.base64.chunked(64).joined(separator: "\n")
        let putty = "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"rsa-key-20261130\"\nx-note: first half \\\nsecond half\n\(body)\n---- END SSH2 PUBLIC KEY ----\n"
        let keys = try KeyText.parse(putty)
        #expect(keys.map(\.fingerprint) == [generated.fingerprint])
        #expect(keys.first?.comment == "rsa-key-20261130")
    }

    @Test func refusesAPrivateKeyLoudlyOnceAndStoresNothing() throws {
        let generated = try GeneratedKey(type: "ed25519", comment: "c")
        let text = generated.publicLine + "\n" + generated.privateText
        let problems = refusal(text)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains("PRIVATE KEY") == true)

        let putty = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\nAAAA\nBBBB\n"
        #expect(refusal(putty).map(\.line) == [1])
        #expect(refusal(putty).first?.message.contains("PRIVATE KEY") == true)
    }

    @Test func refusesDSAAndShortRSA() throws {
        let dsa = try GeneratedKey(type: "dsa", comment: "old")
        #expect(refusal(dsa.publicLine).first?.message.contains("DSA") == true)
        let short = try GeneratedKey(type: "rsa", options: ["-b", "1024"], comment: "short")
        #expect(refusal(short.publicLine).first?.message.contains("1024 bits") == true)
    }

    @Test func refusesTruncatedAndLineBrokenKeysNamingTheLine() throws {
        let generated = try GeneratedKey(type: "rsa", options: ["-b", "2048"], comment: "c")
        let data = generated.base64
        // Cut at a multiple of four: valid base64, but the key data ends early.
        let truncated = "ssh-rsa " + data.prefix(200) + " c"
        #expect(refusal("\n" + truncated).map(\.line) == [2])
        #expect(refusal(truncated).first?.message.contains("ends early") == true)

        let broken = "ssh-rsa " + data.prefix(70) + "\n" + data.dropFirst(70) + " c\n"
        let problems = refusal(broken)
        #expect(problems.map(\.line) == [1, 2])
        #expect(problems.allSatisfy { $0.message.contains("across lines") })
    }

    @Test func refusesEverythingElseWithAReason() {
        #expect(refusal("hello world").first?.message.contains("not a supported key type") == true)
        #expect(refusal("").first?.message.contains("no public key found") == true)
        #expect(refusal("ssh-ed25519").first?.message.contains("cut off") == true)
        #expect(refusal("ssh-ed25519 not*base64 c").first?.message.contains("base64") == true)
        #expect(refusal("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").map(\.line) == [1])
    }

    @Test func refusesOptionsCertificatesAndMismatchedTypes() throws {
        let generated = try GeneratedKey(type: "ed25519", comment: "c")
        #expect(refusal("from=\"10.0.0.1\" " + generated.publicLine).first?.message.contains("options") == true)
        #expect(refusal("ssh-rsa " + generated.base64).first?.message.contains("says ssh-rsa") == true)
        let certificate = "ssh-ed25519-cert-v01@openssh.com " + generated.base64
        #expect(refusal(certificate).first?.message.contains("certificate") == true)
    }

    @Test func oneBadLineRefusesTheWholePaste() throws {
        let good = try GeneratedKey(type: "ed25519", comment: "good")
        let problems = refusal(good.publicLine + "\nssh-dss AAAA\n")
        #expect(problems.map(\.line) == [2])
    }

    @Test func acceptsTabsBetweenFieldsAsOpenSSHDoes() throws {
        let generated = try GeneratedKey(type: "ed25519", comment: "")
        let keys = try KeyText.parse("ssh-ed25519\t\(generated.base64)\tnight job")
        #expect(keys.map(\.fingerprint) == [generated.fingerprint])
        #expect(keys.first?.comment == "night job")
    }

    @Test func keepsCommentsPrintable() throws {
        let generated = try GeneratedKey(type: "ed25519", comment: "")
        let keys = try KeyText.parse("ssh-ed25519 \(generated.base64) tab\there\u{7}bell")
        #expect(keys.first?.comment == "tab here bell")
    }

    /// Found by fuzzing: a comment cut to its 200 characters ended with the space that came
    /// next, and the key's own authorized_keys line then read back as another comment.
    @Test func aCommentCutShortEndsWithoutASpaceAndReadsBackTheSame() throws {
        let generated = try GeneratedKey(type: "ed25519", comment: "")
        let keys = try KeyText.parse("ssh-ed25519 \(generated.base64) \(String(repeating: "x", count: 199)) and more")
        #expect(keys.first?.comment == String(repeating: "x", count: 199))
        let key = try #require(keys.first)
        #expect(try KeyText.parse(key.openSSHLine) == [key])
    }

    private func refusal(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [KeyProblem] {
        do {
            let keys = try KeyText.parse(text)
            Issue.record("accepted \(keys.count) keys from \(text.prefix(80))", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }
}

/// A key pair made by `ssh-keygen` in a temporary directory (removed with the value), with
/// what OpenSSH says about it.
final class GeneratedKey {
    let directory: String
    let publicPath: String
    let publicLine: String
    let privateText: String
    let fingerprintLine: String
    let md5Fingerprint: String

    init(type: String, options: [String] = [], comment: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sshkeys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let path = directory + "/key"
        try run(["/usr/bin/ssh-keygen", "-q", "-t", type] + options + ["-N", "", "-C", comment, "-f", path])
        publicPath = path + ".pub"
        publicLine = try String(contentsOfFile: publicPath, encoding: .utf8).trimmingCharacters(in: .newlines)
        privateText = try String(contentsOfFile: path, encoding: .utf8)
        fingerprintLine = try run(["/usr/bin/ssh-keygen", "-l", "-f", publicPath]).trimmingCharacters(in: .newlines)
        let md5 = try run(["/usr/bin/ssh-keygen", "-l", "-E", "md5", "-f", publicPath])
        md5Fingerprint = String(md5.split(separator: " ")[1])
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var base64: String { String(publicLine.split(separator: " ")[1]) }
    var fingerprint: String { String(fingerprintLine.split(separator: " ")[1]) }
}

@discardableResult
func run(_ argv: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(argv.joined(separator: " ")) exited \(process.terminationStatus)"])
    }
    return String(decoding: data, as: UTF8.self)
}

extension String {
    func chunked(_ size: Int) -> [String] {
        stride(from: 0, to: count, by: size).map { start in
            let from = index(startIndex, offsetBy: start)
            return String(self[from..<(index(from, offsetBy: size, limitedBy: endIndex) ?? endIndex)])
        }
    }
}
