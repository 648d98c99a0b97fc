import Glibc

/// A POSIX error number, printed by name so that a failed expectation reads `EACCES`, not `13`.
struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    let code: Int32

    init(_ code: Int32) { self.code = code }

    static var current: Errno { Errno(Glibc.errno) }

    static let EPERM = Errno(Glibc.EPERM)
    static let ENOENT = Errno(Glibc.ENOENT)
    static let EIO = Errno(Glibc.EIO)
    static let EBADF = Errno(Glibc.EBADF)
    static let EACCES = Errno(Glibc.EACCES)
    static let EBUSY = Errno(Glibc.EBUSY)
    static let EEXIST = Errno(Glibc.EEXIST)
    static let EXDEV = Errno(Glibc.EXDEV)
    static let ENOTDIR = Errno(Glibc.ENOTDIR)
    static let EISDIR = Errno(Glibc.EISDIR)
    static let EINVAL = Errno(Glibc.EINVAL)
    static let ENOSPC = Errno(Glibc.ENOSPC)
    static let EROFS = Errno(Glibc.EROFS)
    static let ENAMETOOLONG = Errno(Glibc.ENAMETOOLONG)
    static let ENOSYS = Errno(Glibc.ENOSYS)
    static let ENOTEMPTY = Errno(Glibc.ENOTEMPTY)
    static let ENODATA = Errno(Glibc.ENODATA)
    static let EOPNOTSUPP = Errno(Glibc.EOPNOTSUPP)
    static let ENOTCONN = Errno(Glibc.ENOTCONN)
    static let EDQUOT = Errno(Glibc.EDQUOT)
    static let ETXTBSY = Errno(Glibc.ETXTBSY)
    static let EILSEQ = Errno(Glibc.EILSEQ)
    /// Not an errno: the call could not be made at all (recorded as an issue where it happened).
    static let didNotRun = Errno(-1)

    var name: String { Self.names[code] ?? "errno \(code)" }

    var description: String {
        self == .didNotRun ? "the call did not run" : "\(name) (\(String(cString: strerror(code))))"
    }

    private static let names: [Int32: String] = [
        Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.EIO: "EIO", Glibc.EBADF: "EBADF",
        Glibc.EACCES: "EACCES", Glibc.EBUSY: "EBUSY", Glibc.EEXIST: "EEXIST", Glibc.EXDEV: "EXDEV",
        Glibc.ENOTDIR: "ENOTDIR", Glibc.EISDIR: "EISDIR", Glibc.EINVAL: "EINVAL",
        Glibc.ENOSPC: "ENOSPC", Glibc.EROFS: "EROFS", Glibc.ENAMETOOLONG: "ENAMETOOLONG",
        Glibc.ENOSYS: "ENOSYS", Glibc.ENOTEMPTY: "ENOTEMPTY", Glibc.ENODATA: "ENODATA",
        Glibc.EOPNOTSUPP: "EOPNOTSUPP", Glibc.ENOTCONN: "ENOTCONN", Glibc.EFAULT: "EFAULT",
        Glibc.ERANGE: "ERANGE", Glibc.EMLINK: "EMLINK", Glibc.EFBIG: "EFBIG",
        Glibc.ESTALE: "ESTALE", Glibc.EAGAIN: "EAGAIN", Glibc.EINTR: "EINTR", Glibc.EDQUOT: "EDQUOT",
        Glibc.ETXTBSY: "ETXTBSY", Glibc.EILSEQ: "EILSEQ",
    ]
}

/// A system call that failed: what was called on what, and its errno.
struct SystemCallError: Error, CustomStringConvertible {
    let call: String
    let errno: Errno

    var description: String { "\(call): \(errno)" }
}

/// Runs a call that returns -1 and sets errno on failure, and throws that failure.
@discardableResult
func sys<T: BinaryInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws -> T {
    let result = body()
    if result == -1 {
        let error = Errno.current
        throw SystemCallError(call: call(), errno: error)
    }
    return result
}

/// The errno of a call that is expected to fail, or nil when it succeeded.
func errnoOf<T: BinaryInteger>(_ body: () -> T) -> Errno? {
    body() == -1 ? .current : nil
}

/// The errno of `open`, or nil when it succeeded (the descriptor is closed again).
func openErrno(_ path: String, _ flags: Int32, _ mode: mode_t = 0o644) -> Errno? {
    let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
    if fd < 0 { return .current }
    Glibc.close(fd)
    return nil
}

/// The errno of `stat`, or nil when the path exists.
func statErrno(_ path: String) -> Errno? {
    var st = Glibc.stat()
    return errnoOf { fstatat(AT_FDCWD, path, &st, 0) }
}

/// The errno of `getxattr`, or nil when the attribute exists.
func getxattrErrno(_ path: String, _ name: String) -> Errno? {
    do {
        _ = try LinuxCalls.getxattr(path, name)
        return nil
    } catch let error as SystemCallError {
        return error.errno
    } catch {
        return .didNotRun
    }
}

let RENAME_NOREPLACE: UInt32 = 1
let RENAME_EXCHANGE: UInt32 = 2
let UTIME_NOW = (1 << 30) - 1
let UTIME_OMIT = (1 << 30) - 2

/// glibc functions that Swift's Glibc module does not export, reached through `dlsym`.
enum LinuxCalls {
    private typealias Renameat2 = @convention(c) (
        Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32
    ) -> Int32
    private typealias GetXattr = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int
    ) -> Int
    private typealias SetXattr = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32
    ) -> Int32
    private typealias ListXattr = @convention(c) (
        UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int
    ) -> Int

    private static func function<T>(_ name: String, as type: T.Type) -> T {
        guard let symbol = dlsym(nil, name) else { fatalError("glibc has no \(name)") }
        return unsafeBitCast(symbol, to: type)
    }

    /// `renameat2(AT_FDCWD, from, AT_FDCWD, to, flags)`: 0, or -1 with errno set.
    static func renameat2(_ from: String, _ to: String, _ flags: UInt32) -> Int32 {
        function("renameat2", as: Renameat2.self)(AT_FDCWD, from, AT_FDCWD, to, flags)
    }

    /// The value of an extended attribute.
    static func getxattr(_ path: String, _ name: String) throws -> [UInt8] {
        let call = function("getxattr", as: GetXattr.self)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try sys("getxattr \(path) \(name)") {
            buffer.withUnsafeMutableBytes { call(path, name, $0.baseAddress, $0.count) }
        }
        return Array(buffer[..<count])
    }

    /// `setxattr`: 0, or -1 with errno set.
    static func setxattr(_ path: String, _ name: String, _ value: [UInt8], _ flags: Int32 = 0) -> Int32 {
        let call = function("setxattr", as: SetXattr.self)
        return value.withUnsafeBytes { call(path, name, $0.baseAddress, $0.count, flags) }
    }

    /// The names `listxattr` reports.
    static func listxattr(_ path: String) throws -> [String] {
        let call = function("listxattr", as: ListXattr.self)
        var buffer = [CChar](repeating: 0, count: 65536)
        let count = try sys("listxattr \(path)") { call(path, &buffer, buffer.count) }
        return buffer[..<count].split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

extension timespec {
    var nanoseconds: Int64 { Int64(tv_sec) * 1_000_000_000 + Int64(tv_nsec) }

    static var now: timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }
}

/// The minor number of a device number, as glibc's `minor()` computes it.
func deviceMinor(_ device: dev_t) -> UInt64 {
    let device = UInt64(device)
    return (device & 0xff) | ((device >> 12) & 0xffff_ff00)
}
