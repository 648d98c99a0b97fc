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

/// Carries out a state-changing request, through the daemon when one serves the store.
func perform(_ request: ControlRequest, store: String, logger: Logger) throws -> ControlResponse {
    let paths = StorePaths(root: store)
    if let lock = try DaemonLock(paths: paths) {
        let fs = try FileSystem(storeRoot: store, staffGID: 0, keysGroup: keysGroupID(), logger: logger)
        let response = fs.perform(request)
        withExtendedLifetime(lock) {}
        return response
    }
    do {
        return try ControlClient.send(request, socket: paths.controlSocket)
    } catch {
        throw CommandError("the epochfs daemon serving \(store) holds its lock but does not answer on \(paths.controlSocket) (\(error)): check that it is running (systemctl status epochfs) or restart it")
    }
}
