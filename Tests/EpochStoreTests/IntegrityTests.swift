@testable import EpochStore
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `epochfs fsck`'s checks against a store whose files and rows were damaged on purpose.
@Suite struct IntegrityTests {
    /// A store with one district and `files` published files (name, bytes) in one epoch.
    private func makeStore(_ root: String, files: [(String, [UInt8])]) throws -> (MetadataStore, BlobStore, [InodeNumber]) {
        let blobs = try BlobStore(root: root)
        let metadata = try MetadataStore(path: root + "/metadata.db", now: 1)
        let inodes = try metadata.database.transaction {
            let district = try metadata.insertDistrict(name: "alpha", uid: 7, gid: 7, now: 1)
            let epoch = try metadata.insert(InodeRecord(parent: InodeNumber(rawValue: district.uploadIno), name: "1764374400",
                                                        kind: .directory, mode: 0o755, uid: 7, gid: 7, time: 1,
                                                        zone: .uploadTree, district: district.id), isEpoch: true)
            return try files.map { name, bytes in
                let hash = try blobs.store(bytes)
                try metadata.retainBlob(hash, size: Int64(bytes.count))
                return try metadata.insert(InodeRecord(parent: epoch, name: name, kind: .file, mode: 0o644, uid: 7, gid: 7,
                                                       size: Int64(bytes.count), time: 1, blob: hash, zone: .uploadTree,
                                                       district: district.id, epoch: epoch))
            }
        }
        return (metadata, blobs, inodes)
    }

    @Test func aHealthyStoreHasNothingToReport() throws {
        try withTemporaryDirectory { root in
            let (metadata, blobs, _) = try makeStore(root, files: [("a.csv", pattern(5000)), ("b.csv", pattern(7000, seed: 1))])
            var progress: [Int64] = []
            let findings = try IntegrityCheck(blobs: blobs).check(try IntegritySnapshot(metadata), live: false) { done, _ in
                progress.append(done)
            }
            #expect(findings.isEmpty, "\(findings)")
            #expect(progress.last == 12_000)
        }
    }

    @Test func damageIsFoundNamedAndRepairedWhereItCanBe() throws {
        try withTemporaryDirectory { root in
            let shared = pattern(3000, seed: 2)
            let (metadata, blobs, _) = try makeStore(root, files: [
                ("students.csv", pattern(5000)), ("schools.csv", shared), ("copy.csv", shared), ("odd.csv", pattern(100, seed: 3)),
            ])
            let damaged = sha256Hex(pattern(5000))
            // A flipped byte in a blob (the file is read-only: the store's owner writes anyway).
            try Sys.chmod(blobs.blobPath(damaged), 0o644)
            let fd = try Sys.open(blobs.blobPath(damaged), O_WRONLY)
            try pwrite(fd, [0xff], at: 10)
            Sys.close(fd)
            // A wrong reference count, a blob file nothing lists, a leftover write, a staging
            // file of no file, and an intact blob whose row was lost.
            try metadata.database.run("UPDATE blobs SET refs = 5 WHERE hash = ?", .text(sha256Hex(shared)))
            let stray = try blobs.store(pattern(400, seed: 9))
            try writeFile(blobs.blobPath(stray) + "x.new", [1, 2, 3])
            try writeFile(blobs.stagingPath(InodeNumber(rawValue: 999_999)), [1])
            let lost = sha256Hex(pattern(100, seed: 3))
            try metadata.database.run("DELETE FROM blobs WHERE hash = ?", .text(lost))

            let check = IntegrityCheck(blobs: blobs)
            var findings = try check.check(try IntegritySnapshot(metadata), live: false)
            try IntegrityCheck.describe(&findings, metadata)
            let byCode = Dictionary(grouping: findings, by: \.code)
            #expect(Set(byCode.keys) == ["blob.corrupt", "blob.refs", "blob.unlisted", "blob.temporary", "staging.orphan", "blob.dangling"],
                    "\(findings)")
            #expect(byCode["blob.corrupt"]?.first?.affected == ["/alpha/upload/1764374400/students.csv"])
            #expect(byCode["blob.refs"]?.first?.affected.sorted() == ["/alpha/upload/1764374400/copy.csv", "/alpha/upload/1764374400/schools.csv"])
            #expect(byCode["blob.dangling"]?.first?.repairable == true)

            try check.repair(&findings, metadata)
            #expect(findings.filter { !$0.repaired }.map(\.code) == ["blob.corrupt"], "only the damaged bytes cannot be repaired")
            var again = try check.check(try IntegritySnapshot(metadata), live: false)
            try IntegrityCheck.describe(&again, metadata)
            #expect(again.map(\.code) == ["blob.corrupt"], "\(again)")
            #expect(try metadata.database.first("SELECT refs FROM blobs WHERE hash = ?", .text(sha256Hex(shared))) { $0.int(0) } == 2)
            #expect(try !blobs.blobExists(stray))
        }
    }
}
