@testable import EpochFS
import EpochStore
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DistrictTests {
    @Test func addedDistrictAppearsWithItsTree() throws {
        try withStore { store throws in
            let fs = store.fs
            let notifier = RecordingNotifier()
            fs.notifier = notifier
            let beta = try store.administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID, managedUser: false)
            #expect(try store.administration.districts().map(\.name) == ["alpha", "beta"])
            #expect(try fs.lookup(parent: .root, name: "beta").ino == InodeNumber(rawValue: beta.rootIno))
            let upload = try fs.lookup(parent: InodeNumber(rawValue: beta.rootIno), name: "upload")
            #expect(upload.ino == InodeNumber(rawValue: beta.uploadIno))
            #expect(upload.uid == betaUID)
            #expect(try fs.getattr(.root).nlink == 4)
            #expect(notifier.events.withLock { $0 } == ["entry 1/beta", "inode 1"])
        }
    }

    @Test func badOrDuplicateNamesAreRefused() throws {
        try withStore { store throws in
            let administration = store.administration
            for name in ["", "Beta", "1st", "a/b", "a.b", String(repeating: "x", count: 33), "caf\u{e9}"] {
                #expect(throws: AdminError.self, "\(name)") { try administration.addDistrict(name: name, uid: 1, gid: 1, managedUser: false) }
            }
            _ = try administration.addDistrict(name: "_svc-2", uid: 5, gid: 5, managedUser: false)
            _ = try administration.addDistrict(name: String(repeating: "x", count: 32), uid: 6, gid: 6)
            let duplicate = try #require(throws: AdminError.self) { try administration.addDistrict(name: "alpha", uid: 9, gid: 9, managedUser: false) }
            #expect(duplicate.message.contains("exists already"))
            #expect(try administration.districts().count == 3)
        }
    }

    @Test func removingADistrictThatHoldsFilesIsRefused() throws {
        try withStore { store throws in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "e", mode: 0o755, caller: alphaCaller).ino
            let file = try fs.makeFile(in: epoch, "students.csv", bytes("1,2,3"))
            let error = try #require(throws: AdminError.self) { try store.administration.removeDistrict(name: "alpha", deleteData: false) }
            #expect(error.message.contains("1 files and 1 directories"))
            #expect(try store.administration.districts().map(\.name) == ["alpha"])
            #expect(try fs.contents(file) == bytes("1,2,3"))
            #expect(try fs.lookup(parent: .root, name: "alpha").ino == store.districtRoot)
        }
    }

    @Test func removingADistrictWithAnEmptyDirectoryIsRefusedToo() throws {
        try withStore { store throws in
            _ = try store.fs.mkdir(parent: store.processed, name: "old", mode: 0o755, caller: rootCaller)
            #expect(throws: AdminError.self) { try store.administration.removeDistrict(name: "alpha", deleteData: false) }
            #expect(try store.administration.districts().count == 1)
        }
    }

    @Test func removingAnEmptyDistrictDeletesItsTree() throws {
        try withStore { store throws in
            let fs = store.fs
            let notifier = RecordingNotifier()
            fs.notifier = notifier
            try store.administration.removeDistrict(name: "alpha", deleteData: false)
            #expect(try store.administration.districts().isEmpty)
            #expect(throws: Errno.noEntry) { try fs.lookup(parent: .root, name: "alpha") }
            #expect(throws: Errno.noEntry) { try fs.getattr(store.upload) }
            #expect(throws: Errno.noEntry) { try fs.getattr(store.districtRoot) }
            #expect(try fs.getattr(.root).nlink == 2)
            #expect(try store.names(.root).isEmpty)
            #expect(notifier.events.withLock { $0 } == ["entry 1/alpha", "inode 1"])
            let missing = try #require(throws: AdminError.self) { try store.administration.removeDistrict(name: "alpha", deleteData: false) }
            #expect(missing.message.contains("no district 'alpha'"))
        }
    }

    @Test func removingWithDeleteDataDropsFilesAndUnsharedBlobs() throws {
        try withStore { store throws in
            let fs = store.fs
            let beta = try store.administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID, managedUser: false)
            let shared = pattern(3000, seed: 1)
            let own = pattern(3000, seed: 2)
            let epoch = try fs.mkdir(parent: store.upload, name: "e", mode: 0o755, caller: alphaCaller).ino
            let alphaFiles = [try fs.makeFile(in: epoch, "shared.csv", shared), try fs.makeFile(in: epoch, "own.csv", own)]
            let log = try fs.makeFile(in: store.processed, "log", bytes("log"), caller: rootCaller)
            let betaFile = try fs.makeFile(in: InodeNumber(rawValue: beta.uploadIno), "shared.csv", shared, caller: betaCaller)
            let (partial, handle) = try fs.create(parent: epoch, name: "partial.csv", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(100), at: 0)
            fs.release(handle)
            fs.forget([(partial.ino, 1)])
            #expect(try store.stagingFiles() == [partial.ino])

            try store.administration.removeDistrict(name: "alpha", deleteData: true)

            #expect(try store.administration.districts().map(\.name) == ["beta"])
            #expect(try store.stagingFiles().isEmpty)
            for ino in alphaFiles + [log, partial.ino, epoch, store.upload, store.processed, store.districtRoot] {
                #expect(try store.record(ino) == nil)
            }
            #expect(try store.blobFiles() == [sha256Hex(shared)])
            #expect(try store.blobReferences(sha256Hex(shared)) == 1)
            #expect(try store.doomedBlobs().isEmpty)
            #expect(try fs.contents(betaFile) == shared)
        }
    }

    @Test func aDistrictAddedAgainSeesNothingOfTheOldOne() throws {
        try withStore { store throws in
            let fs = store.fs
            let old = try fs.makeFile(in: store.upload, "secret.csv", bytes("old data"))
            _ = try fs.makeFile(in: store.processed, "log", bytes("log"), caller: rootCaller)
            try store.administration.removeDistrict(name: "alpha", deleteData: true)

            let again = try store.administration.addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID, managedUser: false)
            #expect(again.id != store.alpha.id)
            #expect(again.rootIno != store.alpha.rootIno)
            #expect(again.uploadIno != store.alpha.uploadIno)
            let upload = InodeNumber(rawValue: again.uploadIno)
            #expect(try store.names(upload).isEmpty)
            #expect(try store.names(InodeNumber(rawValue: again.processedIno)).isEmpty)
            #expect(throws: Errno.noEntry) { try fs.lookup(parent: upload, name: "secret.csv") }
            #expect(throws: Errno.noEntry) { try fs.getattr(old) }
            #expect(throws: Errno.noEntry) { try fs.open(old, flags: O_RDONLY, caller: alphaCaller) }
            let usage = try store.administration.usage(of: again)
            #expect(usage.files == 0 && usage.bytes == 0)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func removingADistrictWhileAFileIsOpenKeepsItReadableUntilClosed() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(2000, seed: 3)
            let ino = try fs.makeFile(in: store.upload, "f", content)
            let handle = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            try store.administration.removeDistrict(name: "alpha", deleteData: true)
            #expect(try fs.readAll(handle) == content)
            fs.release(handle)
            #expect(try store.record(ino) == nil)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func usageCountsFilesAndBytes() throws {
        try withStore { store throws in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "e", mode: 0o755, caller: alphaCaller).ino
            _ = try fs.makeFile(in: epoch, "a", pattern(10))
            _ = try fs.makeFile(in: store.upload, "b", pattern(20))
            _ = try fs.makeFile(in: store.processed, "c", pattern(30), caller: rootCaller)
            let usage = try store.administration.usage(of: store.alpha)
            #expect(usage.files == 3)
            #expect(usage.bytes == 60)
        }
    }

    @Test func controlRequestsAddAndRemoveDistricts() throws {
        try withStore { store throws in
            let administration = store.administration
            let added = administration.perform(.addDistrict(name: "gamma", uid: 3001, gid: 3002, managedUser: false))
            #expect(added.ok)
            #expect(added.district?.name == "gamma")
            #expect(added.district?.uid == 3001 && added.district?.gid == 3002)
            let duplicate = administration.perform(.addDistrict(name: "gamma", uid: 3001, gid: 3002, managedUser: false))
            #expect(!duplicate.ok)
            #expect(duplicate.message.contains("exists already"))
            let removed = administration.perform(.removeDistrict(name: "gamma", deleteData: false))
            #expect(removed.ok)
            let missing = administration.perform(.removeDistrict(name: "gamma", deleteData: false))
            #expect(!missing.ok)
            #expect(try administration.districts().map(\.name) == ["alpha"])
        }
    }

    @Test func controlSocketCarriesRequestsToTheFileSystem() throws {
        try withStore { store throws in
            let paths = StorePaths(root: store.root)
            let server = try ControlServer(path: paths.controlSocket, administration: store.administration, logger: quietLogger)
            try server.start()
            defer { server.stop() }
            let response = try ControlClient.send(.addDistrict(name: "delta", uid: 4001, gid: 4001, managedUser: false), socket: paths.controlSocket)
            #expect(response.ok)
            #expect(response.district?.name == "delta")
            #expect(try store.administration.districts().map(\.name) == ["alpha", "delta"])
            let refused = try ControlClient.send(.removeDistrict(name: "nope", deleteData: false), socket: paths.controlSocket)
            #expect(!refused.ok)
        }
    }
}
