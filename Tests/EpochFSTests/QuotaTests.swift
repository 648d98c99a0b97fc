@testable import EpochFS
import EpochStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Per-district quotas on what a district holds in `upload/`: counted as files change,
/// enforced with EDQUOT, and always equal to what the tree holds.
@Suite struct QuotaTests {
    /// The account in memory, and what the metadata says the district holds in `upload/`.
    private func usage(_ store: TestStore) throws -> (counted: MetadataStore.UploadUsage, stored: MetadataStore.UploadUsage) {
        let counted = try #require(store.fs.quotaUsage()[store.alpha.id])
        let stored = try store.fs.state.withLock { try $0.metadata.uploadUsage() }[store.alpha.id]
            ?? .init(entries: 0, bytes: 0)
        return (counted, stored)
    }

    private func expectCounted(_ store: TestStore, entries: Int64, bytes: Int64, _ comment: Comment,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (counted, stored) = try usage(store)
        #expect(counted == .init(entries: entries, bytes: bytes), comment, sourceLocation: sourceLocation)
        #expect(stored == counted, "the count matches the tree: \(comment)", sourceLocation: sourceLocation)
    }

    private func setQuota(_ store: TestStore, bytes: Int64? = nil, files: Int64? = nil) throws {
        _ = try store.fs.setQuota(of: "alpha", bytes: bytes.map { .limit($0) }, files: files.map { .limit($0) })
    }

    @Test func everyChangeOfWhatUploadHoldsIsCounted() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let a = try fs.makeFile(in: epoch, "a.csv", pattern(1000))
            try fs.makeFile(in: epoch, "b.csv", pattern(300))
            try expectCounted(store, entries: 3, bytes: 1300, "a directory and two files")

            // Grow by truncate, shrink by O_TRUNC and rewrite, shrink by path.
            _ = try fs.setattr(a, AttributeChanges(size: 5000), handle: nil, caller: alphaCaller)
            try expectCounted(store, entries: 3, bytes: 5300, "a truncate up")
            let handle = try fs.open(a, flags: O_WRONLY | O_TRUNC, caller: alphaCaller)
            try fs.put(handle, pattern(200), at: 0)
            try fs.put(handle, pattern(100), at: 150)  // overlaps: grows by 50
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            try expectCounted(store, entries: 3, bytes: 550, "O_TRUNC, then writes")

            // An open file unlinked: its bytes leave the count at once, and later writes to
            // the orphan do not count.
            let c = try fs.makeFile(in: epoch, "c.csv", pattern(700))
            let open = try fs.open(c, flags: O_WRONLY, caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "c.csv", caller: alphaCaller)
            try fs.put(open, pattern(4000), at: 0)
            try expectCounted(store, entries: 3, bytes: 550, "an unlinked open file")
            fs.release(open)

            // A rename over another file frees the one replaced.
            try fs.makeFile(in: epoch, "d.csv.filepart", pattern(90))
            try fs.rename(parent: epoch, name: "d.csv.filepart", newParent: epoch, newName: "b.csv", flags: [], caller: alphaCaller)
            try expectCounted(store, entries: 3, bytes: 340, "a rename over b.csv")

            // Directories count as files; rmdir gives one back.
            _ = try fs.mkdir(parent: epoch, name: "sub", mode: 0o755, caller: alphaCaller)
            try expectCounted(store, entries: 4, bytes: 340, "mkdir")
            try fs.rmdir(parent: epoch, name: "sub", caller: alphaCaller)
            try expectCounted(store, entries: 3, bytes: 340, "rmdir")

            // A restart counts the same from the tree.
            let reopened = try store.reopened()
            try expectCounted(reopened, entries: 3, bytes: 340, "after a restart")
        }
    }

    @Test func aPublishedEpochNoLongerCounts() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let file = try fs.makeFile(in: epoch, "a.csv", pattern(4096))
            try fs.makeFile(in: store.upload, "loose.csv", pattern(10))
            let reader = try fs.open(file, flags: O_RDONLY, caller: rootCaller)
            let generation = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: generation))
            _ = try fs.publishEpoch(epoch, inserting: [InsertedFile(name: "processing-succeeded.log", bytes: bytes("ok\n"))],
                                    outcome: "succeeded", profile: nil, result: "{}")
            fs.release(reader)
            try expectCounted(store, entries: 1, bytes: 10, "only the loose file is left in upload/")
            // Pruning it from upload-processed/ changes nothing.
            try fs.unlink(parent: epoch, name: "a.csv", caller: rootCaller)
            try expectCounted(store, entries: 1, bytes: 10, "after pruning")
        }
    }

    @Test func aWritePastTheByteQuotaFailsWithEDQUOTAndLeavesTheFileInterrupted() throws {
        try withStore { store in
            let fs = store.fs
            try setQuota(store, bytes: 10_000)
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let kept = try fs.makeFile(in: epoch, "kept.csv", pattern(6000))
            let (attributes, handle) = try fs.create(parent: epoch, name: "big.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.put(handle, pattern(3000), at: 0)
            #expect(throws: Errno.quotaExceeded) { try fs.put(handle, pattern(2000), at: 3000) }
            // Overwriting inside the file needs no room.
            try fs.put(handle, pattern(1000, seed: 1), at: 1000)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            let big = try #require(try store.record(attributes.ino))
            #expect(big.staged && big.interrupted, "a file whose write was refused is not a finished upload")
            #expect(big.size == 3000)
            #expect(try fs.contents(kept) == pattern(6000), "what was stored is untouched")
            try expectCounted(store, entries: 3, bytes: 9000, "the refused write added nothing")

            // A truncate past the quota is refused too; shrinking is always allowed.
            #expect(throws: Errno.quotaExceeded) {
                _ = try fs.setattr(kept, AttributeChanges(size: 8000), handle: nil, caller: alphaCaller)
            }
            _ = try fs.setattr(kept, AttributeChanges(size: 5000), handle: nil, caller: alphaCaller)

            // Room made (or the quota raised), the upload resumes in a new session and finishes.
            try setQuota(store, bytes: 20_000)
            let resume = try fs.open(attributes.ino, flags: O_WRONLY | O_APPEND, caller: alphaCaller)
            try fs.put(resume, pattern(2000), at: 3000)
            try fs.flush(resume, caller: alphaCaller)
            fs.release(resume)
            let finished = try #require(try store.record(attributes.ino))
            #expect(!finished.staged && !finished.interrupted && finished.size == 5000)
            try expectCounted(store, entries: 3, bytes: 10_000, "after the resume")
        }
    }

    @Test func theFileQuotaCountsFilesAndDirectories() throws {
        try withStore { store in
            let fs = store.fs
            try setQuota(store, files: 3)
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: epoch, "a.csv", pattern(10))
            _ = try fs.mkdir(parent: epoch, name: "sub", mode: 0o755, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) {
                _ = try fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            }
            #expect(throws: Errno.quotaExceeded) { _ = try fs.mkdir(parent: epoch, name: "more", mode: 0o755, caller: alphaCaller) }
            #expect(try store.names(epoch).sorted() == ["a.csv", "sub"], "nothing half-made is left")
            // An existing name is still EEXIST, not EDQUOT.
            #expect(throws: Errno.exists) { _ = try fs.mkdir(parent: epoch, name: "sub", mode: 0o755, caller: alphaCaller) }
            try fs.rmdir(parent: epoch, name: "sub", caller: alphaCaller)
            try fs.makeFile(in: epoch, "b.csv", pattern(10))
            try expectCounted(store, entries: 3, bytes: 20, "at the limit")
        }
    }

    @Test func aQuotaBelowWhatIsHeldStopsGrowthButNotDeletion() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: epoch, "a.csv", pattern(5000))
            try fs.makeFile(in: epoch, "b.csv", pattern(5000))
            let (district, used) = try fs.setQuota(of: "alpha", bytes: .limit(4000), files: nil)
            #expect(district.quotaBytes == 4000 && used.bytes == 10_000)
            #expect(FileSystem.describeQuota(of: district, used: used).contains("EDQUOT"))
            let (_, handle) = try fs.create(parent: epoch, name: "c.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) { try fs.put(handle, pattern(1), at: 0) }
            fs.release(handle)
            try fs.unlink(parent: epoch, name: "a.csv", caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "b.csv", caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "c.csv", caller: alphaCaller)
            try fs.makeFile(in: epoch, "d.csv", pattern(4000))
            // Lifting it: anything goes again, and the quota outlives a restart.
            _ = try fs.setQuota(of: "alpha", bytes: .unlimited, files: .limit(100))
            let reopened = try store.reopened()
            let record = try #require(try reopened.fs.districts().first)
            #expect(record.quotaBytes == nil && record.quotaFiles == 100)
            try reopened.fs.makeFile(in: epoch, "e.csv", pattern(50_000))
            #expect(throws: AdminError.self) { _ = try fs.setQuota(of: "alpha", bytes: .limit(-1), files: nil) }
        }
    }

    @Test func writesCountingAgainstAByteQuotaBypassTheKernelCacheAndKeepODSYNC() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let (_, cached) = try fs.create(parent: epoch, name: "a.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(!cached.directIO, "no quota: the writeback cache")
            fs.release(cached)
            try setQuota(store, files: 100)
            let (_, filesOnly) = try fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(!filesOnly.directIO, "a file quota alone is checked at create")
            fs.release(filesOnly)
            try setQuota(store, bytes: 1 << 20)
            let (plainAttributes, plain) = try fs.create(parent: epoch, name: "c.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            let (syncedAttributes, synced) = try fs.create(parent: epoch, name: "d.csv", mode: 0o644,
                                                           flags: writeFlags | O_DSYNC, caller: alphaCaller)
            #expect(plain.directIO && synced.directIO)
            try fs.put(plain, pattern(100), at: 0)
            try fs.put(synced, pattern(100), at: 0)
            #expect(try store.record(plainAttributes.ino)?.size == 0, "written, not yet made durable")
            #expect(try store.record(syncedAttributes.ino)?.size == 100, "O_DSYNC: durable when the write returns")
            fs.release(plain)
            fs.release(synced)
            let reader = try fs.open(plainAttributes.ino, flags: O_RDONLY, caller: alphaCaller)
            #expect(!reader.directIO, "reads keep the page cache")
            fs.release(reader)
        }
    }

    @Test func statfsBelowADistrictShowsItsQuota() throws {
        try withStore { store in
            let fs = store.fs
            let disk = try fs.statfs()
            #expect(try fs.statfs(store.districtRoot).blocks == disk.blocks, "no quota: the disk's figures")
            try setQuota(store, bytes: 1 << 20, files: 50)
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: epoch, "a.csv", pattern(256 << 10))
            for ino in [store.districtRoot, store.upload, epoch] {
                let figures = try fs.statfs(ino)
                let block = Int64(figures.blockSize)
                #expect(Int64(figures.blocks) * block == 1 << 20)
                #expect(Int64(figures.blocksAvailable) * block == 768 << 10)
                #expect(figures.files == 50 && figures.filesFree == 48)
            }
            #expect(try fs.statfs(.root).blocks == disk.blocks, "the mount's root shows the disk")
        }
    }
}
