@testable import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RecoveryTests {
    private struct Store {
        let metadata: MetadataStore
        let blobs: BlobStore
        let district: DistrictRecord
        var upload: InodeNumber { InodeNumber(rawValue: district.uploadIno) }

        func recover() throws -> Recovery.Report {
            try Recovery.run(metadata: metadata, blobs: blobs, logger: quietLogger)
        }

        /// A file row below `upload/`.
        func insertFile(_ name: String?, size: Int64, blob: String? = nil, staged: Bool = false,
                        interrupted: Bool = false) throws -> InodeNumber {
            try metadata.insert(InodeRecord(parent: name == nil ? nil : upload, name: name ?? "unlinked", kind: .file,
                                            mode: 0o644, uid: 1001, gid: 1001, size: size, time: 1, blob: blob,
                                            staged: staged, interrupted: interrupted, zone: .uploadTree,
                                            district: district.id))
        }

        /// Puts `bytes` in the blob store (file and reference) and returns the hash.
        func storeBlob(_ bytes: [UInt8]) throws -> String {
            let hash = sha256Hex(bytes)
            let scratch = InodeNumber(rawValue: 900_000)
            try stage(scratch, bytes)
            try blobs.publish(scratch, as: hash)
            try metadata.retainBlob(hash, size: Int64(bytes.count))
            return hash
        }

        func stage(_ ino: InodeNumber, _ bytes: [UInt8], at offset: Int64 = 0) throws {
            let fd = try blobs.createStaging(ino)
            defer { Sys.close(fd) }
            try pwrite(fd, bytes, at: offset)
        }
    }

    private func withStore<T>(_ body: (Store) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let metadata = try MetadataStore(path: dir + "/metadata.db", now: 1)
            let blobs = try BlobStore(root: dir)
            let district = try metadata.database.transaction {
                try metadata.insertDistrict(name: "alpha", uid: 1001, gid: 1001, now: 1)
            }
            return try body(Store(metadata: metadata, blobs: blobs, district: district))
        }
    }

    @Test func cleanStoreIsLeftAlone() throws {
        try withStore { store throws in
            let hash = try store.storeBlob(pattern(100))
            let ino = try store.insertFile("kept", size: 100, blob: hash)
            #expect(try store.recover() == Recovery.Report())
            #expect(try store.metadata.inode(ino)?.blob == hash)
            #expect(try store.blobs.blobExists(hash))
        }
    }

    @Test func orphanRowsAreRemovedAndTheirBlobReferencesDropped() throws {
        try withStore { store throws in
            let lonely = try store.storeBlob(pattern(100, seed: 1))
            let shared = try store.storeBlob(pattern(100, seed: 2))
            try store.metadata.retainBlob(shared, size: 100)
            let kept = try store.insertFile("kept", size: 100, blob: shared)
            let orphanA = try store.insertFile(nil, size: 100, blob: lonely)
            let orphanB = try store.insertFile(nil, size: 100, blob: shared)
            let orphanStaged = try store.insertFile(nil, size: 3, staged: true)
            try store.stage(orphanStaged, [1, 2, 3])

            let report = try store.recover()

            #expect(report.orphansRemoved == 3)
            #expect(report.blobsRemoved == 1)
            #expect(try store.metadata.inode(orphanA) == nil)
            #expect(try store.metadata.inode(orphanB) == nil)
            #expect(try store.metadata.inode(orphanStaged) == nil)
            #expect(try store.metadata.orphanedInodes().isEmpty)
            #expect(try !store.metadata.blobExists(lonely))
            #expect(try !store.blobs.blobExists(lonely))
            #expect(try store.metadata.database.first("SELECT refs FROM blobs WHERE hash = ?", .text(shared)) { $0.int(0) } == 1)
            #expect(try store.blobs.blobExists(shared))
            #expect(try store.metadata.inode(kept)?.blob == shared)
            #expect(try store.blobs.stagingFiles().isEmpty)
            #expect(try store.metadata.doomedBlobs().isEmpty)
        }
    }

    @Test func stagedFileWithAHoleIsCutAtTheHoleAndMarkedInterrupted() throws {
        try withStore { store throws in
            let head = pattern(8192, seed: 3)
            let total: Int64 = 65536 + 4096
            let ino = try store.insertFile("upload.csv", size: total, staged: true)
            try store.stage(ino, head)
            let fd = try store.blobs.openStaging(ino)
            try pwrite(fd, pattern(4096, seed: 4), at: 65536)
            Sys.close(fd)

            let report = try store.recover()

            #expect(report.stagingFilesRecovered == 1)
            #expect(report.stagingFilesRemoved == 0)
            #expect(try fileSize(store.blobs.stagingPath(ino)) == 8192)
            #expect(try readFile(store.blobs.stagingPath(ino)) == head)
            let record = try #require(try store.metadata.inode(ino))
            #expect(record.size == 8192)
            #expect(record.staged)
            #expect(record.interrupted)
            #expect(record.blob == nil)
        }
    }

    @Test func stagedFileWithoutHolesKeepsItsSizeAndIsMarkedInterrupted() throws {
        try withStore { store throws in
            let content = pattern(5000, seed: 5)
            let ino = try store.insertFile("partial.csv", size: 0, staged: true)
            try store.stage(ino, content)
            let report = try store.recover()
            #expect(report.stagingFilesRecovered == 1)
            let record = try #require(try store.metadata.inode(ino))
            #expect(record.size == 5000)
            #expect(record.interrupted)
            #expect(try readFile(store.blobs.stagingPath(ino)) == content)
            #expect(try store.recover() == Recovery.Report(stagingFilesRecovered: 1))
        }
    }

    @Test func stagingFileWithoutAStagedRowIsDeleted() throws {
        try withStore { store throws in
            try store.stage(InodeNumber(rawValue: 4242), pattern(10))
            let hash = try store.storeBlob(pattern(20, seed: 1))
            let published = try store.insertFile("published", size: 20, blob: hash)
            try store.stage(published, pattern(30, seed: 2))

            let report = try store.recover()

            #expect(report.stagingFilesRemoved == 2)
            #expect(report.blobsCompleted == 0)
            #expect(try store.blobs.stagingFiles().isEmpty)
            #expect(try readFile(store.blobs.blobPath(hash)) == pattern(20, seed: 1))
            #expect(try store.metadata.inode(published)?.blob == hash)
        }
    }

    @Test func committedPublishWhoseRenameWasLostIsCompleted() throws {
        try withStore { store throws in
            let content = pattern(3000, seed: 6)
            let hash = sha256Hex(content)
            try store.metadata.retainBlob(hash, size: 3000)
            let ino = try store.insertFile("done.csv", size: 3000, blob: hash)
            try store.stage(ino, content)
            #expect(try !store.blobs.blobExists(hash))

            let report = try store.recover()

            #expect(report.blobsCompleted == 1)
            #expect(report.stagingFilesRemoved == 0)
            #expect(try store.blobs.stagingFiles().isEmpty)
            #expect(try readFile(store.blobs.blobPath(hash)) == content)
            #expect(try permissionBits(store.blobs.blobPath(hash)) == 0o444)
            #expect(try store.metadata.inode(ino)?.staged == false)
        }
    }

    @Test func doomedBlobsAreDeleted() throws {
        try withStore { store throws in
            let hash = try store.storeBlob(pattern(64, seed: 7))
            #expect(try store.metadata.releaseBlob(hash))
            #expect(try store.blobs.blobExists(hash))

            let report = try store.recover()

            #expect(report.blobsRemoved == 1)
            #expect(try !store.blobs.blobExists(hash))
            #expect(try store.metadata.doomedBlobs().isEmpty)
        }
    }

    @Test func doomedEntryOfAReferencedBlobKeepsTheFile() throws {
        try withStore { store throws in
            let hash = try store.storeBlob(pattern(64, seed: 8))
            _ = try store.insertFile("uses-it", size: 64, blob: hash)
            try store.metadata.database.run("INSERT INTO doomed_blobs(hash) VALUES (?)", .text(hash))

            let report = try store.recover()

            #expect(report.blobsRemoved == 0)
            #expect(try store.blobs.blobExists(hash))
            #expect(try store.metadata.doomedBlobs().isEmpty)
        }
    }

    @Test func stagedRowWithoutItsFileBecomesAnEmptyInterruptedFile() throws {
        try withStore { store throws in
            let ino = try store.insertFile("lost.csv", size: 500, staged: true)
            _ = try store.recover()
            let record = try #require(try store.metadata.inode(ino))
            #expect(record.size == 0)
            #expect(record.interrupted)
            #expect(record.staged)
            #expect(try fileSize(store.blobs.stagingPath(ino)) == 0)
        }
    }

    @Test func unsyncedBlobThatReachedTheDiskIsKeptAndForgotten() throws {
        try withStore { store in
            let hash = try store.storeBlob(pattern(5000))
            let ino = try store.insertFile("kept.csv", size: 5000, blob: hash)
            #expect(try store.metadata.unsyncedBlobs(limit: 10) == [hash])
            let report = try store.recover()
            #expect(report.blobsDamaged == 0)
            #expect(try store.metadata.unsyncedBlobs(limit: 10).isEmpty)
            #expect(try store.metadata.inode(ino)?.blob == hash)
            #expect(try store.blobs.blobExists(hash))
        }
    }

    @Test func unsyncedBlobWhoseBytesAreWrongEmptiesItsFiles() throws {
        try withStore { store in
            let content = pattern(5000, seed: 3)
            let hash = try store.storeBlob(content)
            let first = try store.insertFile("a.csv", size: 5000, blob: hash)
            let second = try store.insertFile("b.csv", size: 5000, blob: hash)
            try store.metadata.retainBlob(hash, size: 5000)
            // A power cut lost the blob's data: the file holds zeros where the bytes should be.
            let path = store.blobs.blobPath(hash)
            #expect(chmod(path, 0o644) == 0)
            try writeFile(path, [UInt8](repeating: 0, count: 5000))

            let report = try store.recover()

            #expect(report.blobsDamaged == 1)
            #expect(try !store.blobs.blobExists(hash))
            #expect(try !store.metadata.blobExists(hash))
            for ino in [first, second] {
                let record = try #require(try store.metadata.inode(ino))
                #expect(record.blob == nil)
                #expect(record.staged)
                #expect(record.interrupted)
                #expect(record.size == 0)
                #expect(try fileSize(store.blobs.stagingPath(ino)) == 0)
            }
            #expect(try store.metadata.unsyncedBlobs(limit: 10).isEmpty)
        }
    }
}
