@testable import EpochFS
@testable import EpochStore
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Per-district quotas on what a district holds in `upload/`: counted as files change,
/// enforced with EDQUOT, and always equal to what the tree holds.
@Suite struct QuotaTests {
    /// What alpha holds in `upload/`, from the tree itself: its named entries there, each file
    /// at its current size (an open file's in memory, which its row catches up with at close).
    private func truth(_ store: TestStore) throws -> MetadataStore.UploadUsage {
        try store.fs.state.withLock { state in
            var usage = MetadataStore.UploadUsage(entries: 0, bytes: 0)
            try state.metadata.database.forEach(
                "SELECT ino, kind, size FROM inodes WHERE zone = ? AND parent IS NOT NULL AND district = ?",
                [.int(Zone.uploadTree.rawValue), .int(store.alpha.id)]
            ) { row in
                let ino = InodeNumber(rawValue: UInt64(row.int(0)))
                usage.entries += 1
                guard row.int(1) == NodeKind.file.rawValue else { return }
                usage.bytes += state.open[ino]?.state.withLock { $0.size } ?? row.int(2)
            }
            return usage
        }
    }

    /// The account holds `entries` and `bytes`, and so does the tree.
    private func expectCounted(_ store: TestStore, entries: Int64, bytes: Int64, _ comment: Comment,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let counted = try #require(store.administration.quotaUsage()[store.alpha.id], sourceLocation: sourceLocation)
        #expect(counted == .init(entries: entries, bytes: bytes), comment, sourceLocation: sourceLocation)
        #expect(try truth(store) == counted, "the count matches the tree: \(comment)", sourceLocation: sourceLocation)
    }

    private func setQuota(_ store: TestStore, bytes: Int64? = nil, files: Int64? = nil) throws {
        _ = try store.administration.setQuota(of: "alpha", bytes: bytes.map { .limit($0) }, files: files.map { .limit($0) })
    }

    @Test func everyChangeOfWhatUploadHoldsIsCounted() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let a = try fs.makeFile(in: epoch, "a.csv", pattern(1000))
            try fs.makeFile(in: epoch, "b.csv", pattern(300))
            try expectCounted(store, entries: 3, bytes: 1300, "a directory and two files")

            // Grow by truncate, shrink by O_TRUNC and rewrite, shrink by path.
            _ = try fs.setattr(a, AttributeChanges(size: 5000), handle: nil, caller: alphaCaller)
            try expectCounted(store, entries: 3, bytes: 5300, "a truncate up")
            let handle = try fs.open(a, flags: O_WRONLY | O_TRUNC, caller: alphaCaller)
            try fs.put(handle, pattern(200), at: 0)
            try expectCounted(store, entries: 3, bytes: 500, "O_TRUNC, then a write still open")
            try fs.put(handle, pattern(100), at: 150)  // overlaps: grows by 50
            try fs.put(handle, pattern(10), at: 240)  // inside the file: grows by nothing
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

            // A write past the end leaves a hole, which counts: it is the file's size.
            let (sparseAttributes, sparse) = try fs.create(parent: epoch, name: "sparse.bin", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.put(sparse, pattern(10), at: 10_000)
            try expectCounted(store, entries: 4, bytes: 10_350, "a sparse write")
            _ = try fs.setattr(sparseAttributes.ino, AttributeChanges(size: 20_000), handle: sparse, caller: alphaCaller)
            try expectCounted(store, entries: 4, bytes: 20_340, "ftruncate through the handle")
            try fs.flush(sparse, caller: alphaCaller)
            fs.release(sparse)
            try fs.unlink(parent: epoch, name: "sparse.bin", caller: alphaCaller)

            // A restart counts the same from the tree.
            let reopened = try store.reopened()
            try expectCounted(reopened, entries: 3, bytes: 340, "after a restart")
        }
    }

    @Test func renamesMoveNothingInOrOutOfTheCount() throws {
        try withStore { store in
            let fs = store.fs
            let first = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let second = try fs.mkdir(parent: store.upload, name: "1764460800", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: first, "x.csv", pattern(100))
            try fs.makeFile(in: second, "y.csv", pattern(30))
            let sub = try fs.mkdir(parent: first, name: "sub", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: sub, "z.csv", pattern(7))
            try expectCounted(store, entries: 6, bytes: 137, "two epochs")
            try fs.rename(parent: first, name: "x.csv", newParent: second, newName: "y.csv", flags: .exchange, caller: alphaCaller)
            try expectCounted(store, entries: 6, bytes: 137, "RENAME_EXCHANGE")
            try fs.rename(parent: first, name: "sub", newParent: second, newName: "sub", flags: [], caller: alphaCaller)
            try expectCounted(store, entries: 6, bytes: 137, "a directory with a file moved between epochs")
            try fs.rename(parent: second, name: "sub", newParent: store.upload, newName: "1764547200", flags: [], caller: alphaCaller)
            try expectCounted(store, entries: 6, bytes: 137, "a directory moved out to become an epoch")

            // A rename over a file that is open and still being written: the file replaced
            // stops counting with its current size, and its later writes count nowhere.
            let (target, open) = try fs.create(parent: second, name: "t.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.put(open, pattern(500), at: 0)
            try expectCounted(store, entries: 7, bytes: 637, "an open file being written")
            try fs.rename(parent: second, name: "y.csv", newParent: second, newName: "t.csv", flags: [], caller: alphaCaller)
            try fs.put(open, pattern(500), at: 500)
            try expectCounted(store, entries: 6, bytes: 137, "the open file replaced")
            fs.release(open)
            fs.forget([(target.ino, 1)])
            try expectCounted(store, entries: 6, bytes: 137, "its last close")
        }
    }

    @Test func aRemovedDistrictAddedAgainStartsFromNothing() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            try fs.makeFile(in: epoch, "a.csv", pattern(100))
            try setQuota(store, bytes: 1000)
            try store.administration.removeDistrict(name: "alpha", deleteData: true)
            let again = try store.administration.addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID)
            #expect(again.quotaBytes == nil)
            #expect(store.administration.quotaUsage()[again.id] == .init(entries: 0, bytes: 0))
        }
    }

    @Test func aPublishedEpochNoLongerCounts() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let file = try fs.makeFile(in: epoch, "a.csv", pattern(4096))
            try fs.makeFile(in: store.upload, "loose.csv", pattern(10))
            let reader = try fs.open(file, flags: O_RDONLY, caller: rootCaller)
            try expectCounted(store, entries: 3, bytes: 4106, "an epoch and a loose file")
            let generation = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: generation))
            _ = try fs.publish(epoch, inserting: [InsertedFile(name: "processing-succeeded.log", bytes: bytes("ok\n"))])
            try expectCounted(store, entries: 1, bytes: 10, "only the loose file is left in upload/")
            // Root writing to the file in upload-processed/ through a handle opened while it
            // was in upload/ counts nowhere; nor does pruning it.
            let writer = try fs.open(file, flags: O_WRONLY, caller: rootCaller)
            try fs.put(writer, pattern(100), at: 4096)
            fs.release(writer)
            fs.release(reader)
            try fs.unlink(parent: epoch, name: "a.csv", caller: rootCaller)
            try expectCounted(store, entries: 1, bytes: 10, "after pruning")
            // Processing it again changes nothing either.
            let record = try Administration(fs).reprocessEpoch(epoch)
            #expect(record.state == .sealed)
            _ = try fs.publish(epoch, inserting: [InsertedFile(name: "processing-succeeded.log", bytes: bytes("again\n"))])
            try expectCounted(store, entries: 1, bytes: 10, "after reprocessing")
        }
    }

    @Test func aWritePastTheByteQuotaFailsWithEDQUOTAndLeavesTheFileInterrupted() throws {
        try withStore { store in
            let fs = store.fs
            try setQuota(store, bytes: 10_000)
            let epoch = try store.makeEpoch()
            let kept = try fs.makeFile(in: epoch, "kept.csv", pattern(6000))
            let (attributes, handle) = try fs.create(parent: epoch, name: "big.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.put(handle, pattern(3000), at: 0)
            // A write across the limit writes what fits; the next one is refused.
            let written = try pattern(2000).withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: 3000, bytes: raw) }
            #expect(written == 1000)
            #expect(throws: Errno.quotaExceeded) { try fs.put(handle, pattern(2000), at: 4000) }
            // Overwriting inside the file needs no room.
            try fs.put(handle, pattern(1000, seed: 1), at: 1000)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            let big = try #require(try store.record(attributes.ino))
            #expect(big.staged && big.interrupted, "a file whose write was refused is not a finished upload")
            #expect(big.size == 4000)
            #expect(try fs.contents(kept) == pattern(6000), "what was stored is untouched")
            try expectCounted(store, entries: 3, bytes: 10_000, "the refused write added nothing")

            // A refused append to a published file copies nothing and leaves it published.
            let append = try fs.open(kept, flags: O_WRONLY | O_APPEND, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) { try fs.put(append, pattern(10), at: 6000) }
            try fs.flush(append, caller: alphaCaller)
            fs.release(append)
            let published = try #require(try store.record(kept))
            #expect(!published.staged && !published.interrupted && published.blob == sha256Hex(pattern(6000)))
            #expect(try store.stagingFiles() == [attributes.ino], "no copy was made")

            // A truncate past the quota is refused too, and tells only its caller: a file being
            // written stays a clean upload. Shrinking is always allowed.
            let (cleanAttributes, clean) = try fs.create(parent: epoch, name: "clean.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) {
                _ = try fs.setattr(cleanAttributes.ino, AttributeChanges(size: 8000), handle: nil, caller: alphaCaller)
            }
            #expect(throws: Errno.quotaExceeded) {
                _ = try fs.setattr(kept, AttributeChanges(size: 8000), handle: nil, caller: alphaCaller)
            }
            try fs.flush(clean, caller: alphaCaller)
            fs.release(clean)
            #expect(try store.record(cleanAttributes.ino)?.staged == false, "the upload in progress was not interrupted")
            _ = try fs.setattr(kept, AttributeChanges(size: 5000), handle: nil, caller: alphaCaller)
            #expect(try store.record(kept)?.staged == false, "a shrink by path publishes the file again")
            // An ftruncate through the writer's handle that is refused interrupts its upload.
            let (cutAttributes, cut) = try fs.create(parent: epoch, name: "cut.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) {
                _ = try fs.setattr(cutAttributes.ino, AttributeChanges(size: 8000), handle: cut, caller: alphaCaller)
            }
            try fs.flush(cut, caller: alphaCaller)
            fs.release(cut)
            #expect(try store.record(cutAttributes.ino)?.interrupted == true)
            try fs.unlink(parent: epoch, name: "cut.csv", caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "clean.csv", caller: alphaCaller)

            // Room made (or the quota raised), the upload resumes in a new session and finishes.
            try setQuota(store, bytes: 20_000)
            let resume = try fs.open(attributes.ino, flags: O_WRONLY | O_APPEND, caller: alphaCaller)
            try fs.put(resume, pattern(2000), at: 4000)
            try fs.flush(resume, caller: alphaCaller)
            fs.release(resume)
            let finished = try #require(try store.record(attributes.ino))
            #expect(!finished.staged && !finished.interrupted && finished.size == 6000)
            try expectCounted(store, entries: 3, bytes: 11_000, "after the resume")
            var expected = pattern(3000) + pattern(2000).prefix(1000) + pattern(2000)
            expected.replaceSubrange(1000..<2000, with: pattern(1000, seed: 1))
            #expect(try fs.contents(attributes.ino) == expected)
        }
    }

    @Test func theFileQuotaCountsFilesAndDirectories() throws {
        try withStore { store in
            let fs = store.fs
            try setQuota(store, files: 3)
            let epoch = try store.makeEpoch()
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
            let epoch = try store.makeEpoch()
            try fs.makeFile(in: epoch, "a.csv", pattern(5000))
            try fs.makeFile(in: epoch, "b.csv", pattern(5000))
            let (district, used) = try store.administration.setQuota(of: "alpha", bytes: .limit(4000), files: nil)
            #expect(district.quotaBytes == 4000 && used.bytes == 10_000)
            #expect(Administration.describeQuota(of: district, used: used).contains("EDQUOT"))
            let (_, handle) = try fs.create(parent: epoch, name: "c.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(throws: Errno.quotaExceeded) { try fs.put(handle, pattern(1), at: 0) }
            fs.release(handle)
            try fs.unlink(parent: epoch, name: "a.csv", caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "b.csv", caller: alphaCaller)
            try fs.unlink(parent: epoch, name: "c.csv", caller: alphaCaller)
            try fs.makeFile(in: epoch, "d.csv", pattern(4000))
            // Lifting it: anything goes again, and the quota outlives a restart.
            _ = try store.administration.setQuota(of: "alpha", bytes: .unlimited, files: .limit(100))
            let reopened = try store.reopened().fs
            let record = try #require(try Administration(reopened).districts().first)
            #expect(record.quotaBytes == nil && record.quotaFiles == 100)
            try reopened.makeFile(in: epoch, "e.csv", pattern(50_000))
            #expect(throws: AdminError.self) { _ = try Administration(reopened).setQuota(of: "alpha", bytes: .limit(-1), files: nil) }
            #expect(throws: AdminError.self) { _ = try Administration(reopened).setQuota(of: "alpha", bytes: .limit(.max), files: nil) }
            // The largest quota allowed still answers statfs.
            _ = try Administration(reopened).setQuota(of: "alpha", bytes: .limit(Administration.largestQuota), files: .limit(Administration.largestQuota))
            #expect(try reopened.statfs(epoch).blocks > 0)
        }
    }

    @Test func writesCountingAgainstAByteQuotaBypassTheKernelCacheAndKeepODSYNC() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let (_, cached) = try fs.create(parent: epoch, name: "a.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(!cached.directIO, "no quota: the writeback cache")
            fs.release(cached)
            try setQuota(store, files: 100)
            let (_, filesOnly) = try fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(!filesOnly.directIO, "a file quota alone is checked at create")
            fs.release(filesOnly)
            try setQuota(store, bytes: 1 << 20)
            let (plainAttributes, plain) = try fs.create(parent: epoch, name: "c.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            #expect(plain.directIO)
            try fs.put(plain, pattern(100), at: 0)
            #expect(try store.record(plainAttributes.ino)?.size == 0, "written, not yet made durable")
            // O_DSYNC (of the open, or RWF_DSYNC of one write): durable when the write returns.
            _ = try pattern(100).withUnsafeBytes { raw throws(Errno) in try fs.write(plain, offset: 100, bytes: raw, durable: true) }
            #expect(try store.record(plainAttributes.ino)?.size == 200)
            fs.release(plain)
            // A durable write that cannot be made durable fails, and its file is not a finished upload.
            let (failingAttributes, failing) = try fs.create(parent: epoch, name: "e.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.state.withLock { try $0.metadata.database.execute("PRAGMA query_only = ON") }
            #expect(throws: Errno.self) {
                _ = try pattern(100).withUnsafeBytes { raw throws(Errno) in try fs.write(failing, offset: 0, bytes: raw, durable: true) }
            }
            try fs.state.withLock { try $0.metadata.database.execute("PRAGMA query_only = OFF") }
            try fs.flush(failing, caller: alphaCaller)
            fs.release(failing)
            #expect(try store.record(failingAttributes.ino)?.interrupted == true)
            // An existing file opened for writing is direct too; O_TRUNC gives its bytes back.
            let reopened = try fs.open(plainAttributes.ino, flags: O_WRONLY | O_TRUNC, caller: alphaCaller)
            #expect(reopened.directIO)
            try expectCounted(store, entries: 5, bytes: 100, "after O_TRUNC")
            fs.release(reopened)
        }
    }

    @Test func whenTheRowCannotBeWrittenAtCloseTheCountFollowsTheRow() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let (attributes, handle) = try fs.create(parent: epoch, name: "a.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            try fs.put(handle, pattern(5000), at: 0)
            try expectCounted(store, entries: 2, bytes: 5000, "while it is written")
            // Every commit fails from here (as on a full disk): the close cannot record the size.
            try fs.state.withLock { try $0.metadata.database.execute("PRAGMA query_only = ON") }
            _ = try? fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            try fs.state.withLock { try $0.metadata.database.execute("PRAGMA query_only = OFF") }
            fs.forget([(attributes.ino, 1)])
            #expect(try store.record(attributes.ino)?.size == 0, "the row kept the size it had")
            try expectCounted(store, entries: 2, bytes: 0, "the count is what a restart would count")
        }
    }

    @Test func statfsBelowADistrictShowsItsQuota() throws {
        try withStore { store in
            let fs = store.fs
            let disk = try fs.statfs()
            #expect(try fs.statfs(store.districtRoot).blocks == disk.blocks, "no quota: the disk's figures")
            try setQuota(store, bytes: 1 << 20, files: 50)
            let epoch = try store.makeEpoch()
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
