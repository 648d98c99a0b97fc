import ArgumentParser
import EpochFS
import EpochStore
import Foundation
import SSHKeys
#if canImport(Glibc)
import Glibc
#endif

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Add, list and remove the SSH public keys a district logs in with.",
        discussion: "A key added or removed takes effect at the next login.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add public keys: OpenSSH lines (ed25519, ecdsa, rsa of 2048 bits or more) or PuTTYgen's SSH2 PUBLIC KEY block.",
            discussion: "Nothing is stored if any line is refused.")

        @Argument(help: "The district.")
        var district: String
        @Argument(help: "A file holding the keys; '-' or nothing reads standard input.")
        var file: String?
        @OptionGroup var store: StoreOptions

        func run() throws {
            try requireRoot("epochfs keys add")
            let text = try readInput()
            let keys: [PublicKey]
            do {
                keys = try KeyText.parse(text)
            } catch {
                let source = file.flatMap { $0 == "-" ? nil : $0 } ?? "the input"
                throw CommandError("refused, nothing was stored; in \(source):\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
            }
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            let stored = keys.map { StoredKey($0, added: now) }
            let response = try perform(.addKeys(district: district, keys: stored), store: store.resolved(), logger: makeLogger())
            try report(response)
            printKeys(response.keys ?? [], header: false)
        }

        private func readInput() throws -> String {
            guard let file, file != "-" else {
                if isatty(STDIN_FILENO) != 0 {
                    FileHandle.standardError.write(Data("Paste the public key(s), then press Ctrl-D:\n".utf8))
                }
                return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandError("cannot read \(file): check the path and that it is a readable file")
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a district's keys: type, bits, SHA256 fingerprint, comment, date added.")
        @Argument var district: String
        @OptionGroup var store: StoreOptions

        func run() throws {
            let response = try perform(.listKeys(district: district), store: store.resolved(), logger: makeLogger())
            guard response.ok else { throw CommandError(response.message) }
            printKeys(response.keys ?? [], header: true)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a district's key by its fingerprint (as keys list shows it).")
        @Argument var district: String
        @Argument(help: "SHA256:… as `epochfs keys list` or `ssh-keygen -l` prints it.")
        var fingerprint: String
        @OptionGroup var store: StoreOptions

        func run() throws {
            try requireRoot("epochfs keys remove")
            try report(try perform(.removeKey(district: district, fingerprint: fingerprint),
                                   store: store.resolved(), logger: makeLogger()))
        }
    }
}

/// One key a line: type, bits, fingerprint, date added (UTC), comment.
private func printKeys(_ keys: [StoredKey], header: Bool) {
    if header { print("TYPE\tBITS\tFINGERPRINT\tADDED\tCOMMENT") }
    let formatter = ISO8601DateFormatter()
    for key in keys {
        let added = formatter.string(from: Date(timeIntervalSince1970: Double(key.added) / 1e9))
        print("\(key.algorithm)\t\(key.bits)\t\(key.fingerprint)\t\(added)\t\(key.comment)")
    }
}

/// What sshd runs (`AuthorizedKeysCommand … authorized-keys %u`) as its command user, with a
/// minimal environment and its stderr thrown away: prints the district's keys from the file
/// the store keeps for it. Never writes, never opens the database, works while the daemon is
/// down. Logs to syslog (the journal).
struct AuthorizedKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authorized-keys",
        abstract: "Print a district's keys for sshd's AuthorizedKeysCommand (run by sshd, not by people).")

    @Argument(help: "The user sshd authenticates (%u): the district's name.")
    var user: String
    @OptionGroup var store: StoreOptions

    func run() throws {
        let log = SystemLog(identifier: "epochfs-authorized-keys")
        do {
            try Administration.validateDistrictName(user)
        } catch {
            log.notice("refused user '\(user.prefix(64))': not a district name")
            return
        }
        let path = AuthorizedKeysFiles.directory(storeRoot: store.resolved()) + "/" + user
        let fd: Int32
        do {
            fd = try Sys.open(path, O_RDONLY)
        } catch let error as SystemError {
            if error.errno == ENOENT {
                log.info("no keys for '\(user)'")
                return
            }
            log.error("cannot read \(path): \(String(cString: strerror(error.errno))) (is sshd's AuthorizedKeysCommandUser in the keys group?)")
            throw ExitCode.failure
        }
        defer { Sys.close(fd) }
        var text = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try Sys.read(fd, $0) }
            } catch let error as SystemError {
                log.error("cannot read \(path): \(String(cString: strerror(error.errno)))")
                throw ExitCode.failure
            }
            if n == 0 { break }
            text += buffer[..<n]
        }
        FileHandle.standardOutput.write(Data(text))
        log.info("served \(text.count { $0 == 0x0a }) keys for '\(user)'")
    }
}

/// The server's host key fingerprints, to hand to districts so that their clients can check
/// they reached this server.
struct HostKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-key",
        abstract: "Print the SSH server's host key fingerprints (SHA256, and the legacy MD5 form older clients show).")

    @Option(help: "Where sshd's host keys are.")
    var directory = "/etc/ssh"

    func run() throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key.pub") }.sorted()
        guard !names.isEmpty else {
            throw CommandError("no host keys (ssh_host_*_key.pub) in \(directory): install openssh-server or pass --directory")
        }
        print("TYPE\tBITS\tSHA256\tMD5")
        for name in names {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path),
                  let key = try? KeyText.parse(String(decoding: data, as: UTF8.self)).first else {
                warn("skipped \(path): not a host key this server offers by default")
                continue
            }
            print("\(key.displayType)\t\(key.bits)\t\(key.fingerprint)\t\(key.md5Fingerprint)")
        }
    }
}

/// syslog(3): what sshd's helpers write to, since sshd discards their stderr.
struct SystemLog {
    init(identifier: StaticString) {
        openlog(UnsafeRawPointer(identifier.utf8Start).assumingMemoryBound(to: CChar.self), LOG_PID, LOG_AUTH)
    }

    func info(_ message: String) { write(LOG_INFO, message) }
    func notice(_ message: String) { write(LOG_NOTICE, message) }
    func error(_ message: String) { write(LOG_ERR, message) }

    private func write(_ priority: Int32, _ message: String) {
        withVaList([message]) { vsyslog(priority, "%s", $0) }
    }
}
