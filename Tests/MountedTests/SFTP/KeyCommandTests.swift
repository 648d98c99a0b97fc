import Foundation
import Glibc
import Testing

/// `epochfs keys` and `epochfs authorized-keys` as sshd and operators call them, without sshd.
@Suite("Key commands", .serialized, .requiresSSH)
struct KeyCommandTests {
    @Test("authorized-keys prints a district's keys only, with restrict, to the key user only, also while unmounted")
    func authorizedKeysServesTheKeyUserOnly() throws {
        try SSHFixture.ensureSystemAccounts()
        try withMount(districts: [.alpha, .beta]) { fs in
            let keys = try KeyPairs(directory: fs.directory.path)
            let alphaKeys = [try keys.make("ed25519", "alpha one"), try keys.make("rsa", "alpha two")]
            let betaKey = try keys.make("ecdsa", "beta")
            let added = try fs.epochfs(["keys", "add", "alpha", "--store", fs.store], input: alphaKeys.joined(separator: "\n"))
            #expect(added.succeeded, "keys from standard input: \(added)")
            #expect(try fs.epochfs(["keys", "add", "beta", "--store", fs.store], input: betaKey).succeeded)

            let keysUser = try #require(getpwnam(SSHFixture.keysUser)).pointee
            let sshdSide = Identity(uid: keysUser.pw_uid, gid: keysUser.pw_gid, groups: [])
            func serve(_ user: String, as identity: Identity = sshdSide) throws -> CommandResult {
                try Command.run([fs.binary, "authorized-keys", "--store", fs.store, user], as: identity)
            }
            let expected = alphaKeys.map { "restrict " + $0 }
            let served = try serve("alpha")
            #expect(served.succeeded && served.lines == expected, "\(served)")
            #expect(try serve("beta").lines == ["restrict " + betaKey])
            let unknown = try serve("nobody")
            #expect(unknown.succeeded && unknown.stdout.isEmpty, "an unknown user gets no keys and exit 0: \(unknown)")
            let traversal = try serve("../authorized_keys/alpha")
            #expect(traversal.succeeded && traversal.stdout.isEmpty, "\(traversal)")

            for identity in [District.alpha.identity, District.beta.identity, Identity.staff, Identity.outsider] {
                let result = try serve("alpha", as: identity)
                #expect(!result.succeeded && result.stdout.isEmpty, "\(identity) must not read keys: \(result)")
                #expect(identity.attempt(.list(fs.store)) == .EACCES, "\(identity) must not list the store")
                #expect(identity.attempt(.read(fs.store + "/metadata.db")) != nil)
            }

            try fs.unmount()
            let whileDown = try serve("alpha")
            #expect(whileDown.succeeded && whileDown.lines == expected, "served while the daemon is down: \(whileDown)")
            let removed = try fs.epochfs(["keys", "remove", "alpha", keyFingerprint(alphaKeys[0]), "--store", fs.store])
            #expect(removed.succeeded, "keys remove works while unmounted: \(removed)")
            #expect(try serve("alpha").lines == [expected[1]])
        }
    }

    @Test("keys add refuses a paste with a private key, naming the line, and stores nothing")
    func keysAddRefusesAndStoresNothing() throws {
        try SSHFixture.ensureSystemAccounts()
        try withMount { fs in
            let keys = try KeyPairs(directory: fs.directory.path)
            let good = try keys.make("ed25519", "good")
            let paste = good + "\n" + (try keys.privateText(of: "ed25519-good"))
            let refused = try fs.epochfs(["keys", "add", "alpha", "--store", fs.store], input: paste)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("line 2") && refused.stderr.contains("PRIVATE KEY"), "\(refused)")
            let list = try fs.epochfs(["keys", "list", "alpha", "--store", fs.store])
            #expect(list.succeeded && list.lines.count == 1, "only the header: \(list)")

            let unknown = try fs.epochfs(["keys", "add", "nobody", "--store", fs.store], input: good)
            #expect(unknown.status == 1 && unknown.stderr.contains("no district 'nobody'"), "\(unknown)")

            let listed = try fs.epochfs(["keys", "add", "alpha", "--store", fs.store], input: good)
            #expect(listed.succeeded, "\(listed)")
            let shown = try fs.epochfs(["keys", "list", "alpha", "--store", fs.store])
            let fields = try #require(shown.lines.last).split(separator: "\t").map(String.init)
            #expect(fields.count == 5 && fields[0] == "ssh-ed25519" && fields[1] == "256", "\(shown)")
            #expect(fields[2] == keyFingerprint(good) && fields[4] == "good", "\(shown)")
        }
    }
}

/// Key pairs made with ssh-keygen in a test directory.
struct KeyPairs {
    let directory: String

    init(directory: String) throws {
        self.directory = directory + "/keys"
        try Files.mkdir(self.directory, mode: 0o700)
    }

    /// Makes a key pair and returns its public line (without the newline).
    func make(_ type: String, _ comment: String) throws -> String {
        let path = directory + "/" + type + "-" + comment.replacingOccurrences(of: " ", with: "-")
        let made = try Command.run(["/usr/bin/ssh-keygen", "-q", "-t", type, "-N", "", "-C", comment, "-f", path])
        guard made.succeeded else { throw CommandError(description: "\(made)") }
        return String(decoding: try Files.read(path + ".pub"), as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    func privateText(of name: String) throws -> String {
        String(decoding: try Files.read(directory + "/" + name), as: UTF8.self)
    }
}

/// The SHA256 fingerprint `ssh-keygen -l` gives a public key line.
func keyFingerprint(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    let result = try? Command.run(["/usr/bin/ssh-keygen", "-l", "-f", "-"], input: Array(line.utf8))
    guard let result, result.succeeded, let fingerprint = result.stdout.split(separator: " ").dropFirst().first else {
        Issue.record("ssh-keygen -l failed: \(result.map(String.init(describing:)) ?? "did not run")", sourceLocation: sourceLocation)
        return "?"
    }
    return String(fingerprint)
}
