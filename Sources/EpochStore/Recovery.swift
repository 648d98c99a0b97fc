import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Brings blobs, staging files and metadata back into agreement after a crash. Run before
/// the store is served; it is cheap when the last shutdown was clean (it only lists the
/// staging directory and two small indexes).
public struct Recovery {
    public struct Report: Sendable, Equatable {
        public var orphansRemoved = 0
        public var stagingFilesRemoved = 0
        public var stagingFilesRecovered = 0
        public var blobsCompleted = 0
        public var blobsRemoved = 0
        public var blobsDamaged = 0
    }

    public static func run(metadata: MetadataStore, blobs: BlobStore, logger: Logger) throws -> Report {
        var report = Report()
        let db = metadata.database

        // Files unlinked while open when the daemon stopped: nothing can reach them now.
        var doomed: [String] = []
        try db.transaction {
            for orphan in try metadata.orphanedInodes() where orphan.ino != .root {
                try metadata.delete(orphan)
                if let hash = orphan.blob, try metadata.releaseBlob(hash) { doomed.append(hash) }
                try blobs.removeStaging(orphan.ino)
                report.orphansRemoved += 1
            }
        }

        // Staging files: a file being written, a publish cut short, or nothing at all.
        let rows = Dictionary(uniqueKeysWithValues: try metadata.stagedInodes().map { ($0.ino, $0) })
        for ino in try blobs.stagingFiles() {
            if var record = rows[ino] {
                // Writes may have landed out of order: keep only the prefix before the first hole.
                let fd = try blobs.openStaging(ino)
                defer { Sys.close(fd) }
                let end = try Sys.firstHole(fd)
                let size = try Sys.fstat(fd).st_size
                if Int64(size) != end { try Sys.ftruncate(fd, end) }
                if record.size != end || !record.interrupted {
                    record.size = end
                    record.interrupted = true
                    try metadata.updateContent(record)
                }
                report.stagingFilesRecovered += 1
                continue
            }
            if let record = try metadata.inode(ino), let hash = record.blob, try !blobs.blobExists(hash),
               try metadata.blobExists(hash) {
                // Committed as published, but the rename into the blob store did not happen.
                try blobs.publish(ino, as: hash)
                report.blobsCompleted += 1
            } else {
                try blobs.removeStaging(ino)
                report.stagingFilesRemoved += 1
            }
        }

        // Staged rows whose file is missing cannot be read; they become empty, interrupted files.
        let present = Set(try blobs.stagingFiles())
        for (ino, var record) in rows where !present.contains(ino) {
            let fd = try blobs.createStaging(ino)
            Sys.close(fd)
            record.size = 0
            record.interrupted = true
            try metadata.updateContent(record)
            logger.warning("staged file had no staging data; it is now empty", metadata: ["inode": "\(ino)"])
        }

        // Blobs whose last reference went away before their file was deleted; the commits that
        // dropped the references are made durable before any file goes.
        doomed += try metadata.doomedBlobs()
        if !doomed.isEmpty { try db.checkpoint() }
        var removed: [String] = []
        for hash in Set(doomed) where try !metadata.blobExists(hash) {
            try blobs.removeBlob(hash)
            removed.append(hash)
        }
        try metadata.forgetDoomed(Array(Set(doomed)))
        report.blobsRemoved = removed.count

        // Blobs published shortly before the stop may not have reached the disk (a power cut).
        // Each is checked against its name; a damaged one leaves its files empty and
        // interrupted, so that nothing reads bytes that were never received.
        let unsynced = try metadata.unsyncedBlobs(limit: Int.max)
        var intact: [String] = []
        for hash in unsynced {
            // A mismatch or a missing file is damage; an error reading it stops the start.
            if try blobs.verify(hash) {
                intact.append(hash)
                continue
            }
            report.blobsDamaged += 1
            try db.transaction {
                for var record in try metadata.inodes(withBlob: hash) {
                    let fd = try blobs.createStaging(record.ino)
                    Sys.close(fd)
                    record.blob = nil
                    record.staged = true
                    record.interrupted = true
                    record.size = 0
                    try metadata.updateContent(record)
                    _ = try metadata.releaseBlob(hash)
                    logger.error("file content lost before it reached the disk; the file is now empty and interrupted",
                                 metadata: ["inode": "\(record.ino)", "name": "\(record.name)", "blob": "\(hash)"])
                }
            }
            try blobs.removeBlob(hash)
            try metadata.forgetDoomed([hash])
        }
        try blobs.makeDurable(intact)
        try metadata.forgetUnsynced(unsynced)

        if report != Report() {
            logger.notice("recovered the store", metadata: [
                "recovery.orphans": "\(report.orphansRemoved)",
                "recovery.staging_removed": "\(report.stagingFilesRemoved)",
                "recovery.staging_kept": "\(report.stagingFilesRecovered)",
                "recovery.blobs_completed": "\(report.blobsCompleted)",
                "recovery.blobs_removed": "\(report.blobsRemoved)",
                "recovery.blobs_damaged": "\(report.blobsDamaged)",
            ])
        }
        return report
    }
}
