#if canImport(Glibc)
import Glibc
#endif
import EpochStore
import Synchronization

/// The in-memory state of a file while at least one handle (or an internal operation) has it
/// open. Reads and writes go to `fd` without touching SQLite; size and times live here and
/// are written back on fsync and when the last handle closes.
final class OpenFile: Sendable {
    let ino: InodeNumber
    let state: SleepingLock<Content>
    /// Held by a writer that copies the file's blob into its new staging file (copy-on-write)
    /// without `state`: one copy at a time, since every copy is made at the same path. Never
    /// taken with the metadata lock held, and taken before `state`.
    let copying = SleepingLock(())
    /// Handles that may write this file: the one count of them. Changed only with both the
    /// metadata lock and `state` held (an open or release), so it holds still under either:
    /// the sealer counts a directory's writers under the metadata lock without taking every
    /// open file's lock (one may be held across a write's copy), and a flush, which must not
    /// wait for the metadata lock to learn whether it closes the last writer, reads it under
    /// `state`.
    let writers: Atomic<Int>

    struct Content {
        /// The descriptor reads are served from: the blob, or the staging file.
        var fd: Int32
        /// Descriptors replaced by a copy-on-write while a read was replying from them: closed
        /// once no read is (`readsInFlight`), so that rewriting a file again and again beside a
        /// reader cannot pile up the daemon's descriptors.
        var retiredFDs: [Int32] = []
        /// Reads replying from `fd` now, outside the lock (`FileSystem.read`).
        var readsInFlight = 0
        /// Where the content is (`fd` is the staging file, or the immutable blob) and how its
        /// writing session goes.
        var session: WriteSession
        var size: Int64
        var atime: Nanoseconds
        var mtime: Nanoseconds
        var ctime: Nanoseconds
        /// The staging file's hash, as its bytes arrive.
        var hash = StreamingHash.invalid
        /// Handles open on this file (`OpenFile.writers` counts those that may write).
        var opens = 0
        /// Size and times differ from the metadata row.
        var attributesDirty = false
        /// The file was unlinked while open: its row is gone at the last close.
        var orphaned = false
        /// The district account its size counts against (nil outside `upload/`, and once
        /// orphaned or published).
        var quota: QuotaAccount?
        /// The kernel's id for `fd` as the backing file of passthrough reads (0: none), and
        /// how many handles read through it. The kernel ties one backing file to an inode for
        /// as long as any passthrough handle is open, so no writer may join meanwhile.
        var backingID: Int32 = 0
        var passthroughOpens = 0
        /// How many of the blob's bytes a change wants copied into a new staging file before it
        /// can be made (`FileSystem.makeStaging`): `FileSystem.withCopyOnWrite` copies them
        /// without this lock, into `preparedCopy`.
        var copyWanted: Int64?
        /// A copy of the blob's first `count` bytes in the file's new staging file, made
        /// without this lock by a writer holding `copying` (`FileSystem.withCopyOnWrite`), for
        /// `makeStaging` to take.
        var preparedCopy: (fd: Int32, count: Int64)?

        /// What keeps an open of this file from reading through a backing file (a reader), or
        /// from joining at all (a writer): any handle that is not a passthrough one stops a
        /// reader, since the kernel refuses a passthrough open of an inode a direct-I/O handle
        /// has mapped; any passthrough handle stops a writer (ETXTBSY).
        func passthroughConflicts(writable: Bool) -> Bool {
            writable ? passthroughOpens > 0 : opens != passthroughOpens
        }

        mutating func closeRetiredDescriptors() {
            for fd in retiredFDs { Sys.close(fd) }
            retiredFDs.removeAll()
        }

        /// The file stops counting against its district's quota (it lost its name, or its
        /// epoch left `upload/`): its current size and its entry are given back.
        mutating func stopCounting() {
            quota?.credit(bytes: size, entries: 1)
            quota = nil
        }

        /// The size and times held in memory, into the row about to be written.
        func copyAttributes(into record: inout InodeRecord) {
            record.size = size
            record.atime = atime
            record.mtime = mtime
            record.ctime = ctime
        }
    }

    init(ino: InodeNumber, content: Content, writers: Int = 0) {
        self.ino = ino
        self.state = SleepingLock(content)
        self.writers = Atomic(writers)
    }
}

/// How the kernel may cache what is read and written through one handle: decided for every
/// open by `FileSystem.caching(writable:quota:backingID:)` (files) or `.directory`, and only
/// carried to the kernel by the adapter.
public struct KernelCaching: Sendable, Equatable {
    /// Reads and writes bypass the kernel's page cache and reach the filesystem as the caller
    /// makes them.
    public var directIO: Bool
    /// The pages the kernel cached before this open stay valid: content changes only through
    /// the kernel (or the daemon tells it). Never for an open reading through a backing file,
    /// which must not meet cached pages (the kernel's rule).
    public var keepCache: Bool
    /// A directory's listing may be cached until it changes.
    public var cacheDirectory: Bool

    public static let directory = KernelCaching(directIO: false, keepCache: true, cacheDirectory: true)
}

/// One open of a file or directory, as the kernel's `fh` refers to it.
public final class Handle: Sendable {
    let file: OpenFile?
    let writable: Bool
    /// The thread that opened the file. Only its own close may publish the file at FLUSH:
    /// a forked child closing its inherited copy sends a FLUSH too, while the file stays open.
    let openerPID: Int32
    /// How the kernel caches what goes through this handle.
    public let caching: KernelCaching
    /// Reads through this handle go from the kernel straight to the file holding the content
    /// (FUSE passthrough): the kernel's id of that backing file, or 0.
    public let backingID: Int32
    /// The district whose budget of open files this handle counts against
    /// (`FileSystem.State.descriptors`): the file's own district when one of its processes
    /// opened it; nil for root, staff and the filesystem's own opens.
    let budget: Int64?

    init(file: OpenFile?, writable: Bool, openerPID: Int32 = 0,
         caching: KernelCaching = KernelCaching(directIO: false, keepCache: true, cacheDirectory: false),
         backingID: Int32 = 0, budget: Int64? = nil) {
        self.file = file
        self.writable = writable
        self.openerPID = openerPID
        self.caching = caching
        self.backingID = backingID
        self.budget = budget
    }

    /// Reads and writes through this handle bypass the kernel's page cache.
    var directIO: Bool { caching.directIO }
}
