import EpochStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Plain AF_UNIX stream sockets for the control channel.
enum UnixSocket {
    static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemError("socket", "path too long: \(path)", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    static func withSockaddr<T>(_ address: inout sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path) }
        var address = try address(path)
        let rc = withSockaddr(&address) { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else {
            let error = SystemError("connect", path)
            Sys.close(fd)
            throw error
        }
        return fd
    }

    /// A listening socket at `path`, root's alone (0600), or root's and `group`'s (0660): it
    /// is made 0600 and opened to the group before anyone can connect.
    static func listen(_ path: String, group: gid_t? = nil) throws -> Int32 {
        try Sys.unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", path) }
        var address = try address(path)
        let previous = umask(0o177)
        let rc = withSockaddr(&address) { Glibc.bind(fd, $0, $1) }
        umask(previous)
        do {
            guard rc == 0 else { throw SystemError("bind", path) }
            if let group {
                try Sys.chown(path, 0, group)
                try Sys.chmod(path, 0o660)
            }
            guard Glibc.listen(fd, 16) == 0 else { throw SystemError("listen", path) }
        } catch {
            Sys.close(fd)
            throw error
        }
        return fd
    }

    /// Reads up to the first newline (or end of stream), at most `limit` bytes. `ready` runs
    /// before each read: for a non-blocking descriptor, a wait until there is something to read
    /// (a read refused with EAGAIN is tried again after the next).
    static func readLine(_ fd: Int32, limit: Int = 1 << 20, ready: () throws -> Void = {}) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            try ready()
            let n: Int
            do {
                n = try onControlSocket { try buffer.withUnsafeMutableBytes { try Sys.read(fd, $0) } }
            } catch let error as SystemError where error.errno == EAGAIN {
                continue
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if buffer[0..<n].contains(0x0a) { break }
        }
        if let newline = data.firstIndex(of: 0x0a) { data = data[..<newline] }
        return data
    }

    static func writeAll(_ fd: Int32, _ data: Data) throws {
        try onControlSocket { try data.withUnsafeBytes { try Sys.writeAll(fd, $0) } }
    }

    /// The daemon's end of a connection: reads and writes that give up at a deadline, so that
    /// a peer that connects and goes quiet (or stops reading) cannot hold the one thread that
    /// answers every connection. ETIMEDOUT when the deadline passes.
    struct Connection {
        let fd: Int32
        let deadline: ContinuousClock.Instant

        /// Makes `fd` non-blocking: every wait is a poll bounded by the deadline.
        init(_ fd: Int32, timeout: Duration) {
            self.fd = fd
            self.deadline = .now + timeout
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        /// Up to the first newline (or end of stream), at most `limit` bytes.
        func readLine(limit: Int = 1 << 20) throws -> Data {
            try UnixSocket.readLine(fd, limit: limit) { try wait(for: POLLIN) }
        }

        func writeAll(_ data: Data) throws {
            try onControlSocket { try data.withUnsafeBytes { try Sys.writeAll(fd, $0) { try wait(for: POLLOUT) } } }
        }

        private func wait(for event: Int32) throws {
            let left = deadline - .now
            guard left > .zero else { throw SystemError("poll", "control socket", errno: ETIMEDOUT) }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var fds = [pollfd(fd: fd, events: Int16(event), revents: 0)]
            if try Sys.poll(&fds, timeout: milliseconds) == 0 {
                throw SystemError("poll", "control socket", errno: ETIMEDOUT)
            }
        }
    }

    /// Errors name the control socket, as the operator knows it, rather than a descriptor.
    private static func onControlSocket<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SystemError {
            throw SystemError(error.call, "control socket", errno: error.errno)
        }
    }

    /// The uid of the process at the other end.
    static func peerUID(_ fd: Int32) -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } via SO_PEERCRED (17 on Linux);
        // both are hidden from Swift without _GNU_SOURCE.
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        let soPeerCred: Int32 = 17
        guard getsockopt(fd, SOL_SOCKET, soPeerCred, &credentials, &length) == 0 else { return nil }
        return credentials.uid
    }
}
