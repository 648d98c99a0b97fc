import CFuse
import EpochCore
import EpochFS
#if canImport(Glibc)
import Glibc
#endif

/// A kernel request that still owes its answer. Consuming it is the only way to answer, so a
/// request is answered at most once by construction; one dropped unanswered is answered EIO
/// on the way out (and logged), so that no forgotten path can leave a process waiting in the
/// kernel for ever.
struct Request: ~Copyable {
    private let req: fuse_req_t?

    init(_ req: fuse_req_t?) { self.req = req }

    /// Sends `reply`.
    consuming func reply(_ reply: Reply) {
        FuseAdapter.from(req).send(req, reply)
        discard self
    }

    /// FORGET and BATCH_FORGET take no answer: this only frees the request.
    consuming func replyNone() {
        fuse_reply_none(req)
        discard self
    }

    deinit {
        FuseAdapter.from(req).logger.error("a request was left unanswered: answered EIO")
        fuse_reply_err(req, EIO)
    }
}

/// What a handler answers: every reply the adapter sends is one of these, encoded by `send`.
enum Reply {
    case error(Errno)
    case entry(Attributes)
    case attributes(Attributes)
    case created(Attributes, Handle)
    case opened(Handle)
    case written(Int)
    case data(fd: Int32, offset: Int64, count: Int)
    case bytes([UInt8])
    case xattrSize(Int)
    case statfs(FilesystemStatistics)
    case ok
}

extension FuseAdapter {
    /// Runs `handler` and answers `request` with its reply (or its errno). Unknown errors were
    /// already mapped to EIO.
    func answer(_ request: consuming Request, _ handler: () throws(Errno) -> Reply) {
        request.reply(reply(handler))
    }

    /// Like `answer`, for a handler that may answer before it has finished: a READ replies from
    /// a descriptor the filesystem may close once the handler returns, and a WRITE is
    /// acknowledged as soon as it is accepted, before its bytes are copied and hashed. The
    /// handler consumes the request when it is ready; if it has not when it returns or
    /// throws, its reply is sent here.
    func answer(_ request: consuming Request, early handler: (inout Request?) throws(Errno) -> Reply) {
        var pending: Request? = consume request
        let reply = reply { () throws(Errno) in try handler(&pending) }
        if let request = pending.take() {
            request.reply(reply)
        } else if case .error(let errno) = reply {
            // The filesystem does not fail a request it has answered (FileSystem.write); the
            // request is gone, so this can only be logged.
            logger.error("a request failed after its answer was sent", metadata: ["errno": "\(errno)"])
        }
    }

    /// The reply of `handler`: its value, or its errno (counted).
    private func reply(_ handler: () throws(Errno) -> Reply) -> Reply {
        do {
            return try handler()
        } catch {
            fs.metrics.replied(error)
            return .error(error)
        }
    }

    /// Encodes `reply` for libfuse; only `Request` calls it.
    fileprivate func send(_ req: fuse_req_t?, _ reply: Reply) {
        let rc: Int32
        switch reply {
        case .error(let errno):
            rc = fuse_reply_err(req, errno.rawValue)
        case .ok:
            rc = fuse_reply_err(req, 0)
        case .entry(let attributes):
            var entry = entryParam(attributes)
            rc = fuse_reply_entry(req, &entry)
        case .attributes(let attributes):
            var st = Self.stat(attributes)
            rc = fuse_reply_attr(req, &st, attributeTimeout)
        case .created(let attributes, let handle):
            var entry = entryParam(attributes)
            var info = Self.fileInfo(handle)
            rc = fuse_reply_create(req, &entry, &info)
            // The kernel did not take the handle (interrupted request): close it here.
            if rc != 0, let handle = Self.releaseHandle(info.fh) { close(handle) }
        case .opened(let handle):
            var info = Self.fileInfo(handle)
            rc = fuse_reply_open(req, &info)
            if rc != 0, let handle = Self.releaseHandle(info.fh) { close(handle) }
        case .written(let count):
            rc = fuse_reply_write(req, count)
        case .data(let fd, let offset, let count):
            rc = count == 0 ? fuse_reply_buf(req, nil, 0) : cfuse_reply_fd(req, fd, off_t(offset), count)
        case .bytes(let bytes):
            rc = bytes.withUnsafeBufferPointer { fuse_reply_buf(req, UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: CChar.self), $0.count) }
        case .xattrSize(let size):
            rc = fuse_reply_xattr(req, size)
        case .statfs(let figures):
            var st = statvfs()
            st.f_bsize = UInt(figures.blockSize)
            st.f_frsize = UInt(figures.blockSize)
            st.f_blocks = fsblkcnt_t(figures.blocks)
            st.f_bfree = fsblkcnt_t(figures.blocksFree)
            st.f_bavail = fsblkcnt_t(figures.blocksAvailable)
            st.f_files = fsfilcnt_t(figures.files)
            st.f_ffree = fsfilcnt_t(figures.filesFree)
            st.f_favail = fsfilcnt_t(figures.filesFree)
            st.f_namemax = UInt(figures.nameMax)
            rc = fuse_reply_statfs(req, &st)
        }
        if rc != 0 && rc != -ENOENT {
            // ENOENT: the request was interrupted and the kernel no longer waits for it.
            logger.debug("reply failed", metadata: ["errno": "\(-rc)"])
        }
    }

    /// The open's answer: the handle as `fh`, and how the filesystem said the kernel may cache.
    static func fileInfo(_ handle: Handle) -> fuse_file_info {
        var info = fuse_file_info()
        info.fh = retain(handle)
        cfuse_fi_set_keep_cache(&info, handle.caching.keepCache ? 1 : 0)
        cfuse_fi_set_cache_readdir(&info, handle.caching.cacheDirectory ? 1 : 0)
        cfuse_fi_set_direct_io(&info, handle.caching.directIO ? 1 : 0)
        info.backing_id = handle.backingID
        return info
    }

    func entryParam(_ attributes: Attributes) -> fuse_entry_param {
        var entry = fuse_entry_param()
        entry.ino = fuse_ino_t(attributes.ino.rawValue)
        entry.generation = 0
        entry.attr = Self.stat(attributes)
        entry.attr_timeout = attributeTimeout
        entry.entry_timeout = entryTimeout
        return entry
    }

    static func stat(_ a: Attributes) -> Glibc.stat {
        var st = Glibc.stat()
        st.st_ino = UInt(a.ino.rawValue)
        st.st_mode = a.mode
        st.st_nlink = UInt(a.nlink)
        st.st_uid = a.uid
        st.st_gid = a.gid
        st.st_size = Int(a.size)
        st.st_blocks = Int(a.blocks)
        st.st_blksize = Attributes.blockSize
        st.st_atim = timespec(a.atime)
        st.st_mtim = timespec(a.mtime)
        st.st_ctim = timespec(a.ctime)
        return st
    }

    static func timespec(_ ns: Nanoseconds) -> Glibc.timespec {
        var seconds = ns / 1_000_000_000
        var nanos = ns % 1_000_000_000
        if nanos < 0 { nanos += 1_000_000_000; seconds -= 1 }
        return Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanos))
    }

    // MARK: Handles as fh

    /// The kernel's `fh` holds a retained reference to the handle until RELEASE.
    static func retain(_ handle: Handle) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passRetained(handle).toOpaque()))
    }

    static func handle(_ info: UnsafeMutablePointer<fuse_file_info>?) -> Handle? {
        guard let info, let pointer = UnsafeRawPointer(bitPattern: UInt(info.pointee.fh)) else { return nil }
        return Unmanaged<Handle>.fromOpaque(pointer).takeUnretainedValue()
    }

    @discardableResult
    static func releaseHandle(_ fh: UInt64) -> Handle? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(fh)) else { return nil }
        return Unmanaged<Handle>.fromOpaque(pointer).takeRetainedValue()
    }
}
