import EpochStore
import Logging

/// A refused administrative request, with what to do about it.
public struct AdminError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What staff do to a served store: districts, their keys and quotas, statistics, garbage
/// collection, backups, the metadata side of fsck, the metrics file and the control requests.
/// The command line (directly, when no daemon runs), the control socket and the web console
/// all call this, so each rule lives here once.
///
/// It holds no state of its own: it reaches the filesystem's under the filesystem's lock
/// (`FileSystem.withState` and `locked`), so that a district added here is served at once.
public struct Administration: Sendable {
    let filesystem: FileSystem

    public init(_ filesystem: FileSystem) {
        self.filesystem = filesystem
    }

    var logger: Logger { filesystem.logger }

    /// District names become unix user names and sshd chroot paths: keep to what `useradd` takes.
    public static func validateDistrictName(_ name: String) throws(AdminError) {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d  // a-z 0-9 _ -
        }
        guard !name.isEmpty, name.utf8.count <= 32, allowed, let first = name.utf8.first,
              (first >= 0x61 && first <= 0x7a) || first == 0x5f else {
            throw AdminError("invalid district name '\(name)': use 1-32 characters a-z, 0-9, '_' or '-', starting with a letter or '_' (it is also the unix user name)")
        }
    }
}
