@testable import EpochFS
import EpochStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Epoch bookkeeping in the filesystem: which directory is an epoch, what belongs to it, and
/// what a sealed epoch refuses.
@Suite struct EpochTests {
    private func epochStates(_ store: TestStore) throws -> [String: EpochState] {
        Dictionary(uniqueKeysWithValues: try store.fs.epochRecords().map { ($0.name, $0.state) })
    }

    @Test func directoriesInUploadAreEpochsAndTheirFilesBelongToThem() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let nested = try fs.mkdir(parent: epoch, name: "extra", mode: 0o755, caller: alphaCaller).ino
            let file = try fs.makeFile(in: nested, "a.csv", bytes("x"))
            let loose = try fs.makeFile(in: store.upload, "loose.csv", bytes("y"))
            #expect(try epochStates(store) == ["1764374400": .receiving])
            #expect(try store.record(epoch)?.epoch == epoch)
            #expect(try store.record(nested)?.epoch == epoch)
            #expect(try store.record(file)?.epoch == epoch)
            #expect(try store.record(loose)?.epoch == nil)
            let snapshot = try #require(try fs.epochSnapshot(epoch))
            #expect(snapshot.entries.map(\.path) == ["extra", "extra/a.csv"])
            #expect(snapshot.openWriters == 0)
        }
    }

    @Test func renamesMoveFilesBetweenEpochsAndMakeOrUnmakeEpochs() throws {
        try withStore { store in
            let fs = store.fs
            let first = try fs.mkdir(parent: store.upload, name: "working", mode: 0o755, caller: alphaCaller).ino
            let second = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let sub = try fs.mkdir(parent: first, name: "sub", mode: 0o755, caller: alphaCaller).ino
            let file = try fs.makeFile(in: sub, "a.csv", bytes("x"))
            // A client's usual "upload under a working name, then rename".
            try fs.rename(parent: store.upload, name: "working", newParent: store.upload, newName: "1764400000", flags: [], caller: alphaCaller)
            #expect(try epochStates(store) == ["1764374400": .receiving, "1764400000": .receiving])
            // A directory moved out to upload/ becomes an epoch; everything below follows it.
            try fs.rename(parent: first, name: "sub", newParent: store.upload, newName: "1764500000", flags: [], caller: alphaCaller)
            #expect(try store.record(file)?.epoch == sub)
            #expect(try epochStates(store)["1764500000"] == .receiving)
            // An epoch moved into another epoch is an epoch no more.
            try fs.rename(parent: store.upload, name: "1764500000", newParent: second, newName: "sub", flags: [], caller: alphaCaller)
            #expect(try store.record(file)?.epoch == second)
            #expect(try store.record(sub)?.epoch == second)
            #expect(try epochStates(store).keys.sorted() == ["1764374400", "1764400000"])
            // A file moved out to upload/ is loose.
            try fs.rename(parent: sub, name: "a.csv", newParent: store.upload, newName: "a.csv", flags: [], caller: alphaCaller)
            #expect(try store.record(file)?.epoch == nil)
            // Removing an epoch directory removes its row.
            try fs.rmdir(parent: store.upload, name: "1764400000", caller: alphaCaller)
            #expect(try epochStates(store).keys.sorted() == ["1764374400"])
        }
    }

    @Test func aSealedEpochRefusesChangesFromEveryoneAndAWithdrawableOneMayBeDeleted() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let file = try fs.makeFile(in: epoch, "a.csv", bytes("x"))
            let generation = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: generation))
            for caller in [alphaCaller, rootCaller] {
                #expect(throws: Errno.accessDenied) { _ = try fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: caller) }
                #expect(throws: Errno.accessDenied) { _ = try fs.mkdir(parent: epoch, name: "d", mode: 0o755, caller: caller) }
                #expect(throws: Errno.accessDenied) { _ = try fs.open(file, flags: O_WRONLY, caller: caller) }
                #expect(throws: Errno.accessDenied) { try fs.unlink(parent: epoch, name: "a.csv", caller: caller) }
                #expect(throws: Errno.accessDenied) {
                    try fs.rename(parent: store.upload, name: "1764374400", newParent: store.upload, newName: "x", flags: [], caller: caller)
                }
                #expect(throws: Errno.accessDenied) {
                    _ = try fs.setattr(file, AttributeChanges(mode: 0o600), handle: nil, caller: caller)
                }
            }
            // Reading is still fine.
            #expect(try fs.contents(file) == bytes("x"))
            // Unrecognised: the district may withdraw it, file by file and then the directory.
            try fs.unrecogniseEpoch(epoch, reason: "no profile")
            #expect(throws: Errno.accessDenied) { _ = try fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller) }
            try fs.unlink(parent: epoch, name: "a.csv", caller: alphaCaller)
            // What is left is not what was sealed: it can never be processed, only deleted.
            #expect(try fs.epochRecord(epoch)?.withdrawn == true)
            #expect(throws: AdminError.self) { try Administration(fs).releaseEpoch(epoch, profile: nil) }
            try fs.rmdir(parent: store.upload, name: "1764374400", caller: alphaCaller)
            #expect(try fs.epochRecords().isEmpty)
        }
    }

    @Test func staffMayProcessABadlyNamedEpochWhichSealsIt() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "backup-old", mode: 0o755, caller: alphaCaller).ino
            try fs.makeFile(in: epoch, "a.csv", bytes("x"))
            try fs.markBadlyNamed(epoch, reason: "not a date-time")
            let record = try Administration(fs).releaseEpoch(epoch, profile: "clever")
            #expect(record.state == .sealed && record.sealed != nil && record.released && record.profile == "clever")
            #expect(throws: Errno.accessDenied) { _ = try fs.create(parent: epoch, name: "b", mode: 0o644, flags: writeFlags, caller: alphaCaller) }
            #expect(throws: AdminError.self) { try Administration(fs).releaseEpoch(epoch, profile: nil) }
        }
    }

    @Test func sealingWaitsForWritersAndForTheGenerationItInspected() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            let (_, handle) = try fs.create(parent: epoch, name: "a.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            let before = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.epochSnapshot(epoch)?.openWriters == 1)
            #expect(try !fs.seal(epoch, generation: before), "a file is open for writing")
            try fs.put(handle, bytes("x"), at: 0)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try !fs.seal(epoch, generation: before), "the close changed the epoch since it was inspected")
            let after = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: after))
            #expect(try fs.epochRecord(epoch)?.state == .sealed)
            // Sealed state survives a restart; the settle clock does not need to.
            let reopened = try store.reopened()
            #expect(try reopened.fs.epochRecord(epoch)?.sealed != nil)
            #expect(throws: Errno.accessDenied) {
                _ = try reopened.fs.create(parent: epoch, name: "b.csv", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            }
        }
    }

    /// Inserted blobs are written before the metadata lock is taken: one whose bytes are those
    /// of a deleted file (a doomed blob) is named by the publishing commit and outlives the
    /// reclaim pass.
    @Test func anInsertedFileWithTheBytesOfADeletedOneOutlivesTheReclaimPass() throws {
        try withStore { store in
            let fs = store.fs
            let epoch = try store.makeEpoch()
            try fs.makeFile(in: epoch, "a.csv", bytes("x"))
            try fs.makeFile(in: epoch, "old.log", bytes("ok\n"))
            try fs.unlink(parent: epoch, name: "old.log", caller: alphaCaller)
            #expect(try fs.state.withLock { try $0.metadata.doomedBlobs() } == [sha256Hex(bytes("ok\n"))])
            let generation = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: generation))
            _ = try fs.publish(epoch, inserting: [InsertedFile(name: "processing-succeeded.log", bytes: bytes("ok\n"))])
            #expect(try store.blobFiles().contains(sha256Hex(bytes("ok\n"))))
            let log = try fs.lookup(parent: epoch, name: "processing-succeeded.log")
            #expect(try fs.contents(log.ino) == bytes("ok\n"))
        }
    }

    @Test func publishingMovesTheEpochWithItsInsertedFilesInOneStep() throws {
        try withStore { store in
            let fs = store.fs
            let notifier = RecordingNotifier()
            fs.notifier = notifier
            let epoch = try store.makeEpoch()
            let file = try fs.makeFile(in: epoch, "a.csv", bytes("x"))
            // A received file with an inserted file's name keeps its bytes under another name.
            try fs.makeFile(in: epoch, "SHA256SUMS", bytes("mine"))
            let generation = try #require(try fs.epochSummaries().first?.generation)
            #expect(try fs.seal(epoch, generation: generation))
            // Something already holds the name in upload-processed/: the epoch gets `.2`.
            _ = try fs.mkdir(parent: store.processed, name: "1764374400", mode: 0o755, caller: rootCaller)
            let name = try fs.publish(epoch, inserting: [
                InsertedFile(name: "processing-succeeded.log", bytes: bytes("ok\n")),
                InsertedFile(name: "SHA256SUMS", bytes: bytes("sums\n")),
            ], profile: "clever")
            #expect(name == "1764374400.2")
            #expect(try store.names(store.upload).isEmpty)
            #expect(try store.names(epoch).sorted() == ["SHA256SUMS", "SHA256SUMS.received", "a.csv", "processing-succeeded.log"])
            let log = try fs.lookup(parent: epoch, name: "processing-succeeded.log")
            #expect(try fs.contents(log.ino) == bytes("ok\n"))
            #expect(try store.record(file)?.zone == .processedTree)
            #expect(try store.record(epoch)?.parent == store.processed)
            // The district can no longer change anything in it; root may delete it.
            #expect(throws: Errno.accessDenied) { try fs.unlink(parent: epoch, name: "a.csv", caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { _ = try fs.open(file, flags: O_WRONLY, caller: alphaCaller) }
            let record = try #require(try fs.epochRecord(epoch))
            #expect(record.state == .published && record.outcome == "succeeded" && record.name == "1764374400.2")
            let events = notifier.events.withLock { $0 }
            #expect(events.contains("entry \(store.upload)/1764374400"))
            #expect(events.contains("entry \(store.processed)/1764374400.2"))
            #expect(events.contains("entry \(epoch)/SHA256SUMS") && events.contains("entry \(epoch)/SHA256SUMS.received"))
            // Root renaming it in upload-processed/ keeps it a published epoch, under its new name.
            try fs.rename(parent: store.processed, name: "1764374400.2", newParent: store.processed, newName: "kept",
                          flags: [], caller: rootCaller)
            #expect(try fs.epochRecord(epoch)?.name == "kept")
            #expect(try fs.epochRecord(epoch)?.state == .published)
            #expect(try store.record(file)?.epoch == epoch)
        }
    }
}
