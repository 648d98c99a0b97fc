import SQLiteDatabase
extension InodeNumber {
    /// The inode number as the `inodes` table keeps it: its rowid.
    public var sql: SQLValue { .int(Int64(rawValue)) }
}

public enum NodeKind: Int64, Sendable {
    case directory = 1
    case file = 2
}

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
    /// The epoch directory this inode belongs to (the epoch directory names itself); nil for
    /// anything not below `upload/<epoch>/`, such as a loose file in `upload/`.
    public var epoch: InodeNumber?

    public init(
        ino: InodeNumber = InodeNumber(rawValue: 0), parent: InodeNumber?, name: String, kind: NodeKind,
        mode: UInt32, uid: UInt32, gid: UInt32, size: Int64 = 0, time: Nanoseconds,
        blob: String? = nil, staged: Bool = false, interrupted: Bool = false,
        zone: Zone, district: Int64, subdirectories: Int64 = 0, epoch: InodeNumber? = nil
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
        self.epoch = epoch
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
    /// The most it may hold in `upload/`: bytes (its files' sizes added up) and files (files
    /// and directories). nil: no limit.
    public var quotaBytes: Int64?
    public var quotaFiles: Int64?

    public init(id: Int64, name: String, uid: UInt32, gid: UInt32, rootIno: UInt64, uploadIno: UInt64,
                processedIno: UInt64, created: Nanoseconds, managedUser: Bool,
                quotaBytes: Int64? = nil, quotaFiles: Int64? = nil) {
        self.id = id
        self.name = name
        self.uid = uid
        self.gid = gid
        self.rootIno = rootIno
        self.uploadIno = uploadIno
        self.processedIno = processedIno
        self.created = created
        self.managedUser = managedUser
        self.quotaBytes = quotaBytes
        self.quotaFiles = quotaFiles
    }
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

/// Where an epoch directory stands. Stored as the raw string (`epochfs epochs list --state`).
public enum EpochState: String, Sendable, Codable, CaseIterable {
    /// Files are arriving (or it has not been quiet long enough).
    case receiving
    /// Complete and queued: nothing in it may change any more.
    case sealed
    /// Being recognised, validated and handed off.
    case processing
    /// Moved to `upload-processed/` with its log.
    case published
    /// Sealed, but no profile recognised it (or its name is not a date-time): left for staff.
    case unrecognised
    /// Sealed and recognised, but held for a person to look at (a mass drop, an old delta).
    case held
    /// Could not seal within the maximum time (an interrupted file never resumed, a temporary
    /// name never renamed): staff are told.
    case stalled
}

/// One row of the `epochs` table: an epoch directory and what became of it.
public struct EpochRecord: Sendable, Equatable, Codable {
    /// The epoch directory's inode.
    public var ino: InodeNumber
    public var district: Int64
    /// Its name in `upload/`, or in `upload-processed/` once published.
    public var name: String
    public var state: EpochState
    /// Why it is in this state, for staff (empty when there is nothing to say).
    public var reason: String
    /// When it sealed; from then on its content is frozen.
    public var sealed: Nanoseconds?
    public var published: Nanoseconds?
    public var profile: String?
    /// `succeeded`, `failed` or `superseded` once published.
    public var outcome: String?
    /// processing.json of the last processing run.
    public var result: String?
    /// Staff asked for it to be processed (`epochfs epochs process`): no hold applies, and a
    /// `profile` set with it is used instead of recognising one.
    public var released: Bool
    /// The district deleted files from it after it was sealed: it is never processed, only
    /// deleted.
    public var withdrawn: Bool
    /// Processing runs started; one left unfinished by a crash counts too.
    public var attempts: Int
    /// processing.json of a run whose hand-off finished, recorded before publishing it: a run
    /// that the daemon did not get to publish is published from this, never handed off again.
    /// Cleared when the epoch is published.
    public var handedOff: String?

    public init(ino: InodeNumber, district: Int64, name: String, state: EpochState, reason: String = "",
                sealed: Nanoseconds? = nil, published: Nanoseconds? = nil, profile: String? = nil,
                outcome: String? = nil, result: String? = nil, released: Bool = false, withdrawn: Bool = false,
                attempts: Int = 0, handedOff: String? = nil) {
        self.ino = ino
        self.district = district
        self.name = name
        self.state = state
        self.reason = reason
        self.sealed = sealed
        self.published = published
        self.profile = profile
        self.outcome = outcome
        self.result = result
        self.released = released
        self.withdrawn = withdrawn
        self.attempts = attempts
        self.handedOff = handedOff
    }

    /// Sealed and not yet published: nothing in it may be added or changed.
    public var isFrozen: Bool { sealed != nil && state != .published }
}
