import CFuse
import EpochCore
import EpochFS
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Decodes kernel requests, calls `FileSystem`, and replies. No SQL, no policy here.
public final class FuseAdapter: Sendable {
    let fs: FileSystem
    let logger: Logger
    let attributeTimeout: Double
    let entryTimeout: Double
    /// Ask the kernel for FUSE passthrough (`epochfs mount --no-passthrough` turns it off).
    let allowPassthrough: Bool
    /// The session's `/dev/fuse` descriptor, once mounted (for backing-file ioctls).
    let deviceFD = Atomic<Int32>(-1)

    public init(fs: FileSystem, logger: Logger, cacheTimeout: Double, passthrough: Bool = true) {
        self.fs = fs
        self.logger = logger
        self.attributeTimeout = cacheTimeout
        self.entryTimeout = cacheTimeout
        self.allowPassthrough = passthrough
    }

    static func from(_ req: fuse_req_t?) -> FuseAdapter {
        Unmanaged<FuseAdapter>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    static func caller(_ req: fuse_req_t?) -> Caller {
        let ctx = fuse_req_ctx(req)!.pointee
        return Caller(uid: ctx.uid, gid: ctx.gid, pid: ctx.pid)
    }

    /// A name as the kernel passes it. Names are kept as UTF-8 text: bytes that are not would be
    /// folded to U+FFFD, and two different names would alias one inode, so they are EILSEQ.
    static func string(_ cString: UnsafePointer<CChar>?) throws(Errno) -> String {
        guard let cString else { return "" }
        guard let name = String(validatingCString: cString) else { throw .illegalSequence }
        return name
    }

    static func ino(_ value: fuse_ino_t) -> InodeNumber { InodeNumber(rawValue: value) }

    /// The low-level operations table. Each entry decodes its arguments and answers once.
    static func operations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn, let userdata else { return }
            let adapter = Unmanaged<FuseAdapter>.fromOpaque(userdata).takeUnretainedValue()
            adapter.configure(conn)
        }
        ops.lookup = { req, parent, name in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in .entry(try a.fs.lookup(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name))) }
        }
        ops.forget = { req, node, count in
            FuseAdapter.from(req).fs.forget([(FuseAdapter.ino(node), count)])
            Request(req).replyNone()
        }
        ops.forget_multi = { req, count, forgets in
            let items = (0..<count).compactMap { i in
                forgets.map { (FuseAdapter.ino($0[i].ino), $0[i].nlookup) }
            }
            FuseAdapter.from(req).fs.forget(items)
            Request(req).replyNone()
        }
        ops.getattr = { req, node, _ in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in .attributes(try a.fs.getattr(FuseAdapter.ino(node))) }
        }
        ops.setattr = { req, node, attr, toSet, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                guard let attr = attr?.pointee else { throw Errno.invalid }
                let changes = try FuseAdapter.changes(attr, Int32(toSet))
                return .attributes(try a.fs.setattr(FuseAdapter.ino(node), changes, handle: FuseAdapter.handle(info), caller: FuseAdapter.caller(req)))
            }
        }
        ops.mkdir = { req, parent, name, mode in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                .entry(try a.fs.mkdir(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name), mode: UInt32(mode), caller: FuseAdapter.caller(req)))
            }
        }
        ops.rmdir = { req, parent, name in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                try a.fs.rmdir(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name), caller: FuseAdapter.caller(req))
                return .ok
            }
        }
        ops.unlink = { req, parent, name in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                try a.fs.unlink(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name), caller: FuseAdapter.caller(req))
                return .ok
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                try a.fs.rename(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name), newParent: FuseAdapter.ino(newParent),
                                newName: try FuseAdapter.string(newName), flags: .init(rawValue: flags), caller: FuseAdapter.caller(req))
                return .ok
            }
        }
        ops.link = { req, _, _, _ in FuseAdapter.from(req).answer(Request(req)) { () throws(Errno) in try FuseAdapter.from(req).fs.refuseLink(); return .ok } }
        ops.symlink = { req, _, _, _ in FuseAdapter.from(req).answer(Request(req)) { () throws(Errno) in try FuseAdapter.from(req).fs.refuseLink(); return .ok } }
        ops.mknod = { req, _, _, _, _ in FuseAdapter.from(req).answer(Request(req)) { () throws(Errno) in try FuseAdapter.from(req).fs.refuseLink(); return .ok } }
        ops.create = { req, parent, name, mode, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                let flags = info?.pointee.flags ?? O_RDWR
                let (attributes, handle) = try a.fs.create(parent: FuseAdapter.ino(parent), name: try FuseAdapter.string(name), mode: UInt32(mode),
                                                           flags: flags, caller: FuseAdapter.caller(req))
                return .created(attributes, handle)
            }
        }
        ops.open = { req, node, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                let flags = info?.pointee.flags ?? O_RDONLY
                let handle = try a.fs.open(FuseAdapter.ino(node), flags: flags, caller: FuseAdapter.caller(req)) { fd in
                    Int32(fuse_passthrough_open(req, fd))
                }
                return .opened(handle)
            }
        }
        ops.read = { req, _, size, offset, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { (request: inout Request?) throws(Errno) in
                guard let handle = FuseAdapter.handle(info) else { throw Errno.badHandle }
                // Replied from the descriptor before the filesystem may close it.
                return try a.fs.read(handle, offset: Int64(offset), size: size) { fd, count in
                    let data = Reply.data(fd: fd, offset: Int64(offset), count: count)
                    request.take()?.reply(data)
                    return data
                }
            }
        }
        ops.write = { req, _, buffer, size, offset, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { (request: inout Request?) throws(Errno) in
                guard let handle = FuseAdapter.handle(info) else { throw Errno.badHandle }
                let bytes = UnsafeRawBufferPointer(start: buffer, count: size)
                // The write's own flags: the open's, with O_DSYNC added for RWF_DSYNC writes.
                let durable = (info?.pointee.flags ?? 0) & O_DSYNC != 0
                // The answer may go before the bytes are copied and hashed, so that the
                // writer's next request overlaps that work (FileSystem.write).
                let count = try a.fs.write(handle, offset: Int64(offset), bytes: bytes, durable: durable) { count in
                    request.take()?.reply(.written(count))
                }
                return .written(count)
            }
        }
        ops.flush = { req, _, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                if let handle = FuseAdapter.handle(info) { try a.fs.flush(handle, caller: FuseAdapter.caller(req)) }
                return .ok
            }
        }
        ops.release = { req, _, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                if let info, let handle = FuseAdapter.releaseHandle(info.pointee.fh) { a.close(handle) }
                return .ok
            }
        }
        ops.fsync = { req, _, dataOnly, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                guard let handle = FuseAdapter.handle(info) else { throw Errno.badHandle }
                try a.fs.fsync(handle, dataOnly: dataOnly != 0)
                return .ok
            }
        }
        ops.opendir = { req, node, _ in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in .opened(try a.fs.opendir(FuseAdapter.ino(node))) }
        }
        ops.readdir = { req, node, size, offset, _ in
            FuseAdapter.from(req).readdir(req, node, size, offset, plus: false)
        }
        ops.readdirplus = { req, node, size, offset, _ in
            FuseAdapter.from(req).readdir(req, node, size, offset, plus: true)
        }
        ops.releasedir = { req, _, info in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                if let info { FuseAdapter.releaseHandle(info.pointee.fh) }
                return .ok
            }
        }
        ops.fsyncdir = { req, _, _, _ in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in try a.fs.syncMetadata(); return .ok }
        }
        ops.statfs = { req, node in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in .statfs(try a.fs.statfs(FuseAdapter.ino(node))) }
        }
        ops.access = { req, node, mask in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in try a.fs.access(FuseAdapter.ino(node), mask: mask, caller: FuseAdapter.caller(req)); return .ok }
        }
        ops.getxattr = { req, node, name, size in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                let value = try a.fs.getxattr(FuseAdapter.ino(node), name: try FuseAdapter.string(name))
                return FuseAdapter.xattrReply(value, size)
            }
        }
        ops.listxattr = { req, node, size in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                var names: [UInt8] = []
                for attribute in try a.fs.listxattr(FuseAdapter.ino(node)) { names += Array(attribute.utf8) + [0] }
                return FuseAdapter.xattrReply(names, size)
            }
        }
        // Refused whatever the name: it is not even decoded.
        ops.setxattr = { req, node, _, _, _, _ in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                try a.fs.setxattr(FuseAdapter.ino(node))
                return .ok
            }
        }
        ops.removexattr = { req, node, _ in
            let a = FuseAdapter.from(req)
            a.answer(Request(req)) { () throws(Errno) in
                try a.fs.removexattr(FuseAdapter.ino(node))
                return .ok
            }
        }
        return ops
    }

    /// Closes a file handle, and gives back the backing file of the last passthrough reader.
    func close(_ handle: Handle) {
        let device = deviceFD.load(ordering: .relaxed)
        fs.release(handle) { backingID in
            if cfuse_backing_close(device, backingID) != 0 {
                self.logger.error("giving a passthrough backing file back failed",
                                  metadata: ["backing_id": "\(backingID)", "errno": "\(errno)"])
            }
        }
    }

    /// getxattr/listxattr: a size of 0 asks for the length only.
    static func xattrReply(_ value: [UInt8], _ size: Int) -> Reply {
        if size == 0 { return .xattrSize(value.count) }
        if size < value.count { return .error(.range) }
        return .bytes(value)
    }

    /// The changes a SETATTR asks for. Times are kept in nanoseconds since 1970 (an Int64:
    /// about 292 years either side): a time beyond that is EINVAL, as for a filesystem whose
    /// timestamps cannot hold it.
    static func changes(_ attr: Glibc.stat, _ toSet: Int32) throws(Errno) -> AttributeChanges {
        func has(_ flag: Int32) -> Bool { toSet & flag != 0 }
        func ns(_ t: Glibc.timespec) throws(Errno) -> Nanoseconds {
            let (seconds, overflow) = Int64(t.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
            let (total, past) = seconds.addingReportingOverflow(Int64(t.tv_nsec))
            guard !overflow && !past else { throw .invalid }
            return total
        }
        var changes = AttributeChanges()
        if has(FUSE_SET_ATTR_MODE) { changes.mode = attr.st_mode & 0o7777 }
        if has(FUSE_SET_ATTR_UID) { changes.uid = attr.st_uid }
        if has(FUSE_SET_ATTR_GID) { changes.gid = attr.st_gid }
        if has(FUSE_SET_ATTR_SIZE) { changes.size = Int64(attr.st_size) }
        if has(FUSE_SET_ATTR_ATIME_NOW) { changes.atime = .now } else if has(FUSE_SET_ATTR_ATIME) { changes.atime = .at(try ns(attr.st_atim)) }
        if has(FUSE_SET_ATTR_MTIME_NOW) { changes.mtime = .now } else if has(FUSE_SET_ATTR_MTIME) { changes.mtime = .at(try ns(attr.st_mtim)) }
        if has(FUSE_SET_ATTR_CTIME) { changes.ctime = try ns(attr.st_ctim) }
        return changes
    }

    func readdir(_ req: fuse_req_t?, _ node: fuse_ino_t, _ size: Int, _ offset: off_t, plus: Bool) {
        answer(Request(req)) { () throws(Errno) in
            // A directory entry takes at least 24 bytes (plus: ~150); ask for about as many as fit.
            let estimate = max(2, size / (plus ? 160 : 32))
            let entries = try fs.readdir(Self.ino(node), offset: Int64(offset), limit: estimate)
            var buffer = [UInt8](repeating: 0, count: size)
            var used = 0
            var looked: [InodeNumber] = []
            buffer.withUnsafeMutableBufferPointer { raw in
                let base = UnsafeMutableRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
                for entry in entries {
                    let needed: Int
                    if plus {
                        var param = entryParam(entry.attributes)
                        needed = fuse_add_direntry_plus(req, base + used, size - used, entry.name, &param, off_t(entry.nextOffset))
                    } else {
                        var st = Self.stat(entry.attributes)
                        needed = fuse_add_direntry(req, base + used, size - used, entry.name, &st, off_t(entry.nextOffset))
                    }
                    if needed > size - used { break }
                    used += needed
                    if plus && entry.name != "." && entry.name != ".." { looked.append(entry.attributes.ino) }
                }
            }
            if !looked.isEmpty { fs.rememberLookups(looked) }
            return .bytes(Array(buffer[0..<used]))
        }
    }

    /// Capabilities and sizes negotiated at INIT.
    func configure(_ conn: UnsafeMutablePointer<fuse_conn_info>) {
        // HANDLE_KILLPRIV_V2: the filesystem clears setuid/setgid itself (it never keeps them,
        // nor file capabilities), so the kernel marks the mount SB_NOSEC and stops asking for
        // `security.capability` before every write(2).
        let wanted: [Int32] = [FUSE_CAP_ATOMIC_O_TRUNC, FUSE_CAP_PARALLEL_DIROPS,
                               FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_MOVE, FUSE_CAP_ASYNC_READ,
                               FUSE_CAP_READDIRPLUS, FUSE_CAP_READDIRPLUS_AUTO, FUSE_CAP_POSIX_ACL,
                               FUSE_CAP_HANDLE_KILLPRIV_V2, FUSE_CAP_DIRECT_IO_ALLOW_MMAP]
        for cap in wanted { _ = fuse_set_feature_flag(conn, UInt64(cap)) }
        // Passthrough (Linux 6.9 and later; the daemon must be root): reads go from the kernel
        // to the blob, writes go direct to the daemon. The kernel offers it only without the
        // writeback cache, which is the way data moves otherwise.
        if allowPassthrough && fuse_set_feature_flag(conn, UInt64(FUSE_CAP_PASSTHROUGH)) {
            fs.enablePassthrough()
        } else {
            _ = fuse_set_feature_flag(conn, UInt64(FUSE_CAP_WRITEBACK_CACHE))
        }
        // The kernel's own cache decides when data is stale; our content changes only through it.
        fuse_unset_feature_flag(conn, UInt64(FUSE_CAP_AUTO_INVAL_DATA))
        conn.pointee.max_write = 1 << 20
        conn.pointee.max_readahead = 1 << 20
        logger.notice(fs.usesPassthrough ? "kernel data path: reads through passthrough, writes direct"
                                         : "kernel data path: writeback cache", metadata: [
            "fuse.proto": "\(conn.pointee.proto_major).\(conn.pointee.proto_minor)",
            // (fuse_get_feature_flag answers what the kernel offers, not what was asked for.)
            "fuse.writeback": "\(conn.pointee.want_ext & UInt64(FUSE_CAP_WRITEBACK_CACHE) != 0)",
            "fuse.passthrough": "\(fs.usesPassthrough)",
        ])
    }
}
