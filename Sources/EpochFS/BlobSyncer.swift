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
/// `interval`, and once more when stopped.
public final class BlobSyncer: Sendable {
    private let fs: FileSystem
    private let interval: Double
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let done = DispatchSemaphore(value: 0)

    public init(fs: FileSystem, interval: Double = 2) {
        self.fs = fs
        self.interval = interval
    }

    public func start() {
        let thread = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                _ = wake.wait(timeout: .now() + interval)
                do {
                    try fs.syncPublishedBlobs()
                    try fs.reclaimSpace()
                } catch {
                    fs.logger.error("could not sync or reclaim blobs", metadata: ["errno": "\(error)"])
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
