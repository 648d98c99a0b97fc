#if canImport(Glibc)
import Glibc
#endif

/// `epochfs backup DEST`: a consistent copy of a store. The metadata is copied with SQLite's
/// online backup; then every blob it names, and the staging file of every upload in progress,
/// is copied (blobs already in DEST from an earlier backup are kept: they are immutable).
/// DEST then holds a store that `epochfs mount --store DEST` serves as it was.
public struct StoreBackup: Sendable {
    public struct Report: Sendable, Codable {
        public var blobsCopied = 0
        public var blobsPresent = 0
        public var bytesCopied: Int64 = 0
        public var stagingFiles = 0
    }

    public let blobs: BlobStore
    public let destination: String

    public init(blobs: BlobStore, destination: String) {
        self.blobs = blobs
        self.destination = destination
    }

    /// The metadata part; the caller serialises it with every other use of the database.
    /// Refuses a destination that holds a store's metadata already (a backup never
    /// overwrites one).
    public func copyMetadata(_ metadata: MetadataStore) throws {
        try Sys.mkdir(destination, 0o700)
        for name in ["metadata.db", "metadata.db-wal"] where try Sys.status(destination + "/" + name) != nil {
            throw BackupError("\(destination) already holds a store's metadata: back up into a new or emptied directory (its blobs/ may stay: they are reused)")
        }
        try metadata.database.backup(to: destination + "/metadata.db")
    }

    /// The files part: the blobs and staging files the copied metadata names. Blobs are never
    /// changed once written, so this needs no lock; the caller keeps them from being reclaimed
    /// meanwhile.
    public func copyFiles() throws -> Report {
        var report = Report()
        let copy = try MetadataStore(path: destination + "/metadata.db", now: 0)
        let target = try BlobStore(root: destination)
        for row in try IntegritySnapshot(copy).blobs {
            if try target.blobExists(row.hash) {
                report.blobsPresent += 1
                continue
            }
            try Self.copy(blobs.blobPath(row.hash), to: target.blobPath(row.hash), mode: 0o444)
            report.blobsCopied += 1
            report.bytesCopied += row.size
        }
        for record in try copy.stagedInodes() where try Sys.status(blobs.stagingPath(record.ino)) != nil {
            try Self.copy(blobs.stagingPath(record.ino), to: target.stagingPath(record.ino), mode: 0o444)
            report.stagingFiles += 1
        }
        try Sys.syncFilesystem(destination)
        return report
    }

    /// Copies a file (in the kernel) through a temporary name, so a partial copy never takes
    /// the final name.
    private static func copy(_ source: String, to target: String, mode: mode_t) throws {
        let temporary = target + ".copying"
        try Sys.copyFile(at: source, to: temporary, mode: mode)
        try Sys.rename(temporary, target)
    }
}

public struct BackupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
