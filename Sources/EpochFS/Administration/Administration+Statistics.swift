import EpochStore
import Foundation

/// What `epochfs stats` shows of one district.
public struct DistrictStatistics: Sendable, Codable {
    public var district: String
    /// Files below upload/ and upload-processed/.
    public var files: Int64
    /// Their sizes added up.
    public var logicalBytes: Int64
    /// The distinct blobs they name: what the district's files take on disk after dedup
    /// (a blob shared with another district counts for each).
    public var storedBytes: Int64
    /// Epochs by state (`receiving`, `published`, …).
    public var epochs: [String: Int]
}

/// What `epochfs stats` shows.
public struct StoreStatistics: Sendable, Codable {
    public var districts: [DistrictStatistics]
    /// Every blob in the store, counted once.
    public var blobs: Int64
    public var blobBytes: Int64
}

extension Administration {
    public func statistics() throws(Errno) -> StoreStatistics {
        try filesystem.locked { state in
            let meta = state.metadata
            let districts = try meta.districts().map { district in
                let usage = try meta.districtUsage(district)
                return DistrictStatistics(district: district.name, files: usage.files, logicalBytes: usage.bytes,
                                          storedBytes: try meta.districtStoredBytes(district),
                                          epochs: try meta.epochCounts(district: district.id))
            }
            let totals = try meta.blobTotals()
            return StoreStatistics(districts: districts, blobs: totals.count, blobBytes: totals.bytes)
        }
    }

    /// Writes the metrics file (through a temporary name: the node exporter never reads half).
    func writeMetrics(to path: String) throws {
        let (epochs, blobs, quotas) = try filesystem.withState { state in
            let quotas = state.quotas.values.filter { $0.limits.bytes != nil || $0.limits.files != nil }.sorted { $0.district < $1.district }
            return (try state.metadata.epochCounts(), try state.metadata.blobTotals(), quotas)
        }
        let text = filesystem.metrics.text(epochs: epochs, blobs: blobs, quotas: quotas)
        let temporary = path + ".tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        try Sys.chmod(temporary, 0o644)
        try Sys.rename(temporary, path)
    }
}
