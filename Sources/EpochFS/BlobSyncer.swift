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

/// Runs `FileSystem.syncPublishedBlobs`, `reclaimSpace` and `Administration.restoreReserve`
/// on a thread of its own every `interval`, and once more when stopped; with a `metricsFile`,
/// also writes the metrics there every 15 s.
public final class BlobSyncer: Sendable {
    private let administration: Administration
    private let interval: Double
    private let metricsFile: String?
    private static let metricsInterval = 15.0
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let done = DispatchSemaphore(value: 0)

    public init(administration: Administration, interval: Double = 2, metricsFile: String? = nil) {
        self.administration = administration
        self.interval = interval
        self.metricsFile = metricsFile
    }

    public func start() {
        let thread = Thread { [self] in
            let fs = administration.filesystem
            var metricsWritten = Date.distantPast
            while !stopped.withLock({ $0 }) {
                _ = wake.wait(timeout: .now() + interval)
                if let metricsFile, Date().timeIntervalSince(metricsWritten) >= Self.metricsInterval || stopped.withLock({ $0 }) {
                    metricsWritten = Date()
                    do {
                        try administration.writeMetrics(to: metricsFile)
                    } catch {
                        fs.logger.error("could not write the metrics file", metadata: ["file": "\(metricsFile)", "error": "\(error)"])
                    }
                }
                // Each step whatever the others do: on a full disk the sync's commit fails,
                // and the reclaim that gives space back must run all the same.
                let steps: [(String, () throws(Errno) -> Void)] = [
                    ("sync published blobs", fs.syncPublishedBlobs),
                    ("reclaim the space of deleted blobs", fs.reclaimSpace),
                    ("restore the space reserve", administration.restoreReserve),
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
