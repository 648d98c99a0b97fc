import EpochStore
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's end of the control socket: a thread that answers one request per connection.
/// Only root may connect (the socket is 0600 in the root-only store directory, and the
/// peer's uid is checked as well).
public final class ControlServer: Sendable {
    private let listenFD: Int32
    private let wakePipe: (read: Int32, write: Int32)
    private let administration: Administration
    private let path: String
    private let logger: Logger
    private let thread = Mutex<pthread_t?>(nil)

    public init(path: String, administration: Administration, logger: Logger) throws {
        self.listenFD = try UnixSocket.listen(path)
        self.wakePipe = try Sys.pipe()
        self.administration = administration
        self.path = path
        self.logger = logger
    }

    public func start() throws {
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let server = Unmanaged<ControlServer>.fromOpaque(raw!).takeRetainedValue()
            server.serve()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<ControlServer>.fromOpaque(context).release()
            throw SystemError("pthread_create", "control", errno: rc)
        }
        thread.withLock { $0 = tid }
    }

    public func stop() {
        [UInt8(ascii: "x")].withUnsafeBytes { try? Sys.writeAll(wakePipe.write, $0) }
        if let tid = thread.withLock({ $0 }) { pthread_join(tid, nil) }
        Sys.close(listenFD)
        Sys.close(wakePipe.read)
        Sys.close(wakePipe.write)
        try? Sys.unlink(path)
    }

    private func serve() {
        while true {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
            guard (try? Sys.poll(&fds, timeout: -1)) != nil, fds[1].revents == 0 else { return }
            let client: Int32
            do {
                client = try Sys.accept(listenFD)
            } catch let error as SystemError {
                // Out of descriptors, the connection stays queued and poll says so at once:
                // wait a little instead of spinning on it.
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errno) { usleep(100_000) }
                continue
            } catch {
                continue
            }
            handle(client)
            Sys.close(client)
        }
    }

    private func handle(_ client: Int32) {
        let response: ControlResponse
        if UnixSocket.peerUID(client) != 0 {
            response = ControlResponse(ok: false, message: "only root may change the filesystem's state")
        } else {
            do {
                let line = try UnixSocket.readLine(client)
                let request = try JSONDecoder().decode(ControlRequest.self, from: line)
                response = administration.perform(request)
            } catch {
                response = ControlResponse(ok: false, message: "bad control request: \(error)")
            }
        }
        if var data = try? JSONEncoder().encode(response) {
            data.append(0x0a)
            try? UnixSocket.writeAll(client, data)
        }
    }
}

/// The command line's end of the control socket.
public enum ControlClient {
    public static func send(_ request: ControlRequest, socket path: String) throws -> ControlResponse {
        let fd = try UnixSocket.connect(path)
        defer { Sys.close(fd) }
        var data = try JSONEncoder().encode(request)
        data.append(0x0a)
        try UnixSocket.writeAll(fd, data)
        let line = try UnixSocket.readLine(fd)
        return try JSONDecoder().decode(ControlResponse.self, from: line)
    }

    /// Whether a daemon listens on the socket (a connection is accepted; nothing is sent).
    public static func answers(socket path: String) -> Bool {
        guard let fd = try? UnixSocket.connect(path) else { return false }
        Sys.close(fd)
        return true
    }
}
