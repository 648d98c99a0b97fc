#if canImport(Glibc)
import Glibc
#endif
import EpochStore
import SQLiteDatabase

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

    /// The errno of a failure the filesystem expects (a full disk or database, a file that is
    /// gone, a refused permission), or EIO for any other. Requests are answered through
    /// `FileSystem.errnoOf(_:)`, which also logs the failure.
    public init(_ error: any Error) {
        self = Self(expected: error) ?? .io
    }

    /// The errno of a failure the filesystem expects; nil for one it does not.
    init?(expected error: any Error) {
        switch error {
        case let errno as Errno: self = errno
        case let db as DatabaseError where db.isFull: self = .noSpace
        case let sys as SystemError:
            switch sys.errno {
            case ENOSPC, EDQUOT, ENOENT, EACCES, EPERM, EROFS: self = Errno(sys.errno)
            default: return nil
            }
        default: return nil
        }
    }
}

extension FileSystem {
    /// The one place where a failure becomes the errno a request is answered with. A refusal
    /// (an `Errno` thrown by the filesystem's own rules) is answered as it is. A failure of the
    /// store is logged, since the client sees only an errno and the operator must see what it
    /// was: an expected one (a full disk, a file of the store that is gone, a refused
    /// permission) keeps its errno; anything else is EIO.
    func errnoOf(_ error: any Error) -> Errno {
        if let refusal = error as? Errno { return refusal }
        guard let known = Errno(expected: error) else {
            logger.error("unexpected failure answered EIO", metadata: ["error": "\(error)"])
            return .io
        }
        logger.error("store operation failed", metadata: ["error": "\(error)", "errno": "\(known)"])
        return known
    }

    /// Runs `body`, turning any thrown store error into an errno (`errnoOf(_:)`).
    @inline(__always)
    func mapErrors<T>(_ body: () throws -> T) throws(Errno) -> T {
        do { return try body() } catch { throw errnoOf(error) }
    }
}
