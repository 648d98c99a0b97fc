/// An inode number: SQLite rowid, FUSE node id and `st_ino` at once. Never reused.
public struct InodeNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: Int64) { self.rawValue = UInt64(value) }

    /// The mount's root directory (FUSE_ROOT_ID).
    public static let root = InodeNumber(rawValue: 1)
    public var sql: SQLValue { .int(Int64(rawValue)) }
    public var description: String { String(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public enum NodeKind: Int64, Sendable {
    case directory = 1
    case file = 2
}

/// Where in the tree an inode lives; it decides who may change it.
public enum Zone: Int64, Sendable {
    /// `/`, the list of districts.
    case root = 0
    /// `/<district>/`, the sshd chroot.
    case districtRoot = 1
    /// `/<district>/upload/` itself.
    case upload = 2
    /// Anything below `upload/`: the district's own files.
    case uploadTree = 3
    /// `/<district>/upload-processed/` itself.
    case processed = 4
    /// Anything below `upload-processed/`.
    case processedTree = 5
}

/// Nanoseconds since the Unix epoch.
public typealias Nanoseconds = Int64

/// One row of the `inodes` table.
public struct InodeRecord: Sendable, Equatable {
    public var ino: InodeNumber
    /// Nil for a file unlinked while still open.
    public var parent: InodeNumber?
    public var name: String
    public var kind: NodeKind
    /// Permission bits only (no file type, no setuid/setgid).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var atime: Nanoseconds
    public var mtime: Nanoseconds
    public var ctime: Nanoseconds
    /// SHA-256 (hex) of the published content, when the content is a blob.
    public var blob: String?
    /// The content lives in the staging file named by the inode number.
    public var staged: Bool
    /// The last writer went away without a clean close (session dropped, client killed).
    public var interrupted: Bool
    public var zone: Zone
    /// The district's id; 0 for `/`.
    public var district: Int64
    /// Number of subdirectories, for `st_nlink` of directories.
    public var subdirectories: Int64

    public init(
        ino: InodeNumber = InodeNumber(rawValue: 0), parent: InodeNumber?, name: String, kind: NodeKind,
        mode: UInt32, uid: UInt32, gid: UInt32, size: Int64 = 0, time: Nanoseconds,
        blob: String? = nil, staged: Bool = false, interrupted: Bool = false,
        zone: Zone, district: Int64, subdirectories: Int64 = 0
    ) {
        self.ino = ino
        self.parent = parent
        self.name = name
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atime = time
        self.mtime = time
        self.ctime = time
        self.blob = blob
        self.staged = staged
        self.interrupted = interrupted
        self.zone = zone
        self.district = district
        self.subdirectories = subdirectories
    }

    public var isDirectory: Bool { kind == .directory }
}

/// One row of the `districts` table.
public struct DistrictRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var rootIno: UInt64
    public var uploadIno: UInt64
    public var processedIno: UInt64
    public var created: Nanoseconds
    /// The unix user was created with the district (`--create-user`) and goes with it.
    public var managedUser: Bool
}

/// A public key a district logs in with, as stored: checked and fingerprinted before it gets here.
public struct StoredKey: Sendable, Equatable, Codable {
    /// `SHA256:…` as `ssh-keygen -l` prints it.
    public var fingerprint: String
    public var algorithm: String
    public var bits: Int
    /// The key's base64 field.
    public var data: String
    public var comment: String
    public var added: Nanoseconds

    public init(fingerprint: String, algorithm: String, bits: Int, data: String, comment: String, added: Nanoseconds) {
        self.fingerprint = fingerprint
        self.algorithm = algorithm
        self.bits = bits
        self.data = data
        self.comment = comment
        self.added = added
    }

    /// The line sshd reads from `AuthorizedKeysCommand`: no forwarding, no pty, no rc, whatever
    /// the server configuration says.
    public var authorizedKeysLine: String {
        "restrict \(algorithm) \(data)" + (comment.isEmpty ? "" : " \(comment)")
    }
}
