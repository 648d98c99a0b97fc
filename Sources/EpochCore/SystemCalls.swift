import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the call's name, the path or object it was about, and errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let subject: String
    public let errno: Int32

    public init(_ call: String, _ subject: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        "\(call)(\(subject)): \(String(cString: strerror(errno)))"
    }
}

/// The system calls EpochFS makes, retried on EINTR and turned into thrown errors.
public enum Sys {
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ call: String, _ subject: @autoclosure () -> String, _ body: () -> T) throws -> T {
        while true {
            let rc = body()
            if rc >= 0 { return rc }
            if errno == EINTR { continue }
            throw SystemError(call, subject())
        }
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws -> Int32 {
        try retrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    public static func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        try retrying("pread", "fd \(fd)") { Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Writes all of `buffer` at `offset`.
    public static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) throws {
        var done = 0
        while done < buffer.count {
            let n = try retrying("pwrite", "fd \(fd)") {
                Glibc.pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + Int64(done)))
            }
            done += n
        }
    }

    public static func ftruncate(_ fd: Int32, _ size: Int64) throws {
        _ = try retrying("ftruncate", "fd \(fd)") { Glibc.ftruncate(fd, off_t(size)) }
    }

    public static func fsync(_ fd: Int32) throws {
        _ = try retrying("fsync", "fd \(fd)") { Glibc.fsync(fd) }
    }

    public static func fdatasync(_ fd: Int32) throws {
        _ = try retrying("fdatasync", "fd \(fd)") { Glibc.fdatasync(fd) }
    }

    public static func fstat(_ fd: Int32) throws -> Glibc.stat {
        var st = Glibc.stat()
        _ = try retrying("fstat", "fd \(fd)") { Glibc.fstat(fd, &st) }
        return st
    }

    /// Nil when the path does not exist.
    public static func status(_ path: String) throws -> Glibc.stat? {
        var st = Glibc.stat()
        if Glibc.lstat(path, &st) == 0 { return st }
        if errno == ENOENT { return nil }
        throw SystemError("stat", path)
    }

    /// statvfs(2) of the filesystem holding `path`.
    public static func filesystemStatus(_ path: String) throws -> Glibc.statvfs {
        var figures = Glibc.statvfs()
        guard statvfs(path, &figures) == 0 else { throw SystemError("statvfs", path) }
        return figures
    }

    public static func rename(_ from: String, _ to: String) throws {
        _ = try retrying("rename", "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// Removes a file; a file already gone is not an error.
    public static func unlink(_ path: String) throws {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw SystemError("unlink", path) }
    }

    /// Creates a directory; one that exists already is not an error.
    public static func mkdir(_ path: String, _ mode: mode_t) throws {
        if Glibc.mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir", path) }
    }

    public static func chmod(_ path: String, _ mode: mode_t) throws {
        _ = try retrying("chmod", path) { Glibc.chmod(path, mode) }
    }

    public static func chown(_ path: String, _ uid: uid_t, _ gid: gid_t) throws {
        _ = try retrying("chown", path) { Glibc.chown(path, uid, gid) }
    }

    public static func fchown(_ fd: Int32, _ uid: uid_t, _ gid: gid_t) throws {
        _ = try retrying("fchown", "fd \(fd)") { Glibc.fchown(fd, uid, gid) }
    }

    public static func fchmod(_ fd: Int32, _ mode: mode_t) throws {
        _ = try retrying("fchmod", "fd \(fd)") { Glibc.fchmod(fd, mode) }
    }

    /// Copies `count` bytes from the start of `source` to the start of `target`, in the kernel.
    public static func copyFile(from source: Int32, to target: Int32, count: Int64) throws {
        // sendfile copies file to file inside the kernel (copy_file_range needs _GNU_SOURCE).
        var inOffset: off_t = 0
        while inOffset < count {
            let n = try retrying("sendfile", "fd \(source) -> fd \(target)") {
                Glibc.sendfile(target, source, &inOffset, Int(count - Int64(inOffset)))
            }
            if n == 0 { break }
        }
    }

    /// Copies the file at `source` to `target` (created, or emptied, with `mode`), in the
    /// kernel; a failed copy leaves no `target` behind.
    public static func copyFile(at source: String, to target: String, mode: mode_t) throws {
        let input = try open(source, O_RDONLY)
        defer { close(input) }
        let output = try open(target, O_WRONLY | O_CREAT | O_TRUNC, mode)
        do {
            try copyFile(from: input, to: output, count: Int64(try fstat(input).st_size))
            close(output)
        } catch {
            close(output)
            try? unlink(target)
            throw error
        }
    }

    /// `SEEK_HOLE` on Linux (the header hides it without _GNU_SOURCE).
    private static let seekHole: Int32 = 4

    /// The offset of the first hole at or after 0, or the file size when there is none.
    public static func firstHole(_ fd: Int32) throws -> Int64 {
        let offset = lseek(fd, 0, seekHole)
        if offset < 0 {
            if errno == ENXIO { return 0 }
            throw SystemError("lseek(SEEK_HOLE)", "fd \(fd)")
        }
        return Int64(offset)
    }

    /// Names in a directory, without `.` and `..`; empty when it does not exist.
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw SystemError("opendir", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Commits everything dirty on the filesystem holding `path` (one call for many files).
    public static func syncFilesystem(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        _ = try retrying("syncfs", path) { clinux_syncfs(fd) }
    }

    /// Whether process (or thread) `pid` is exiting: during an exit it has already released
    /// its memory, so `/proc/<pid>/statm` reads all zeros, or the process is gone. Without a
    /// descriptor to open it with (the daemon's are spent), the same question is asked without
    /// one (`hasAddressSpace`); nil when neither way can tell. Not a process: pid 0 and below.
    public static func processIsExiting(_ pid: Int32) -> Bool? {
        guard pid > 0 else { return false }
        let fd: Int32
        do {
            fd = try open("/proc/\(pid)/statm", O_RDONLY)
        } catch let error as SystemError where error.errno == ENOENT || error.errno == ESRCH {
            return true  // already gone
        } catch {
            return hasAddressSpace(pid).map { !$0 }
        }
        defer { close(fd) }
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let count = withUnsafeMutableBytes(of: &buffer) { (try? Sys.read(fd, $0)) ?? 0 }
        guard count > 0 else { return true }
        // "0 0 0 0 0 0 0\n": every field zero, so no digit other than '0' appears.
        return withUnsafeBytes(of: &buffer) { bytes in
            !bytes.prefix(count).contains { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }
        }
    }

    /// Whether process (or thread) `pid` still has an address space, asked without a file
    /// descriptor; nil when the kernel would not say.
    public static func hasAddressSpace(_ pid: Int32) -> Bool? {
        switch clinux_has_address_space(pid) {
        case 1: return true
        case 0: return false
        default: return nil
        }
    }

    public static func fsyncDirectory(_ path: String) throws {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd)
    }

    /// Reads what `fd` gives in one call, at its current offset (0: its end).
    public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try retrying("read", "fd \(fd)") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }
}

/// Pipes, sockets and whole writes, for the control channel, the command line and Ingest.
extension Sys {
    /// A pipe whose two ends are closed on exec.
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SystemError("pipe", "a new pipe") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Writes all of `buffer` at the descriptor's offset (a pipe, a socket or a file: a write
    /// may take part of it). `ready` runs before each write: for a non-blocking descriptor, a
    /// wait until it takes more (a write it refuses with EAGAIN is tried again after the next).
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, ready: () throws -> Void = {}) throws {
        var done = 0
        while done < buffer.count {
            try ready()
            do {
                done += try retrying("write", "fd \(fd)") { Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done) }
            } catch let error as SystemError where error.errno == EAGAIN {
                continue
            }
        }
    }

    /// Waits until one of `fds` is ready or `timeout` milliseconds pass (-1: no limit); the
    /// number ready.
    public static func poll(_ fds: inout [pollfd], timeout: Int32) throws -> Int {
        Int(try retrying("poll", "\(fds.count) descriptors") { Glibc.poll(&fds, nfds_t(fds.count), timeout) })
    }

    /// Accepts a connection on a listening socket; the new descriptor is closed on exec.
    public static func accept(_ fd: Int32) throws -> Int32 {
        let client = try retrying("accept", "fd \(fd)") { Glibc.accept(fd, nil, nil) }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        return client
    }
}

/// Descriptors and processes.
extension Sys {
    /// A second descriptor of the same open file, closed on exec: for work done on a file
    /// without its owner's lock, which may close the first one meanwhile.
    public static func duplicate(_ fd: Int32) throws -> Int32 {
        try retrying("fcntl(F_DUPFD_CLOEXEC)", "fd \(fd)") { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// `waitpid`: the pid whose status is in `status`, or 0 when `WNOHANG` found it running.
    public static func waitpid(_ pid: pid_t, _ status: inout Int32, _ options: Int32) throws -> pid_t {
        try retrying("waitpid", "pid \(pid)") { Glibc.waitpid(pid, &status, options) }
    }
}
