import EpochStore
import Foundation

/// A request to the running daemon over its control socket: one JSON line each way.
public enum ControlRequest: Codable, Sendable {
    case addDistrict(name: String, uid: UInt32, gid: UInt32)
    case removeDistrict(name: String, deleteData: Bool)
    case listDistricts
}

/// A district with what it holds, as `epochfs district list` shows it.
public struct DistrictSummary: Codable, Sendable {
    public var district: DistrictRecord
    public var files: Int64
    public var bytes: Int64
}

public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var message: String
    public var district: DistrictRecord?
    public var districts: [DistrictSummary]?

    public init(ok: Bool, message: String, district: DistrictRecord? = nil, districts: [DistrictSummary]? = nil) {
        self.ok = ok
        self.message = message
        self.district = district
        self.districts = districts
    }
}

extension FileSystem {
    /// Carries out a control request; the same code serves the socket and, when no daemon
    /// runs, the command line directly.
    public func perform(_ request: ControlRequest) -> ControlResponse {
        do {
            switch request {
            case .addDistrict(let name, let uid, let gid):
                let district = try addDistrict(name: name, uid: uid, gid: gid)
                return ControlResponse(ok: true, message: "district '\(name)' added (uid \(uid), gid \(gid))", district: district)
            case .removeDistrict(let name, let deleteData):
                try removeDistrict(name: name, deleteData: deleteData)
                return ControlResponse(ok: true, message: "district '\(name)' removed")
            case .listDistricts:
                let summaries = try districts().map { district in
                    let usage = try usage(of: district)
                    return DistrictSummary(district: district, files: usage.files, bytes: usage.bytes)
                }
                return ControlResponse(ok: true, message: "\(summaries.count) districts", districts: summaries)
            }
        } catch {
            return ControlResponse(ok: false, message: "\(error)")
        }
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
