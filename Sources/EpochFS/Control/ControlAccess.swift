import EpochStore
#if canImport(Glibc)
import Glibc
#endif

/// What the web console may ask the daemon on behalf of one of its accounts: a district's keys
/// and epochs, read and (keys) changed as a district admin may, and the districts' names. No
/// district, quota, processing, gc, backup or fsck request: those stay root's. Staff's
/// actions join as cases of their own, each with the role the web console must name for it,
/// checked by `ControlAccess` like everything else.
public enum WebRequest: Codable, Sendable, Equatable {
    /// The districts' names (for the operator's invitations and for staff).
    case listDistricts
    case listKeys(district: String)
    /// Keys as pasted: OpenSSH lines and RFC 4716 blocks. The daemon parses them itself and,
    /// like `epochfs keys add`, stores nothing unless every one is a good key.
    case addKeys(district: String, text: String)
    case removeKey(district: String, fingerprint: String)
    case listEpochs(district: String)
    /// One epoch, with its processing.json when it has been processed.
    case showEpoch(district: String, epoch: String)
    /// A published epoch's log and processing.json, as its directory in `upload-processed/`
    /// holds them (the web console never opens the mount).
    case epochReport(district: String, epoch: String)

    /// The district it names, if any: for the log.
    public var district: String? {
        switch self {
        case .listDistricts: nil
        case .listKeys(let district), .addKeys(let district, _), .removeKey(let district, _), .listEpochs(let district),
             .showEpoch(let district, _), .epochReport(let district, _):
            district
        }
    }

    /// Its name, for the log.
    public var name: String {
        switch self {
        case .listDistricts: "listDistricts"
        case .listKeys: "listKeys"
        case .addKeys: "addKeys"
        case .removeKey: "removeKey"
        case .listEpochs: "listEpochs"
        case .showEpoch: "showEpoch"
        case .epochReport: "epochReport"
        }
    }
}

/// A published epoch's report: what `upload-processed/<epoch>/` holds for a person and for
/// programs.
public struct EpochReport: Codable, Sendable {
    public var epoch: EpochSummary
    /// `processing-<outcome>.log`.
    public var logName: String
    public var log: String
    /// processing.json.
    public var result: String
}

/// Who may use the control socket, and for what. The socket is root's and, when the web
/// console's user exists, that user's group's (0660); the daemon checks every connection's
/// peer (`SO_PEERCRED`) as well: root may send every request; the web console's user only
/// `ControlRequest.web`; anyone else nothing.
public struct ControlAccess: Sendable, Equatable {
    /// The web console's unix user, when it exists.
    public struct WebUser: Sendable, Equatable {
        public var name: String
        public var uid: UInt32
        /// Its primary group: the socket's group.
        public var gid: UInt32

        /// The user of this name from the user database; nil if there is none, or if it is a
        /// root account (which may do everything anyway).
        public init?(named name: String) {
            guard let entry = getpwnam(name), entry.pointee.pw_uid != 0 else { return nil }
            self.init(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        }

        init(name: String, uid: UInt32, gid: UInt32) {
            (self.name, self.uid, self.gid) = (name, uid, gid)
        }
    }

    /// The process at the other end of a connection.
    public enum Peer: Sendable, Equatable {
        case root
        case web(uid: UInt32)
        /// Anyone else; nil when the kernel did not say.
        case stranger(uid: UInt32?)
    }

    public let webUser: WebUser?

    public init(webUser: WebUser?) {
        self.webUser = webUser
    }

    public func peer(uid: UInt32?) -> Peer {
        guard let uid else { return .stranger(uid: nil) }
        if uid == 0 { return .root }
        // A web user of uid 0 would be root anyway.
        if let webUser, uid == webUser.uid { return .web(uid: uid) }
        return .stranger(uid: uid)
    }

    /// Nil when `peer` may send `request`; otherwise why not, for the peer to read.
    public func refusal(of request: ControlRequest, from peer: Peer) -> String? {
        switch peer {
        case .root:
            return nil
        case .web:
            if case .web = request { return nil }
            return "the web console's user may send only web requests; this one needs root (run epochfs as root on the server)"
        case .stranger:
            return refusal(ofConnectionFrom: peer)
        }
    }

    /// Nil when `peer` may send anything at all; otherwise why not. A stranger is refused
    /// before its request is read.
    public func refusal(ofConnectionFrom peer: Peer) -> String? {
        guard case .stranger(let uid) = peer else { return nil }
        let who = uid.map { "uid \($0)" } ?? "a process whose uid the kernel did not give"
        let web = webUser.map { " and the web console's user (\($0.name))" } ?? ""
        return "the control socket serves root\(web) only; \(who) may not use it"
    }

    /// Whether a user of `uid` and `gid` may search (pass through) a directory with this owner
    /// and mode: the control socket must be reachable through the store's directories.
    public static func maySearch(owner: UInt32, group: UInt32, mode: UInt32, uid: UInt32, gid: UInt32) -> Bool {
        if uid == owner { return mode & 0o100 != 0 }
        if gid == group { return mode & 0o010 != 0 }
        return mode & 0o001 != 0
    }
}
