import Crypto
@testable import EpochStore
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct BlobStoreTests {
    private func withBlobs<T>(_ body: (BlobStore) throws -> T) throws -> T {
        try withTemporaryDirectory { dir in try body(try BlobStore(root: dir)) }
    }

    /// Puts `bytes` into the staging file of `ino`.
    private func stage(_ blobs: BlobStore, _ ino: InodeNumber, _ bytes: [UInt8]) throws {
        let fd = try blobs.createStaging(ino)
        defer { Sys.close(fd) }
        try pwrite(fd, bytes, at: 0)
    }

    @Test func createsItsDirectoriesPrivately() throws {
        try withBlobs { blobs throws in
            #expect(try permissionBits(blobs.blobsDirectory) == 0o700)
            #expect(try permissionBits(blobs.stagingDirectory) == 0o700)
            #expect(blobs.blobsDirectory == blobs.root + "/blobs")
            #expect(blobs.stagingDirectory == blobs.root + "/staging")
            _ = try BlobStore(root: blobs.root)
        }
    }

    @Test func makingBlobsDurableSkipsDeletedOnesAndFailsOnOnesItCannotOpen() throws {
        try withBlobs { blobs throws in
            let gone = "ab" + String(repeating: "1", count: 62)
            try blobs.makeDurable([gone])  // deleted since it was published: nothing to sync
            // A blob that is there but cannot be opened (here a link to itself; in life, no
            // descriptor left) is not durable, and the caller must not think it is.
            let unopenable = "cd" + String(repeating: "2", count: 62)
            #expect(symlink(blobs.blobPath(unopenable), blobs.blobPath(unopenable)) == 0)
            #expect(throws: SystemError.self) { try blobs.makeDurable([unopenable]) }
        }
    }

    /// Two threads storing the same bytes at once (two districts' identical SHA256SUMS) never
    /// let the blob be seen short: each write goes through a temporary file of its own.
    @Test func storingTheSameBytesAtOnceNeverTruncatesTheBlob() throws {
        try withTemporaryDirectory { root in
            let blobs = try BlobStore(root: root)
            let bytes = pattern(1 << 20, seed: 9)
            let hash = sha256Hex(bytes)
            let path = blobs.blobPath(hash)
            let writing = Atomic(2)
            let shortSeen = Atomic(0)
            let failures = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: 3) { worker in
                if worker < 2 {
                    for _ in 0..<40 where (try? blobs.store(bytes)) == nil { failures.add(1, ordering: .relaxed) }
                    writing.subtract(1, ordering: .relaxed)
                    return
                }
                while writing.load(ordering: .relaxed) > 0 {
                    if let size = try? Sys.status(path)?.st_size, size != bytes.count { shortSeen.add(1, ordering: .relaxed) }
                }
            }
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(shortSeen.load(ordering: .relaxed) == 0)
            #expect(try readFile(path) == bytes)
            #expect(try Sys.listDirectory(blobs.blobsDirectory + "/" + hash.prefix(2)) == [hash], "no temporary file left")
        }
    }

    @Test func pathsAreShardedByTheFirstTwoHexDigits() throws {
        try withBlobs { blobs throws in
            let hash = "9f" + String(repeating: "0", count: 62)
            #expect(blobs.blobPath(hash) == "\(blobs.root)/blobs/9f/\(hash)")
            #expect(blobs.stagingPath(InodeNumber(rawValue: 1234)) == "\(blobs.root)/staging/1234")
        }
    }

    @Test func stagingFilesAreCreatedListedAndRemoved() throws {
        try withBlobs { blobs throws in
            #expect(try blobs.stagingFiles().isEmpty)
            try stage(blobs, InodeNumber(rawValue: 7), [1, 2, 3])
            try stage(blobs, InodeNumber(rawValue: 12), [])
            try writeFile(blobs.stagingDirectory + "/not-an-inode", [0])
            #expect(Set(try blobs.stagingFiles()) == [InodeNumber(rawValue: 7), InodeNumber(rawValue: 12)])
            #expect(try permissionBits(blobs.stagingPath(InodeNumber(rawValue: 7))) == 0o444)

            let fd = try blobs.openStaging(InodeNumber(rawValue: 7))
            #expect(try readAll(fd) == [1, 2, 3])
            Sys.close(fd)

            let emptied = try blobs.createStaging(InodeNumber(rawValue: 7))
            #expect(try Sys.fstat(emptied).st_size == 0)
            Sys.close(emptied)

            try blobs.removeStaging(InodeNumber(rawValue: 7))
            try blobs.removeStaging(InodeNumber(rawValue: 7))
            #expect(try blobs.stagingFiles() == [InodeNumber(rawValue: 12)])
            let error = try #require(throws: SystemError.self) { try blobs.openStaging(InodeNumber(rawValue: 7)) }
            #expect(error.errno == ENOENT)
            #expect(error.call == "open")
            #expect(error.subject == blobs.stagingPath(InodeNumber(rawValue: 7)))
        }
    }

    @Test func publishRenamesTheStagingFileIntoAReadOnlyBlob() throws {
        try withBlobs { blobs throws in
            let ino = InodeNumber(rawValue: 42)
            let content = pattern(10_000)
            let hash = sha256Hex(content)
            let fd = try blobs.createStaging(ino)
            defer { Sys.close(fd) }
            try pwrite(fd, content, at: 0)
            let stagedInode = try #require(try Sys.status(blobs.stagingPath(ino))).st_ino

            try blobs.publish(ino, as: hash)

            #expect(try Sys.status(blobs.stagingPath(ino)) == nil)
            let blob = try #require(try Sys.status(blobs.blobPath(hash)))
            #expect(blob.st_ino == stagedInode)
            #expect(UInt32(blob.st_mode) & 0o7777 == 0o444)
            #expect(try blobs.blobExists(hash))
            #expect(try readFile(blobs.blobPath(hash)) == content)
            #expect(try readAll(fd) == content)

            let blobFD = try blobs.openBlob(hash)
            #expect(try readAll(blobFD) == content)
            Sys.close(blobFD)
        }
    }

    @Test func publishOfAnExistingBlobDropsTheStagingFile() throws {
        try withBlobs { blobs throws in
            let content = pattern(5000)
            let hash = sha256Hex(content)
            try stage(blobs, InodeNumber(rawValue: 1), content)
            try blobs.publish(InodeNumber(rawValue: 1), as: hash)
            let original = try #require(try Sys.status(blobs.blobPath(hash))).st_ino

            try stage(blobs, InodeNumber(rawValue: 2), pattern(5000, seed: 9))
            try blobs.publish(InodeNumber(rawValue: 2), as: hash)

            #expect(try Sys.status(blobs.stagingPath(InodeNumber(rawValue: 2))) == nil)
            #expect(try Sys.status(blobs.blobPath(hash))?.st_ino == original)
            #expect(try readFile(blobs.blobPath(hash)) == content)
            #expect(try blobs.stagingFiles().isEmpty)
            let shard = try Sys.listDirectory(blobs.blobsDirectory + "/" + String(hash.prefix(2)))
            #expect(shard == [hash])
        }
    }

    @Test func removeBlobDeletesTheFileAndToleratesAbsence() throws {
        try withBlobs { blobs throws in
            let content: [UInt8] = Array("x".utf8)
            let hash = sha256Hex(content)
            try stage(blobs, InodeNumber(rawValue: 3), content)
            try blobs.publish(InodeNumber(rawValue: 3), as: hash)
            try blobs.removeBlob(hash)
            #expect(try !blobs.blobExists(hash))
            try blobs.removeBlob(hash)
            #expect(throws: SystemError.self) { try blobs.openBlob(hash) }
        }
    }

    @Test func hashOfARangeMatchesAndAShortFileIsAnError() throws {
        try withTemporaryDirectory { dir throws in
            let content = pattern(3 << 20 | 123)
            let path = dir + "/data"
            try writeFile(path, content)
            let fd = try Sys.open(path, O_RDONLY)
            defer { Sys.close(fd) }
            var whole = SHA256()
            try BlobStore.hash(fd: fd, from: 0, to: Int64(content.count), into: &whole)
            #expect(whole.finalize().hex == sha256Hex(content))
            var middle = SHA256()
            try BlobStore.hash(fd: fd, from: 1000, to: 2_000_000, into: &middle)
            #expect(middle.finalize().hex == sha256Hex(Array(content[1000..<2_000_000])))
            var beyond = SHA256()
            let error = try #require(throws: SystemError.self) {
                try BlobStore.hash(fd: fd, from: 0, to: Int64(content.count) + 1, into: &beyond)
            }
            #expect(error.errno == EIO)
        }
    }

    @Test func hexIsLowercaseSHA256() {
        #expect(SHA256.hash(data: Array("abc".utf8)).hex
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash(data: [UInt8]()).hex
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
