import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// The content-addressed blob store and the staging area beside it, under one store directory.
///
/// Layout: `blobs/<first two hex digits>/<sha256>` (immutable, mode 0444) and
/// `staging/<inode number>` (a file being written). Both live on one filesystem so that
/// publishing a staging file is a rename.
public struct BlobStore: Sendable {
    public let root: String
    public var blobsDirectory: String { root + "/blobs" }
    public var stagingDirectory: String { root + "/staging" }

    public init(root: String) throws {
        self.root = root
        try Sys.mkdir(blobsDirectory, 0o700)
        try Sys.mkdir(stagingDirectory, 0o700)
        // The 256 fan-out directories exist up front, so publishing is a rename and nothing else.
        for prefix in 0..<256 {
            try Sys.mkdir("\(blobsDirectory)/\(String(prefix, radix: 16).leftPadded(to: 2))", 0o700)
        }
    }

    public func blobPath(_ hash: String) -> String {
        "\(blobsDirectory)/\(hash.prefix(2))/\(hash)"
    }

    public func stagingPath(_ ino: InodeNumber) -> String {
        "\(stagingDirectory)/\(ino.rawValue)"
    }

    public func openBlob(_ hash: String) throws -> Int32 {
        try Sys.open(blobPath(hash), O_RDONLY)
    }

    /// Creates (or empties) the staging file of `ino` and opens it for reading and writing.
    /// It is created read-only (the daemon, as root, still opens it for writing), so that it
    /// becomes an immutable blob by a rename alone.
    public func createStaging(_ ino: InodeNumber) throws -> Int32 {
        try Sys.open(stagingPath(ino), O_RDWR | O_CREAT | O_TRUNC, 0o444)
    }

    public func openStaging(_ ino: InodeNumber) throws -> Int32 {
        try Sys.open(stagingPath(ino), O_RDWR)
    }

    public func removeStaging(_ ino: InodeNumber) throws {
        try Sys.unlink(stagingPath(ino))
    }

    /// Makes the staging file of `ino` the blob `hash`. When the blob exists already (dedup),
    /// the staging file is dropped instead. Open descriptors of the staging file stay valid.
    /// `isNew`: the caller's metadata had no row for the blob, so any file at its path is a
    /// doomed copy of the same bytes; the rename replaces it without looking first.
    public func publish(_ ino: InodeNumber, as hash: String, isNew: Bool = false) throws {
        if try !isNew && blobExists(hash) {
            try removeStaging(ino)
            return
        }
        try Sys.rename(stagingPath(ino), blobPath(hash))
    }

    /// Stores `bytes` as a blob, durably (data synced, renamed into place, directory synced),
    /// and returns its hash. For the small files the daemon writes itself (processing logs).
    /// The file is written even when the blob exists: a doomed copy may be about to go. Each
    /// call writes a temporary file of its own (`<hash>.<random>.new`), so that two threads
    /// storing the same bytes at once never write into one file, nor truncate one already
    /// renamed into place.
    public func store(_ bytes: [UInt8]) throws -> String {
        let hash = SHA256.hash(data: bytes).hex
        let temporary = blobPath(hash) + ".\(UInt64.random(in: 0 ... .max)).new"
        let fd = try Sys.open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o444)
        do {
            try bytes.withUnsafeBytes { try Sys.pwriteAll(fd, $0, 0) }
            try Sys.fdatasync(fd)
            Sys.close(fd)
        } catch {
            Sys.close(fd)
            try? Sys.unlink(temporary)
            throw error
        }
        try Sys.rename(temporary, blobPath(hash))
        try Sys.fsyncDirectory("\(blobsDirectory)/\(hash.prefix(2))")
        return hash
    }

    // MARK: Space kept for deleting

    /// A file of `<store>/reserve` holds space back from data: when the disk is full, deleting
    /// files still needs room for the metadata commit that deletes them. The daemon gives the
    /// reserve up at that moment and takes it back once space is free again.
    public var reservePath: String { root + "/reserve" }

    /// How much to hold back: 1 % of the store's filesystem, between 1 and 64 MiB.
    public func reserveSize() throws -> Int64 {
        let st = try Sys.filesystemStatus(root)
        let total = Int64(st.f_blocks) * Int64(st.f_frsize)
        return min(max(total / 100, 1 << 20), 64 << 20)
    }

    /// Creates the reserve if it is missing and there is room for it (and as much again);
    /// true if it is in place afterwards.
    @discardableResult
    public func ensureReserve() throws -> Bool {
        if try Sys.status(reservePath) != nil { return true }
        let size = try reserveSize()
        let st = try Sys.filesystemStatus(root)
        guard Int64(st.f_bavail) * Int64(st.f_frsize) > 2 * size else { return false }
        let fd = try Sys.open(reservePath + ".new", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let rc = posix_fallocate(fd, 0, off_t(size))
        Sys.close(fd)
        guard rc == 0 else {
            try? Sys.unlink(reservePath + ".new")
            if rc == ENOSPC { return false }
            throw SystemError("posix_fallocate", reservePath, errno: rc)
        }
        try Sys.rename(reservePath + ".new", reservePath)
        return true
    }

    /// Gives the reserve up; true if there was one.
    public func releaseReserve() -> Bool {
        (try? Sys.unlink(reservePath)) != nil
    }

    public func removeBlob(_ hash: String) throws {
        try Sys.unlink(blobPath(hash))
    }

    public func blobExists(_ hash: String) throws -> Bool {
        try Sys.status(blobPath(hash)) != nil
    }

    /// True when the blob's bytes hash to its name.
    public func verify(_ hash: String) throws -> Bool {
        guard try blobExists(hash) else { return false }
        let fd = try openBlob(hash)
        defer { Sys.close(fd) }
        var hasher = SHA256()
        try Self.hash(fd: fd, from: 0, to: Int64(try Sys.fstat(fd).st_size), into: &hasher)
        return hasher.finalize().hex == hash
    }

    /// Makes the bytes of the given blobs, and their names, durable. Blobs gone meanwhile are
    /// skipped. Many small blobs are cheaper to commit with one syncfs than one fsync each.
    public func makeDurable(_ hashes: [String]) throws {
        if hashes.count >= 32 {
            try Sys.syncFilesystem(blobsDirectory)
            return
        }
        var directories = Set<String>()
        for hash in hashes {
            // A blob deleted since (its last name went) needs nothing; one that cannot be
            // opened for another reason (no descriptor left) is not durable: say so.
            let fd: Int32
            do {
                fd = try openBlob(hash)
            } catch let error as SystemError where error.errno == ENOENT {
                continue
            }
            defer { Sys.close(fd) }
            try Sys.fdatasync(fd)
            directories.insert("\(blobsDirectory)/\(hash.prefix(2))")
        }
        for directory in directories { try Sys.fsyncDirectory(directory) }
    }

    /// Inode numbers that have a staging file.
    public func stagingFiles() throws -> [InodeNumber] {
        try Sys.listDirectory(stagingDirectory).compactMap { UInt64($0).map(InodeNumber.init(rawValue:)) }
    }

    /// Hashes every byte of `fd` from `offset` to `end` into `hasher`.
    public static func hash(fd: Int32, from offset: Int64, to end: Int64, into hasher: inout SHA256) throws {
        guard offset < end else { return }
        let chunk = Int(min(1 << 20, end - offset))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var position = offset
        while position < end {
            let want = Int(min(Int64(chunk), end - position))
            let n = try Sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), position)
            if n == 0 { throw SystemError("pread", "fd \(fd): file shorter than expected", errno: EIO) }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += Int64(n)
        }
    }
}

extension SHA256.Digest {
    public var hex: String {
        var digits = [UInt8]()
        digits.reserveCapacity(64)
        for byte in self {
            digits.append(hexDigits[Int(byte >> 4)])
            digits.append(hexDigits[Int(byte & 0xf)])
        }
        return String(decoding: digits, as: UTF8.self)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// SHA-256 of a file computed as its bytes are written, when they arrive in order.
///
/// Writes at the running end are hashed at once; writes beyond it (the kernel's writeback
/// may deliver pages out of order) are remembered and hashed from the file when the gap
/// before them fills. A write below the running end (a rewrite) invalidates the state and
/// the file is hashed again on publish.
public struct StreamingHash: Sendable {
    private var hasher = SHA256()
    /// Bytes `0..<hashedEnd` are in `hasher`; nil when the state is no longer valid.
    public private(set) var hashedEnd: Int64? = 0
    /// Written ranges above `hashedEnd`, not yet hashed, as start → end.
    private var pending: [Int64: Int64] = [:]

    public init() {}

    /// A hash that must be computed from the file at the end.
    public static var invalid: StreamingHash {
        var state = StreamingHash()
        state.hashedEnd = nil
        return state
    }

    /// Records bytes written at `offset`; `fd` is read for earlier out-of-order ranges that
    /// now follow on.
    public mutating func wrote(_ bytes: UnsafeRawBufferPointer, at offset: Int64, fd: Int32) {
        guard let end = hashedEnd else { return }
        let writeEnd = offset + Int64(bytes.count)
        if offset == end {
            hasher.update(bufferPointer: bytes)
            hashedEnd = writeEnd
            catchUp(fd: fd)
        } else if offset > end {
            if pending.count > 4096 { invalidate(); return }
            pending[offset] = max(pending[offset] ?? 0, writeEnd)
        } else {
            invalidate()
        }
    }

    /// The file was truncated to `size`.
    public mutating func truncated(to size: Int64) {
        guard let end = hashedEnd else { return }
        if size < end || !pending.isEmpty { invalidate() } else if size > end {
            // The gap reads as zeros; treat it as a write to be picked up from the file.
            pending[end] = size
        }
    }

    public mutating func invalidate() {
        hashedEnd = nil
        pending.removeAll()
    }

    private mutating func catchUp(fd: Int32) {
        while let end = hashedEnd, let rangeEnd = pending.removeValue(forKey: end) {
            do {
                try BlobStore.hash(fd: fd, from: end, to: rangeEnd, into: &hasher)
                hashedEnd = rangeEnd
            } catch {
                invalidate()
            }
        }
    }

    /// The digest of the file's first `size` bytes, reading from `fd` whatever was not seen.
    public mutating func finish(fd: Int32, size: Int64) throws -> String {
        if let end = hashedEnd, end <= size {
            try BlobStore.hash(fd: fd, from: end, to: size, into: &hasher)
        } else {
            hasher = SHA256()
            try BlobStore.hash(fd: fd, from: 0, to: size, into: &hasher)
        }
        let digest = hasher.finalize().hex
        self = StreamingHash.invalid
        return digest
    }
}
