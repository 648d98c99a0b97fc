import Logging

/// Where a file's content lives, changed in the store: a staging file published as a blob, or
/// recorded as the file's content. The metadata and the files on disk change in an order that a
/// crash at any point leaves for `Recovery` to complete, and a row made durable never names
/// bytes that are not.
public struct ContentPublishing {
    public let metadata: MetadataStore
    public let blobs: BlobStore
    let logger: Logger

    public init(metadata: MetadataStore, blobs: BlobStore, logger: Logger) {
        self.metadata = metadata
        self.blobs = blobs
        self.logger = logger
    }

    /// Publishes the staging file of `record` (open as `fd`) as the blob `hash`: one
    /// transaction (a reference to the blob, the old one dropped, the row naming it), then the
    /// rename of the staging file to the blob (or its deletion, when the blob exists already).
    /// `record` is what the row says afterwards; unchanged if this throws.
    ///
    /// `durable`: the staging row was made durable by an fsync, so the client expects the file
    /// to survive a power cut: the bytes are synced first and the commit is durable.
    public func publishStaged(_ record: inout InodeRecord, as hash: String, fd: Int32, durable: Bool) throws {
        // A durable commit must only name bytes that are durable. The staging file's are
        // synced here; when the content is already a blob (dedup: the staging copy is deleted
        // once the row names the blob), that blob's bytes may still wait for the syncer.
        var syncedExisting = false
        if durable {
            try Sys.fdatasync(fd)
            if try metadata.isUnsynced(hash), try blobs.blobExists(hash) {
                try blobs.makeDurable([hash])
                syncedExisting = true
            }
        }
        var published = record
        published.blob = hash
        published.staged = false
        published.interrupted = false
        let previous = record.blob
        let body = {
            let isNew = try metadata.retainBlob(hash, size: published.size)
            if let previous { try metadata.releaseBlob(previous) }
            try metadata.updateContent(published)
            if syncedExisting { try metadata.markSynced(hash) }
            return isNew
        }
        let isNew = try metadata.transaction(durable: durable, body)
        record = published
        // From here on the row names the blob. Should the rename fail, the staging file is
        // still there and recovery completes the publish at the next start.
        do {
            try blobs.publish(record.ino, as: hash, isNew: isNew)
        } catch {
            logger.error("could not put a published blob in place; recovery completes it at the next start",
                         metadata: ["inode": "\(record.ino)", "blob": "\(hash)", "error": "\(error)"])
        }
    }

    /// Records that `record`'s content lives in its staging file (dropping any blob it had),
    /// marked `interrupted` or not. `durable` (an fsync): the staging file's name is synced
    /// first, then the commit, so the durable row names a file that survives a power cut too.
    /// `record` is what the row says afterwards; unchanged if this throws.
    public func keepStaged(_ record: inout InodeRecord, interrupted: Bool, durable: Bool = false) throws {
        var staged = record
        staged.blob = nil
        staged.staged = true
        staged.interrupted = interrupted
        let previous = record.blob
        let body = {
            if let previous { try metadata.releaseBlob(previous) }
            try metadata.updateContent(staged)
        }
        if durable { try Sys.fsyncDirectory(blobs.stagingDirectory) }
        try metadata.transaction(durable: durable, body)
        record = staged
    }
}
