#if canImport(Glibc)
import Glibc
#endif

/// The files `epochfs authorized-keys` prints for sshd: `<store>/authorized_keys/<district>`,
/// one per district with keys, each line ready for sshd. They are derived from the metadata
/// (rewritten after every change and whenever a store is opened), so that serving a login
/// never opens SQLite and works while the daemon is down. Readable by root and the key group
/// (sshd's `AuthorizedKeysCommandUser`) only; the store's root lets that group through but
/// list nothing.
public struct AuthorizedKeysFiles: Sendable {
    public let directory: String
    /// Owner group of the directory and files; nil leaves them to root alone.
    public let group: gid_t?

    public init(storeRoot: String, group: gid_t?) {
        directory = Self.directory(storeRoot: storeRoot)
        self.group = group
    }

    public static func directory(storeRoot: String) -> String { storeRoot + "/authorized_keys" }

    /// Creates the directory with the right owner and mode (again, if they were changed).
    public func prepare() throws {
        try Sys.mkdir(directory, 0o750)
        try Sys.chown(directory, 0, group ?? 0)
        try Sys.chmod(directory, group == nil ? 0o700 : 0o750)
    }

    /// Replaces a district's file with these keys; no keys removes the file. A file that
    /// already holds exactly this, with the right owner and mode, is left alone: every store
    /// open (each command run while the daemon is down) passes every district through here.
    public func write(district: String, keys: [StoredKey]) throws {
        let path = directory + "/" + district
        guard !keys.isEmpty else {
            try Sys.unlink(path)
            try Sys.fsyncDirectory(directory)
            return
        }
        let text = Array(keys.map { $0.authorizedKeysLine + "\n" }.joined().utf8)
        let mode: mode_t = group == nil ? 0o600 : 0o640
        if try holds(path, text, mode: mode) { return }
        let temporary = directory + "/." + district + ".new"
        let fd = try Sys.open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        do {
            try Sys.fchown(fd, 0, group ?? 0)
            try Sys.fchmod(fd, mode)
            try text.withUnsafeBytes { try Sys.pwriteAll(fd, $0, 0) }
            try Sys.fsync(fd)
            Sys.close(fd)
        } catch {
            Sys.close(fd)
            try? Sys.unlink(temporary)
            throw error
        }
        try Sys.rename(temporary, path)
        try Sys.fsyncDirectory(directory)
    }

    /// Whether the file at `path` is root's, with `mode` and the key group, holding `text`.
    private func holds(_ path: String, _ text: [UInt8], mode: mode_t) throws -> Bool {
        guard let fd = try? Sys.open(path, O_RDONLY) else { return false }
        defer { Sys.close(fd) }
        let st = try Sys.fstat(fd)
        guard st.st_uid == 0, st.st_gid == (group ?? 0), st.st_mode & 0o7777 == mode, st.st_size == text.count else {
            return false
        }
        var existing = [UInt8](repeating: 0, count: text.count)
        let count = try existing.withUnsafeMutableBytes { try Sys.pread(fd, $0, 0) }
        return count == text.count && existing == text
    }

    /// Makes the directory hold exactly these districts' files.
    public func replaceAll(_ keys: [String: [StoredKey]]) throws {
        try prepare()
        for name in try Sys.listDirectory(directory) where keys[name]?.isEmpty ?? true {
            try Sys.unlink(directory + "/" + name)
        }
        for (district, districtKeys) in keys where !districtKeys.isEmpty {
            try write(district: district, keys: districtKeys)
        }
    }
}
