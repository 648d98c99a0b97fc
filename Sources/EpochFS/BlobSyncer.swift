import Dispatch
import EpochStore
import Foundation
import Synchronization

extension FileSystem {
    /// Makes the bytes of recently published blobs (and their directory entries) durable.
    /// Publishing does not sync on the client's path; this runs every few seconds, before
    /// any durable commit (fsync), and at unmount. Until it has run, recovery re-checks
    /// those blobs against their names.
    public func syncPublishedBlobs() throws(Errno) {
        while true {
            let hashes = try locked { state in try state.metadata.unsyncedBlobs(limit: 4096) }
            guard !hashes.isEmpty else { return }
            try mapErrors { try blobs.makeDurable(hashes) }
            try locked { state in try state.metadata.forgetUnsynced(hashes) }
            if hashes.count < 4096 { return }
        }
    }
}

/// Runs `FileSystem.syncPublishedBlobs` and `reclaimSpace` on a thread of its own every
/// `interval`, and once more when stopped; with a `metricsFile`, also writes the metrics
/// there every 15 s.
public final class BlobSyncer: Sendable {
    private let fs: FileSystem
    private let interval: Double
    private let metricsFile: String?
    private static let metricsInterval = 15.0
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let done = DispatchSemaphore(value: 0)

    public init(fs: FileSystem, interval: Double = 2, metricsFile: String? = nil) {
        self.fs = fs
        self.interval = interval
        self.metricsFile = metricsFile
    }

    public func start() {
        let thread = Thread { [self] in
            var metricsWritten = Date.distantPast
            while !stopped.withLock({ $0 }) {
                _ = wake.wait(timeout: .now() + interval)
                if let metricsFile, Date().timeIntervalSince(metricsWritten) >= Self.metricsInterval || stopped.withLock({ $0 }) {
                    metricsWritten = Date()
                    do {
                        try fs.writeMetrics(to: metricsFile)
                    } catch {
                        fs.logger.error("could not write the metrics file", metadata: ["file": "\(metricsFile)", "error": "\(error)"])
                    }
                }
                // Each step whatever the others do: on a full disk the sync's commit fails,
                // and the reclaim that gives space back must run all the same.
                let steps: [(String, () throws(Errno) -> Void)] = [
                    ("sync published blobs", fs.syncPublishedBlobs),
                    ("reclaim the space of deleted blobs", fs.reclaimSpace),
                    ("restore the space reserve", fs.restoreReserve),
                ]
                for (step, run) in steps {
                    do {
                        try run()
                    } catch {
                        fs.logger.error("could not \(step)", metadata: ["errno": "\(error)"])
                    }
                }
            }
            done.signal()
        }
        thread.name = "epochfs-blob-sync"
        thread.start()
    }

    /// Syncs once more and stops the thread.
    public func stop() {
        stopped.withLock { $0 = true }
        wake.signal()
        done.wait()
    }
}

extension FileSystem {
    /// Takes the space reserve back once the disk has room for it again (after a full disk
    /// made the daemon give it up).
    public func restoreReserve() throws(Errno) {
        let restored = try mapErrors { () -> Bool in
            if try Sys.status(blobs.reservePath) != nil { return false }
            return try blobs.ensureReserve()
        }
        if restored { logger.notice("space reserve restored", metadata: ["store": "\(blobs.root)"]) }
    }
}

/// What `epochfs gc` removed.
public struct GarbageReport: Sendable, Codable {
    public var blobFiles = 0
    public var blobBytes: Int64 = 0
    public var temporaryFiles = 0
    public var stagingFiles = 0
}

extension FileSystem {
    /// Removes what nothing references, safely while the store is served: blob files no row
    /// lists (and not waiting for the reclaim pass), unfinished writes of inserted blobs, and
    /// staging files of no file. Directories are listed without the metadata lock; each
    /// removal is decided under it, where publishing cannot run at the same time.
    public func collectGarbage() throws(Errno) -> GarbageReport {
        try reclaimSpace()
        var report = GarbageReport()
        let shards = try mapErrors { try Sys.listDirectory(blobs.blobsDirectory) }
        for shard in shards {
            let directory = blobs.blobsDirectory + "/" + shard
            let names = try mapErrors { try Sys.listDirectory(directory) }
            try locked { state in
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
        let staging = try mapErrors { try blobs.stagingFiles() }
        try locked { state in
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
        backupsRunning.withLock { $0 += 1 }
        defer { backupsRunning.withLock { $0 -= 1 } }
        let backup = StoreBackup(blobs: blobs, destination: destination)
        try withState { state in try backup.copyMetadata(state.metadata) }
        let report = try backup.copyFiles()
        logger.notice("backup written", metadata: [
            "destination": "\(destination)", "blobs_copied": "\(report.blobsCopied)", "bytes": "\(report.bytesCopied)",
            "blobs_present": "\(report.blobsPresent)"])
        return report
    }

    /// The metadata side of `epochfs fsck` while the store is served.
    public func integritySnapshot() throws(Errno) -> IntegritySnapshot {
        try locked { state in try IntegritySnapshot(state.metadata) }
    }

    /// The files each finding affects.
    public func describe(_ findings: [IntegrityFinding]) throws(Errno) -> [IntegrityFinding] {
        try locked { state in
            var described = findings
            try IntegrityCheck.describe(&described, state.metadata)
            return described
        }
    }
}
