import EpochStore

/// What `epochfs gc` removed.
public struct GarbageReport: Sendable, Codable {
    public var blobFiles = 0
    public var blobBytes: Int64 = 0
    public var temporaryFiles = 0
    public var stagingFiles = 0
}

/// The store's upkeep: the space reserve, garbage collection, backups and the metadata side
/// of fsck.
extension Administration {
    /// Takes the space reserve back once the disk has room for it again (after a full disk
    /// made the daemon give it up).
    func restoreReserve() throws(Errno) {
        let blobs = filesystem.blobs
        let restored = try filesystem.mapErrors { () -> Bool in
            if try Sys.status(blobs.reservePath) != nil { return false }
            return try blobs.ensureReserve()
        }
        if restored { logger.notice("space reserve restored", metadata: ["store": "\(blobs.root)"]) }
    }

    /// Removes what nothing references, safely while the store is served: blob files no row
    /// lists (and not waiting for the reclaim pass), unfinished writes of inserted blobs, and
    /// staging files of no file. Directories are listed without the metadata lock; each
    /// removal is decided under it, where publishing cannot run at the same time.
    public func collectGarbage() throws(Errno) -> GarbageReport {
        let fs = filesystem, blobs = filesystem.blobs
        try fs.reclaimSpace()
        var report = GarbageReport()
        let shards = try filesystem.mapErrors { try Sys.listDirectory(blobs.blobsDirectory) }
        for shard in shards {
            let directory = blobs.blobsDirectory + "/" + shard
            let names = try filesystem.mapErrors { try Sys.listDirectory(directory) }
            try fs.locked { state in
                let doomed = Set(try state.metadata.doomedBlobs())
                for name in names {
                    let path = directory + "/" + name
                    if name.hasSuffix(".new") {
                        try Sys.unlink(path)
                        report.temporaryFiles += 1
                    } else if !doomed.contains(name), try !state.metadata.blobExists(name),
                              try state.metadata.inodes(withBlob: name).isEmpty, let status = try Sys.status(path) {
                        // (A file no row lists but some file names is fsck's to report, not ours to delete.)
                        try Sys.unlink(path)
                        report.blobFiles += 1
                        report.blobBytes += Int64(status.st_size)
                    }
                }
            }
        }
        let staging = try filesystem.mapErrors { try blobs.stagingFiles() }
        try fs.locked { state in
            for ino in staging where state.open[ino] == nil {
                // A file being rewritten has a staging file while its row still names a blob;
                // it is open, so it was skipped above.
                if try state.metadata.inode(ino)?.staged == true { continue }
                try blobs.removeStaging(ino)
                report.stagingFiles += 1
            }
        }
        if report.blobFiles + report.temporaryFiles + report.stagingFiles > 0 {
            logger.notice("garbage collected", metadata: [
                "blob_files": "\(report.blobFiles)", "bytes": "\(report.blobBytes)",
                "temporary_files": "\(report.temporaryFiles)", "staging_files": "\(report.stagingFiles)"])
        }
        return report
    }

    /// A consistent copy of the store in `destination` (`epochfs backup`): the metadata under
    /// the lock, then the blobs it names without it, while no blob is reclaimed.
    public func backup(to destination: String) throws -> StoreBackup.Report {
        let fs = filesystem
        fs.backupsRunning.withLock { $0 += 1 }
        defer { fs.backupsRunning.withLock { $0 -= 1 } }
        let backup = StoreBackup(blobs: fs.blobs, destination: destination)
        try fs.withState { state in try backup.copyMetadata(state.metadata) }
        let report = try backup.copyFiles()
        logger.notice("backup written", metadata: [
            "destination": "\(destination)", "blobs_copied": "\(report.blobsCopied)", "bytes": "\(report.bytesCopied)",
            "blobs_present": "\(report.blobsPresent)"])
        return report
    }

    /// The metadata side of `epochfs fsck` while the store is served.
    public func integritySnapshot() throws(Errno) -> IntegritySnapshot {
        try filesystem.locked { state in try IntegritySnapshot(state.metadata) }
    }

    /// The files each finding affects.
    public func describe(_ findings: [IntegrityFinding]) throws(Errno) -> [IntegrityFinding] {
        try filesystem.locked { state in
            var described = findings
            try IntegrityCheck.describe(&described, state.metadata)
            return described
        }
    }
}
