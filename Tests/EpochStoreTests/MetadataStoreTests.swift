@testable import EpochStore
import SQLiteDatabase
import TestSupport
import Testing

@Suite struct MetadataStoreTests {
    private func withStore<T>(_ body: (MetadataStore, String) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/metadata.db"
            return try body(try MetadataStore(path: path, now: 42), path)
        }
    }

    private func directory(_ name: String, in parent: InodeNumber?, zone: Zone = .uploadTree) -> InodeRecord {
        InodeRecord(parent: parent, name: name, kind: .directory, mode: 0o755, uid: 1001, gid: 1001,
                    time: 1, zone: zone, district: 1)
    }

    private func file(_ name: String, in parent: InodeNumber?, size: Int64 = 0, district: Int64 = 1) -> InodeRecord {
        InodeRecord(parent: parent, name: name, kind: .file, mode: 0o644, uid: 1001, gid: 1001, size: size,
                    time: 1, zone: .uploadTree, district: district)
    }

    private func subdirectories(_ store: MetadataStore, _ ino: InodeNumber) throws -> Int64? {
        try store.inode(ino)?.subdirectories
    }

    @Test func newStoreHasRootDirectory() throws {
        try withStore { store, _ throws in
            let root = try #require(try store.inode(.root))
            #expect(root.ino == .root)
            #expect(root.parent == InodeNumber(rawValue: 0))
            #expect(root.name == "")
            #expect(root.kind == .directory)
            #expect(root.mode == 0o755)
            #expect(root.uid == 0 && root.gid == 0)
            #expect(root.zone == .root)
            #expect(root.district == 0)
            #expect(root.mtime == 42 && root.ctime == 42 && root.atime == 42)
            #expect(try store.database.first("SELECT value FROM meta WHERE key = 'schema'") { $0.text(0) } == "5")
        }
    }

    @Test func reopeningKeepsTheOneRoot() throws {
        try withStore { store, path throws in
            try store.insert(file("f", in: .root))
            let again = try MetadataStore(path: path, now: 99)
            #expect(try again.inode(.root)?.mtime == 42)
            #expect(try again.database.first("SELECT count(*) FROM inodes") { $0.int(0) } == 2)
            #expect(try again.child(of: .root, named: "f") != nil)
        }
    }

    @Test func refusesAnUnknownSchemaVersion() throws {
        try withStore { store, path throws in
            try store.database.run("UPDATE meta SET value = '6' WHERE key = 'schema'")
            let error = try #require(throws: DatabaseError.self) { try MetadataStore(path: path, now: 0) }
            #expect(error.message.contains("schema 6"))
        }
    }

    @Test func upgradesASchemaOneStore() throws {
        try withStore { store, path throws in
            let (epoch, nested, loose) = try store.database.transaction {
                let old = try store.insertDistrict(name: "old", uid: 7, gid: 7, now: 1)
                let upload = InodeNumber(rawValue: old.uploadIno)
                let epoch = try store.insert(InodeRecord(parent: upload, name: "1764374400", kind: .directory, mode: 0o755,
                                                         uid: 7, gid: 7, time: 1, zone: .uploadTree, district: old.id))
                let sub = try store.insert(InodeRecord(parent: epoch, name: "sub", kind: .directory, mode: 0o755,
                                                       uid: 7, gid: 7, time: 1, zone: .uploadTree, district: old.id))
                let nested = try store.insert(file("a.csv", in: sub))
                let loose = try store.insert(file("loose.csv", in: upload))
                return (epoch, nested, loose)
            }
            // What a store of schema 1 looked like: no managed_user column, no keys table, no
            // epochs, no quotas.
            try store.database.execute("""
                ALTER TABLE districts DROP COLUMN quota_bytes; ALTER TABLE districts DROP COLUMN quota_files;
                ALTER TABLE districts DROP COLUMN managed_user; DROP TABLE keys;
                DROP INDEX inodes_by_epoch; ALTER TABLE inodes DROP COLUMN epoch; DROP TABLE epochs;
                UPDATE meta SET value = '1' WHERE key = 'schema'
                """)
            let again = try MetadataStore(path: path, now: 99)
            let district = try #require(try again.district(named: "old"))
            #expect(district.managedUser == false)
            #expect(district.quotaBytes == nil && district.quotaFiles == nil)
            #expect(try again.keys(of: district).isEmpty)
            #expect(try again.database.first("SELECT value FROM meta WHERE key = 'schema'") { $0.text(0) } == "5")
            // Directories in upload/ became epochs, left for staff (sealed, unrecognised, with a
            // reason): what is below them belongs to them.
            #expect(try again.epochs().map(\.name) == ["1764374400"])
            #expect(try again.epochs().first?.state == .unrecognised)
            #expect(try again.epochs().first?.sealed != nil)
            #expect(try again.epochs().first?.reason.contains("epochs process") == true)
            #expect(try again.inode(nested)?.epoch == epoch)
            #expect(try again.inode(loose)?.epoch == nil)
            // Its quota counts what upload/ holds: two directories and two (empty) files.
            #expect(try again.uploadUsage()[district.id] == .init(entries: 4, bytes: 0))
        }
    }

    @Test func upgradesASchemaFourStoreWithItsEpochs() throws {
        try withStore { store, path throws in
            let epoch = EpochRecord(ino: InodeNumber(rawValue: 50), district: 1, name: "1764374400", state: .processing,
                                    sealed: 7, attempts: 1)
            try store.insertEpoch(epoch)
            // What a store of schema 4 looked like: no record of a finished hand-off.
            try store.database.execute("ALTER TABLE epochs DROP COLUMN handed_off; UPDATE meta SET value = '4' WHERE key = 'schema'")
            let again = try MetadataStore(path: path, now: 99)
            #expect(try again.epoch(epoch.ino) == epoch)
            var handedOff = epoch
            handedOff.handedOff = "{}"
            try again.updateEpoch(handedOff)
            #expect(try again.epoch(epoch.ino)?.handedOff == "{}")
        }
    }

    @Test func quotasAreStoredAndLifted() throws {
        try withStore { store, path throws in
            let district = try store.database.transaction { try store.insertDistrict(name: "q", uid: 7, gid: 7, now: 1) }
            try store.setQuota(of: district, bytes: 1 << 30, files: nil)
            #expect(try MetadataStore(path: path, now: 2).district(named: "q")?.quotaBytes == 1 << 30)
            try store.setQuota(of: district, bytes: nil, files: 10)
            let stored = try #require(try store.district(id: district.id))
            #expect(stored.quotaBytes == nil && stored.quotaFiles == 10)
        }
    }

    @Test func insertAndFetchRoundTripsEveryField() throws {
        try withStore { store, _ throws in
            var record = InodeRecord(parent: .root, name: "r", kind: .file, mode: 0o640, uid: 7, gid: 8, size: 99,
                                     time: 5, blob: "abc", staged: true, interrupted: true, zone: .processedTree,
                                     district: 3, subdirectories: 0)
            record.mtime = 6
            record.ctime = 7
            record.ino = try store.insert(record)
            #expect(record.ino > .root)
            #expect(try store.inode(record.ino) == record)
            #expect(try store.child(of: .root, named: "r") == record)
            #expect(try store.stagedInodes().map(\.ino) == [record.ino])
        }
    }

    @Test func updateAttributesAndContentWriteTheirFields() throws {
        try withStore { store, _ throws in
            var record = file("f", in: .root, size: 1)
            record.ino = try store.insert(record)
            record.mode = 0o600
            record.uid = 5
            record.gid = 6
            record.size = 10
            record.atime = 100
            record.mtime = 200
            record.ctime = 300
            record.blob = "ignored by updateAttributes"
            try store.updateAttributes(record)
            var stored = try #require(try store.inode(record.ino))
            #expect(stored.mode == 0o600 && stored.uid == 5 && stored.gid == 6 && stored.size == 10)
            #expect(stored.atime == 100 && stored.mtime == 200 && stored.ctime == 300)
            #expect(stored.blob == nil)

            stored.blob = "hash"
            stored.staged = true
            stored.interrupted = true
            stored.size = 20
            stored.mode = 0o777
            try store.updateContent(stored)
            let content = try #require(try store.inode(record.ino))
            #expect(content.blob == "hash" && content.staged && content.interrupted && content.size == 20)
            #expect(content.mode == 0o600)
        }
    }

    @Test func childrenComeInInodeOrderAndPageWithoutGapsOrRepeats() throws {
        try withStore { store, _ throws in
            let dir = try store.insert(directory("d", in: .root))
            var inserted: [(InodeNumber, String)] = []
            for i in (0..<25).reversed() {
                let name = String(format: "name-%02d", i)
                inserted.append((try store.insert(file(name, in: dir)), name))
            }
            try store.insert(file("elsewhere", in: .root))

            let firstPage = try store.children(of: dir, after: InodeNumber(rawValue: 0), limit: 10)
            #expect(firstPage.map(\.name) == inserted.prefix(10).map(\.1))

            var seen: [InodeRecord] = []
            var after = InodeNumber(rawValue: 0)
            while true {
                let page = try store.children(of: dir, after: after, limit: 7)
                #expect(page.count <= 7)
                guard let last = page.last else { break }
                seen += page
                after = last.ino
            }
            #expect(seen.map(\.ino) == inserted.map(\.0))
            #expect(seen.allSatisfy { $0.parent == dir })
            #expect(try store.hasChildren(dir))
            #expect(try !store.hasChildren(inserted[0].0))
        }
    }

    @Test func namesAreUniqueWithinADirectoryOnly() throws {
        try withStore { store, _ throws in
            let a = try store.insert(directory("a", in: .root))
            let b = try store.insert(directory("b", in: .root))
            let first = try store.insert(file("same", in: a))
            let error = try #require(throws: DatabaseError.self) { try store.insert(file("same", in: a)) }
            #expect(error.code == 2067)
            let other = try store.insert(file("same", in: b))
            #expect(try store.child(of: a, named: "same")?.ino == first)
            #expect(try store.child(of: b, named: "same")?.ino == other)
            let orphanA = try store.insert(file("same", in: nil))
            let orphanB = try store.insert(file("same", in: nil))
            #expect(Set(try store.orphanedInodes().map(\.ino)) == [orphanA, orphanB])
        }
    }

    @Test func moveRenamesAndKeepsSubdirectoryCounts() throws {
        try withStore { store, _ throws in
            let a = try store.insert(directory("a", in: .root))
            let b = try store.insert(directory("b", in: .root))
            let sub = try store.insert(directory("sub", in: a))
            let f = try store.insert(file("f", in: a))
            #expect(try subdirectories(store, .root) == 2)
            #expect(try subdirectories(store, a) == 1)
            #expect(try subdirectories(store, b) == 0)

            try store.move(sub, from: a, to: b, name: "moved", isDirectory: true, ctime: 77)
            #expect(try subdirectories(store, a) == 0)
            #expect(try subdirectories(store, b) == 1)
            let moved = try #require(try store.inode(sub))
            #expect(moved.parent == b && moved.name == "moved" && moved.ctime == 77)
            #expect(try store.child(of: a, named: "sub") == nil)
            #expect(try store.child(of: b, named: "moved")?.ino == sub)

            try store.move(sub, from: b, to: b, name: "renamed", isDirectory: true, ctime: 78)
            #expect(try subdirectories(store, b) == 1)

            try store.move(f, from: a, to: b, name: "g", isDirectory: false, ctime: 79)
            #expect(try subdirectories(store, a) == 0)
            #expect(try subdirectories(store, b) == 1)
            #expect(try store.child(of: b, named: "g")?.ino == f)
        }
    }

    @Test func orphanDetachesTheNameButKeepsTheRow() throws {
        try withStore { store, _ throws in
            let dir = try store.insert(directory("d", in: .root))
            let sub = try store.insert(directory("sub", in: dir))
            let f = try store.insert(file("f", in: dir, size: 5))
            try store.orphan(try #require(try store.inode(f)))
            try store.orphan(try #require(try store.inode(sub)))
            #expect(try store.child(of: dir, named: "f") == nil)
            #expect(try store.inode(f)?.parent == nil)
            #expect(try store.inode(f)?.size == 5)
            #expect(try subdirectories(store, dir) == 0)
            #expect(Set(try store.orphanedInodes().map(\.ino)) == [f, sub])
            #expect(try !store.hasChildren(dir))
        }
    }

    @Test func deleteRemovesTheRowAndItsSubdirectoryCount() throws {
        try withStore { store, _ throws in
            let dir = try store.insert(directory("d", in: .root))
            let f = try store.insert(file("f", in: dir))
            #expect(try subdirectories(store, .root) == 1)
            try store.delete(try #require(try store.inode(f)))
            #expect(try store.inode(f) == nil)
            try store.delete(try #require(try store.inode(dir)))
            #expect(try store.inode(dir) == nil)
            #expect(try subdirectories(store, .root) == 0)
        }
    }

    @Test func recountRepairsAWrongSubdirectoryCount() throws {
        try withStore { store, _ throws in
            let dir = try store.insert(directory("d", in: .root))
            try store.insert(directory("x", in: dir))
            try store.insert(directory("y", in: dir))
            try store.insert(file("z", in: dir))
            try store.database.run("UPDATE inodes SET subdirs = 40 WHERE ino = ?", dir.sql)
            try store.recountSubdirectories(of: dir)
            #expect(try subdirectories(store, dir) == 2)
        }
    }

    @Test func descendantsComeDeepestFirstWithoutTheDirectoryItself() throws {
        try withStore { store, _ throws in
            let top = try store.insert(directory("top", in: .root))
            let a = try store.insert(directory("a", in: top))
            let b = try store.insert(directory("b", in: a))
            let c = try store.insert(file("c", in: b))
            let d = try store.insert(file("d", in: top))
            let e = try store.insert(directory("e", in: b))
            let outside = try store.insert(file("outside", in: .root))

            let below = try store.descendants(of: top)
            #expect(Set(below.map(\.ino)) == [a, b, c, d, e])
            #expect(!below.contains { $0.ino == top || $0.ino == outside })
            let position = Dictionary(uniqueKeysWithValues: below.enumerated().map { ($0.element.ino, $0.offset) })
            for record in below {
                if let parent = record.parent, let parentPosition = position[parent] {
                    #expect(position[record.ino]! < parentPosition, "\(record.name) must come before its parent")
                }
            }
            #expect(Set(below.prefix(2).map(\.ino)) == [c, e])
            #expect(Set(below.suffix(2).map(\.ino)) == [a, d])
            #expect(try store.descendants(of: c).isEmpty)
        }
    }

    @Test func blobReferencesAreCountedAndTheLastReleaseDoomsTheBlob() throws {
        try withStore { store, _ throws in
            let hash = String(repeating: "ab", count: 32)
            #expect(try store.retainBlob(hash, size: 10))
            #expect(try !store.retainBlob(hash, size: 10))
            #expect(try store.database.first("SELECT refs FROM blobs WHERE hash = ?", .text(hash)) { $0.int(0) } == 2)
            #expect(try store.blobTotals().count == 1)
            #expect(try store.blobTotals().bytes == 10)

            #expect(try !store.releaseBlob(hash))
            #expect(try store.blobExists(hash))
            #expect(try store.doomedBlobs().isEmpty)

            #expect(try store.releaseBlob(hash))
            #expect(try !store.blobExists(hash))
            #expect(try store.doomedBlobs() == [hash])
            #expect(try store.blobTotals().count == 0)

            #expect(try !store.releaseBlob("unknown"))
            #expect(try store.doomedBlobs() == [hash])

            #expect(try store.retainBlob(hash, size: 10))
            #expect(try store.doomedBlobs().isEmpty)
            #expect(try store.releaseBlob(hash))
            try store.forgetDoomed([hash])
            #expect(try store.doomedBlobs().isEmpty)
        }
    }

    @Test func districtsGetTheirThreeDirectories() throws {
        try withStore { store, _ throws in
            let beta = try store.database.transaction { try store.insertDistrict(name: "beta", uid: 2001, gid: 2002, now: 50) }
            let alpha = try store.database.transaction { try store.insertDistrict(name: "alpha", uid: 1001, gid: 1002, now: 60) }
            #expect(try store.districts().map(\.name) == ["alpha", "beta"])
            #expect(try store.district(named: "alpha") == alpha)
            #expect(try store.district(id: beta.id) == beta)
            #expect(try store.district(named: "gamma") == nil)
            #expect(alpha.id != beta.id)
            #expect(alpha.uid == 1001 && alpha.gid == 1002 && alpha.created == 60)

            let root = try #require(try store.inode(InodeNumber(rawValue: alpha.rootIno)))
            #expect(root.parent == .root && root.name == "alpha" && root.zone == .districtRoot)
            #expect(root.uid == 0 && root.gid == 0 && root.mode == 0o755 && root.district == alpha.id)
            #expect(root.subdirectories == 2)
            let upload = try #require(try store.inode(InodeNumber(rawValue: alpha.uploadIno)))
            #expect(upload.parent == root.ino && upload.name == "upload" && upload.zone == .upload)
            #expect(upload.uid == 1001 && upload.gid == 1002 && upload.mode == 0o750 && upload.district == alpha.id)
            let processed = try #require(try store.inode(InodeNumber(rawValue: alpha.processedIno)))
            #expect(processed.parent == root.ino && processed.name == "upload-processed" && processed.zone == .processed)
            #expect(processed.uid == 0 && processed.district == alpha.id)

            let top = try #require(try store.inode(.root))
            #expect(top.subdirectories == 2)
            #expect(top.mtime == 60)

            try store.deleteDistrictRow(beta)
            #expect(try store.district(named: "beta") == nil)
            #expect(try store.districts() == [alpha])
        }
    }

    @Test func districtUsageCountsNamedFilesOnly() throws {
        try withStore { store, _ throws in
            let alpha = try store.database.transaction { try store.insertDistrict(name: "alpha", uid: 1, gid: 1, now: 1) }
            let beta = try store.database.transaction { try store.insertDistrict(name: "beta", uid: 2, gid: 2, now: 1) }
            let upload = InodeNumber(rawValue: alpha.uploadIno)
            let epoch = try store.insert(InodeRecord(parent: upload, name: "1764374400", kind: .directory, mode: 0o755,
                                                     uid: 1, gid: 1, time: 1, zone: .uploadTree, district: alpha.id))
            try store.insert(file("a.csv", in: epoch, size: 10, district: alpha.id))
            try store.insert(file("b.csv", in: upload, size: 20, district: alpha.id))
            try store.insert(file("log", in: InodeNumber(rawValue: alpha.processedIno), size: 5, district: alpha.id))
            try store.insert(file("unlinked", in: nil, size: 1000, district: alpha.id))
            let usage = try store.districtUsage(alpha)
            #expect(usage.files == 3)
            #expect(usage.bytes == 35)
            let empty = try store.districtUsage(beta)
            #expect(empty.files == 0 && empty.bytes == 0)
        }
    }
}
