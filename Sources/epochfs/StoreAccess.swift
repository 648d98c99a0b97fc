import EpochFS
import EpochStore
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The daemon holds an exclusive lock on `daemon.lock` while it serves a store. A command
/// that changes state asks the daemon over the control socket when the lock is taken, and
/// otherwise takes the lock itself and changes the store directly.
final class DaemonLock {
    private let fd: Int32

    /// Nil when another process (the daemon) holds the lock.
    init?(paths: StorePaths) throws {
        try Sys.mkdir(paths.root, 0o711)
        let fd = try Sys.open(paths.daemonLock, O_RDWR | O_CREAT, 0o600)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            Sys.close(fd)
            if errno == EWOULDBLOCK { return nil }
            throw SystemError("flock", paths.daemonLock)
        }
        self.fd = fd
    }

    deinit { Sys.close(fd) }
}

/// Who may work on a store now: this command, holding the lock (no daemon serves it), or the
/// daemon, through its control socket.
enum StoreAccess {
    case direct(DaemonLock)
    case daemon

    /// A daemon that holds the lock but does not answer on its control socket is starting or
    /// stopping: right after `fusermount3 -u`, what an operator runs next (`epochfs fsck`) finds
    /// it still writing its last state. Waits, up to `seconds`, for the lock to be free or the
    /// socket to answer.
    static func acquire(_ paths: StorePaths, waiting seconds: Double = 30) throws -> StoreAccess {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let lock = try DaemonLock(paths: paths) { return .direct(lock) }
            if ControlClient.answers(socket: paths.controlSocket) { return .daemon }
            guard Date() < deadline else {
                throw CommandError("the epochfs daemon serving \(paths.root) holds its lock but has not answered on \(paths.controlSocket) "
                                   + "for \(Int(seconds)) s: it is hung, or still shutting down; check systemctl status epochfs, then try again")
            }
            usleep(100_000)
        }
    }
}

/// Carries out a state-changing request, through the daemon when one serves the store.
func perform(_ request: ControlRequest, store: String, logger: Logger) throws -> ControlResponse {
    let paths = StorePaths(root: store)
    if case .direct(let lock) = try StoreAccess.acquire(paths) {
        let fs = try FileSystem(storeRoot: store, staffGID: 0, keysGroup: keysGroupID(), logger: logger)
        let response = Administration(fs).perform(request)
        withExtendedLifetime(lock) {}
        return response
    }
    do {
        return try ControlClient.send(request, socket: paths.controlSocket)
    } catch {
        throw CommandError("the epochfs daemon serving \(store) holds its lock but does not answer on \(paths.controlSocket) (\(error)): check that it is running (systemctl status epochfs) or restart it")
    }
}
