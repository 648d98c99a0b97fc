import EpochStore
import Foundation
import SSHKeys

/// A request to the running daemon over its control socket: one JSON line each way.
public enum ControlRequest: Codable, Sendable {
    case addDistrict(name: String, uid: UInt32, gid: UInt32, managedUser: Bool)
    case removeDistrict(name: String, deleteData: Bool)
    /// Sets a district's quota; a nil limit is left as it is.
    case setQuota(district: String, bytes: QuotaLimit?, files: QuotaLimit?)
    case listDistricts
    case addKeys(district: String, keys: [StoredKey])
    case listKeys(district: String)
    case removeKey(district: String, fingerprint: String)
    case listEpochs(district: String?, state: EpochState?)
    case showEpoch(district: String, epoch: String)
    case processEpoch(district: String, epoch: String, profile: String?)
    case reprocessEpoch(district: String, epoch: String)
    case statistics
    case collectGarbage
    case integritySnapshot
    case describeFindings([IntegrityFinding])
    case backup(destination: String)
    /// What the web console asks on behalf of one of its accounts (the name it signs in
    /// with), logged with it. The only request the web console's user may send.
    case web(account: String, WebRequest)
}

extension ControlRequest {
    /// Its name, for the log (never its arguments: a web request may hold a pasted key).
    public var name: String {
        switch self {
        case .addDistrict: "addDistrict"
        case .removeDistrict: "removeDistrict"
        case .setQuota: "setQuota"
        case .listDistricts: "listDistricts"
        case .addKeys: "addKeys"
        case .listKeys: "listKeys"
        case .removeKey: "removeKey"
        case .listEpochs: "listEpochs"
        case .showEpoch: "showEpoch"
        case .processEpoch: "processEpoch"
        case .reprocessEpoch: "reprocessEpoch"
        case .statistics: "statistics"
        case .collectGarbage: "collectGarbage"
        case .integritySnapshot: "integritySnapshot"
        case .describeFindings: "describeFindings"
        case .backup: "backup"
        case .web(_, let request): "web." + request.name
        }
    }
}

/// An epoch as `epochfs epochs list` and `show` present it.
public struct EpochSummary: Codable, Sendable {
    public var district: String
    public var epoch: EpochRecord
    /// What an unsealed epoch is waiting for (while the daemon runs).
    public var waiting: String?
}

/// A district with what it holds, as `epochfs district list` shows it.
public struct DistrictSummary: Codable, Sendable {
    public var district: DistrictRecord
    /// Files and bytes below upload/ and upload-processed/.
    public var files: Int64
    public var bytes: Int64
    /// What it holds in upload/, as its quota counts it.
    public var upload: MetadataStore.UploadUsage?
}

public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var message: String
    public var district: DistrictRecord?
    public var districts: [DistrictSummary]?
    public var keys: [StoredKey]?
    public var epochs: [EpochSummary]?
    public var statistics: StoreStatistics?
    public var garbage: GarbageReport?
    public var integrity: IntegritySnapshot?
    public var findings: [IntegrityFinding]?
    public var backup: StoreBackup.Report?
    /// Why a request failed, for programs (the web console): nil when it succeeded or when
    /// only `message` says.
    public var code: Code?
    /// Every refused line of a paste (`WebRequest.addKeys`), with its reason; never its text.
    public var keyProblems: [KeyProblem]?
    /// `WebRequest.listDistricts`.
    public var districtNames: [String]?
    /// `WebRequest.epochReport`.
    public var report: EpochReport?

    public enum Code: String, Codable, Sendable {
        /// The peer may not send this request.
        case forbidden
        /// No such district, epoch or key: the same answer for each, so that an answer never
        /// says whether a district exists.
        case notFound
        /// Not a request, or not a well-formed one.
        case badRequest
        /// Pasted keys were refused (see `keyProblems`); nothing was stored.
        case keysRefused
    }

    public init(ok: Bool, message: String, code: Code? = nil, district: DistrictRecord? = nil, districts: [DistrictSummary]? = nil,
                keys: [StoredKey]? = nil, epochs: [EpochSummary]? = nil, statistics: StoreStatistics? = nil) {
        self.ok = ok
        self.message = message
        self.code = code
        self.district = district
        self.districts = districts
        self.keys = keys
        self.epochs = epochs
        self.statistics = statistics
    }
}

extension Administration {
    /// Carries out a control request; the same code serves the socket and, when no daemon
    /// runs, the command line directly.
    public func perform(_ request: ControlRequest) -> ControlResponse {
        do {
            switch request {
            case .addDistrict(let name, let uid, let gid, let managedUser):
                let district = try addDistrict(name: name, uid: uid, gid: gid, managedUser: managedUser)
                return ControlResponse(ok: true, message: "district '\(name)' added (uid \(uid), gid \(gid))", district: district)
            case .removeDistrict(let name, let deleteData):
                let district = try removeDistrict(name: name, deleteData: deleteData)
                return ControlResponse(ok: true, message: "district '\(name)' removed", district: district)
            case .setQuota(let name, let bytes, let files):
                let (district, used) = try setQuota(of: name, bytes: bytes, files: files)
                return ControlResponse(ok: true, message: Self.describeQuota(of: district, used: used), district: district)
            case .listDistricts:
                let upload = quotaUsage()
                let summaries = try districts().map { district in
                    let usage = try usage(of: district)
                    return DistrictSummary(district: district, files: usage.files, bytes: usage.bytes, upload: upload[district.id])
                }
                return ControlResponse(ok: true, message: "\(summaries.count) districts", districts: summaries)
            case .addKeys(let district, let keys):
                let added = try addKeys(keys, to: district)
                return ControlResponse(ok: true, message: Self.describeAdded(added, of: keys.count, to: district), keys: added)
            case .listKeys(let district):
                let keys = try keys(of: district)
                return ControlResponse(ok: true, message: "\(keys.count) keys", keys: keys)
            case .removeKey(let district, let fingerprint):
                let key = try removeKey(fingerprint: fingerprint, from: district)
                return ControlResponse(ok: true, message: "removed key \(key.fingerprint) from '\(district)'; the next login with it fails", keys: [key])
            case .listEpochs(let district, let epochState):
                let summaries = try epochSummaries(district: district, state: epochState)
                return ControlResponse(ok: true, message: "\(summaries.count) epochs", epochs: summaries)
            case .showEpoch(let district, let epoch):
                let summary = try epochSummary(district: district, epoch: epoch)
                return ControlResponse(ok: true, message: summary.epoch.state.rawValue, epochs: [summary])
            case .processEpoch(let district, let epoch, let profile):
                let summary = try epochSummary(district: district, epoch: epoch)
                let record = try releaseEpoch(summary.epoch.ino, profile: profile)
                return ControlResponse(ok: true, message: "\(district)/\(epoch) is queued for processing"
                                       + (profile.map { " with profile \($0)" } ?? ""),
                                       epochs: [EpochSummary(district: district, epoch: record)])
            case .statistics:
                return ControlResponse(ok: true, message: "statistics", statistics: try statistics())
            case .collectGarbage:
                var response = ControlResponse(ok: true, message: "garbage collected")
                response.garbage = try collectGarbage()
                return response
            case .integritySnapshot:
                var response = ControlResponse(ok: true, message: "snapshot")
                response.integrity = try integritySnapshot()
                return response
            case .backup(let destination):
                var response = ControlResponse(ok: true, message: "backup written to \(destination)")
                response.backup = try backup(to: destination)
                return response
            case .describeFindings(let findings):
                var response = ControlResponse(ok: true, message: "described")
                response.findings = try describe(findings)
                return response
            case .reprocessEpoch(let district, let epoch):
                let summary = try epochSummary(district: district, epoch: epoch)
                let record = summary.epoch.state == .published
                    ? try reprocessEpoch(summary.epoch.ino) : try releaseEpoch(summary.epoch.ino, profile: nil)
                return ControlResponse(ok: true, message: "\(district)/\(epoch) is queued to be processed again",
                                       epochs: [EpochSummary(district: district, epoch: record)])
            case .web(_, let request):
                return perform(request)
            }
        } catch {
            return ControlResponse(ok: false, message: "\(error)")
        }
    }
}

extension Administration {
    /// `added 2 keys to 'x' (1 already present); they work from the next login`.
    static func describeAdded(_ added: [StoredKey], of count: Int, to district: String) -> String {
        let present = count - added.count
        return "added \(added.count) key\(added.count == 1 ? "" : "s") to '\(district)'"
            + (present > 0 ? " (\(present) already present)" : "") + "; they work from the next login"
    }
}

/// The store's well-known files.
public struct StorePaths: Sendable {
    public let root: String
    public init(root: String) { self.root = root }
    public var controlSocket: String { root + "/control.sock" }
    public var daemonLock: String { root + "/daemon.lock" }
    public var metadata: String { root + "/metadata.db" }
    public var daemonLog: String { root + "/epochfs.log" }
}
