#if canImport(Glibc)
import Glibc
#endif
import EpochStore

/// A POSIX error number, as the kernel receives it.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let notPermitted = Errno(EPERM)
    public static let noEntry = Errno(ENOENT)
    public static let io = Errno(EIO)
    public static let badHandle = Errno(EBADF)
    public static let accessDenied = Errno(EACCES)
    public static let exists = Errno(EEXIST)
    public static let crossDevice = Errno(EXDEV)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let invalid = Errno(EINVAL)
    public static let noSpace = Errno(ENOSPC)
    public static let nameTooLong = Errno(ENAMETOOLONG)
    public static let notEmpty = Errno(ENOTEMPTY)
    public static let noData = Errno(ENODATA)
    public static let notSupported = Errno(EOPNOTSUPP)
    public static let range = Errno(ERANGE)
    public static let quotaExceeded = Errno(EDQUOT)
    public static let textBusy = Errno(ETXTBSY)
    public static let fileTooLarge = Errno(EFBIG)
    public static let tooManyOpenFiles = Errno(EMFILE)
    public static let illegalSequence = Errno(EILSEQ)

    public var description: String { String(cString: strerror(rawValue)) }

    /// The one place where store failures become an errno. Unknown failures are EIO.
    public init(_ error: any Error) {
        switch error {
        case let errno as Errno: self = errno
        case let db as DatabaseError: self = db.isFull ? .noSpace : .io
        case let sys as SystemError:
            switch sys.errno {
            case ENOSPC, EDQUOT, ENOENT, EACCES, EPERM, EROFS: self = Errno(sys.errno)
            default: self = .io
            }
        default: self = .io
        }
    }
}

/// Runs `body`, turning any thrown store error into an errno (logged by the caller's layer).
@inline(__always)
func mapErrors<T>(_ body: () throws -> T) throws(Errno) -> T {
    do { return try body() } catch { throw Errno(error) }
}
