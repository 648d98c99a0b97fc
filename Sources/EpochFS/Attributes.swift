#if canImport(Glibc)
import Glibc
#endif
import EpochStore

/// Who made a request: the kernel's view of the calling process.
public struct Caller: Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    public var isRoot: Bool { uid == 0 }
    public static let root = Caller(uid: 0, gid: 0, pid: 0)
}

/// The attributes reported to the kernel for one inode.
public struct Attributes: Sendable, Equatable {
    public var ino: InodeNumber
    /// File type and permission bits, as `st_mode`.
    public var mode: UInt32
    public var nlink: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var blocks: Int64
    public var atime: Nanoseconds
    public var mtime: Nanoseconds
    public var ctime: Nanoseconds

    public var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }

    /// `st_blksize`: large, so that tools copy in large blocks.
    public static let blockSize: Int = 1 << 16
}

/// Requested attribute changes (from SETATTR); nil leaves a field alone.
public struct AttributeChanges: Sendable {
    public enum Time: Sendable { case now, at(Nanoseconds) }
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: Int64?
    public var atime: Time?
    public var mtime: Time?
    public var ctime: Nanoseconds?
    public init(mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: Int64? = nil,
                atime: Time? = nil, mtime: Time? = nil, ctime: Nanoseconds? = nil) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
    }
}

/// One entry of a directory listing, with the cookie that resumes after it.
public struct DirectoryEntry: Sendable {
    public var name: String
    public var attributes: Attributes
    public var nextOffset: Int64
}

/// Figures of the store's disk, for `statfs`.
public struct FilesystemStatistics: Sendable {
    public var blockSize: UInt64
    public var blocks: UInt64
    public var blocksFree: UInt64
    public var blocksAvailable: UInt64
    public var files: UInt64
    public var filesFree: UInt64
    public var nameMax: UInt64
}
