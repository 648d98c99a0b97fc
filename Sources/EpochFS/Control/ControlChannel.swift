import EpochStore
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's end of the control socket: a thread that answers one request per connection.
/// Root may send every request; the web console's user (when it exists) only web requests;
/// nobody else anything (`ControlAccess`). The socket is 0600 root, or 0660 root and the web
/// user's group, in the store directory (0711); the peer's uid is checked on every connection.
/// Each connection has `timeout` to send its request and take its answer. Root's connections
/// are served on the control thread; every other peer's on a thread of its own, at most
/// `maxGuests` at a time, so that a silent or slow web peer holds up nobody but itself. One
/// request is carried out at a time, whoever sent it.
public final class ControlServer: Sendable {
    private let listenFD: Int32
    private let wakePipe: (read: Int32, write: Int32)
    private let administration: Administration
    private let access: ControlAccess
    private let timeout: Duration
    private let path: String
    private let logger: Logger
    private let thread = Mutex<pthread_t?>(nil)
    /// Connections of peers other than root being served, on threads of their own.
    private let guests = Atomic<Int>(0)
    /// How many such connections are served at once; more are closed at once.
    static let maxGuests = 4
    /// Taken while a request is carried out.
    private let performing = Mutex(())

    public init(path: String, administration: Administration, access: ControlAccess = ControlAccess(webUser: nil),
                timeout: Duration = .seconds(5), logger: Logger) throws {
        self.listenFD = try UnixSocket.listen(path, group: access.webUser?.gid)
        self.wakePipe = try Sys.pipe()
        self.administration = administration
        self.access = access
        self.timeout = timeout
        self.path = path
        self.logger = logger
        if let webUser = access.webUser {
            if let blocked = Self.firstUnsearchable(above: path, for: webUser) {
                logger.warning("the web console's user cannot reach the control socket: \(blocked) does not let it through (chmod o+x, or give it to that user's group)",
                               metadata: ["web.user": "\(webUser.name)", "socket": "\(path)"])
            } else {
                logger.notice("control socket open to the web console's user", metadata: [
                    "web.user": "\(webUser.name)", "web.uid": "\(webUser.uid)", "socket": "\(path)"])
            }
        }
    }

    /// The first directory on the way to `path` that `user` may not pass through, if any.
    private static func firstUnsearchable(above path: String, for user: ControlAccess.WebUser) -> String? {
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var directories = [String]()
        while true {
            directories.append(directory.path)
            if directory.path == "/" { break }
            directory.deleteLastPathComponent()
        }
        return directories.reversed().first { directory in
            guard let st = try? Sys.status(directory) else { return true }
            return !ControlAccess.maySearch(owner: st.st_uid, group: st.st_gid, mode: st.st_mode, uid: user.uid, gid: user.gid)
        }
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
        // A guest's thread ends within its deadlines; the store must outlive it.
        while guests.load(ordering: .acquiring) > 0 { usleep(10_000) }
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
            let uid = UnixSocket.peerUID(client)
            if uid == 0 {
                handle(client, uid: uid)
                Sys.close(client)
                continue
            }
            guard guests.add(1, ordering: .acquiringAndReleasing).newValue <= Self.maxGuests else {
                guests.subtract(1, ordering: .acquiringAndReleasing)
                logger.warning("control connection closed: \(Self.maxGuests) of peers other than root are being served already",
                               metadata: ["peer.uid": "\(uid.map(String.init) ?? "?")"])
                Sys.close(client)
                continue
            }
            DispatchQueue.global().async { [self] in
                handle(client, uid: uid)
                Sys.close(client)
                guests.subtract(1, ordering: .acquiringAndReleasing)
            }
        }
    }

    private func handle(_ client: Int32, uid: UInt32?) {
        let peer = access.peer(uid: uid)
        let line: Data
        do {
            // Read even from a peer that is refused: closing on a request not yet read could
            // cost it the answer that says why.
            line = try UnixSocket.Connection(client, timeout: timeout).readLine()
        } catch let error as SystemError where error.errno == ETIMEDOUT {
            logger.warning("control connection sent no request in time; closed",
                           metadata: ["peer.uid": "\(uid.map(String.init) ?? "?")", "timeout": "\(timeout)"])
            return
        } catch {
            logger.warning("control connection failed", metadata: ["peer.uid": "\(uid.map(String.init) ?? "?")", "error": "\(error)"])
            return
        }
        // A connection closed unused: `ControlClient.answers` asking whether a daemon listens.
        if line.isEmpty { return }
        let response: ControlResponse
        if let refusal = access.refusal(ofConnectionFrom: peer) {
            response = ControlResponse(ok: false, message: refusal, code: .forbidden)
            logger.warning("control connection refused", metadata: ["peer.uid": "\(uid.map(String.init) ?? "?")"])
        } else if let request = try? JSONDecoder().decode(ControlRequest.self, from: line) {
            response = answer(request, from: peer, uid: uid ?? 0)
        } else {
            // Not the request's text: a web request may hold a pasted key.
            response = ControlResponse(ok: false, message: "bad control request: not one JSON line of a known request", code: .badRequest)
        }
        respond(response, on: client)
    }

    private func answer(_ request: ControlRequest, from peer: ControlAccess.Peer, uid: UInt32) -> ControlResponse {
        if let refusal = access.refusal(of: request, from: peer) {
            logger.warning("control request refused", metadata: ["peer.uid": "\(uid)", "request": "\(request.name)"])
            return ControlResponse(ok: false, message: refusal, code: .forbidden)
        }
        guard case .web(let account, let web) = request else { return performing.withLock { _ in administration.perform(request) } }
        // Bytes, not characters: one character may pile up any number of combining marks, and
        // the account is written into every log line of the request.
        guard !account.isEmpty, account.utf8.count <= 320, !account.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            logger.warning("web request refused: no valid account named", metadata: ["peer.uid": "\(uid)", "request": "\(web.name)"])
            return ControlResponse(ok: false, message: "bad web request: name the account it is made for (1-320 bytes, printable)",
                                   code: .badRequest)
        }
        let response = performing.withLock { _ in administration.perform(web) }
        var metadata: Logger.Metadata = ["web.account": "\(account)", "peer.uid": "\(uid)", "request": "\(web.name)",
                                         "ok": "\(response.ok)"]
        if let district = web.district { metadata["district"] = "\(district)" }
        if let code = response.code { metadata["code"] = "\(code.rawValue)" }
        logger.notice("web request", metadata: metadata)
        return response
    }

    /// The answer has `timeout` of its own: a request may take long (a backup).
    private func respond(_ response: ControlResponse, on client: Int32) {
        guard var data = try? JSONEncoder().encode(response) else { return }
        data.append(0x0a)
        do {
            try UnixSocket.Connection(client, timeout: timeout).writeAll(data)
        } catch {
            logger.warning("control answer not delivered", metadata: ["error": "\(error)"])
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
        // An answer may carry processing.json and a log: more than a request may.
        let line = try UnixSocket.readLine(fd, limit: 64 << 20)
        return try JSONDecoder().decode(ControlResponse.self, from: line)
    }

    /// Whether a daemon listens on the socket (a connection is accepted; nothing is sent).
    public static func answers(socket path: String) -> Bool {
        guard let fd = try? UnixSocket.connect(path) else { return false }
        Sys.close(fd)
        return true
    }
}
