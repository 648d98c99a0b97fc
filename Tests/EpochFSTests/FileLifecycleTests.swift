@testable import EpochFS
import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct FileLifecycleTests {
    @Test func cleanCloseOfANewFilePublishesItsContentAsABlob() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(200_000, seed: 1)
            let hash = sha256Hex(content)
            let (created, handle) = try fs.create(parent: store.upload, name: "students.csv", mode: 0o644,
                                                  flags: writeFlags, caller: alphaCaller)
            #expect(created.size == 0)
            for start in stride(from: 0, to: content.count, by: 65536) {
                try fs.put(handle, Array(content[start..<min(start + 65536, content.count)]), at: Int64(start))
            }
            #expect(try fs.getattr(created.ino).size == Int64(content.count))
            #expect(throws: Errno.noData) { try fs.getxattr(created.ino, name: FileSystem.hashAttribute) }
            #expect(try store.stagingFiles() == [created.ino])
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)

            let record = try #require(try store.record(created.ino))
            #expect(record.blob == hash)
            #expect(!record.staged)
            #expect(!record.interrupted)
            #expect(record.size == Int64(content.count))
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.blobFiles() == [hash])
            #expect(try permissionBits(fs.blobs.blobPath(hash)) == 0o444)
            #expect(try readFile(fs.blobs.blobPath(hash)) == content)
            #expect(try fs.hashAttribute(created.ino) == hash)
            #expect(try fs.listxattr(created.ino) == [FileSystem.hashAttribute])
            #expect(try fs.contents(created.ino) == content)
            #expect(try fs.lookup(parent: store.upload, name: "students.csv").ino == created.ino)
            #expect(try store.blobReferences(hash) == 1)
        }
    }

    @Test func getxattrKnowsOnlyTheHash() throws {
        try withStore { store throws in
            let ino = try store.fs.makeFile(in: store.upload, "a", bytes("abc"))
            #expect(try store.fs.hashAttribute(ino) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            #expect(throws: Errno.noData) { try store.fs.getxattr(ino, name: "user.other") }
            #expect(throws: Errno.notSupported) { try store.fs.getxattr(ino, name: "security.selinux") }
            #expect(throws: Errno.noData) { try store.fs.getxattr(store.upload, name: FileSystem.hashAttribute) }
            #expect(try store.fs.listxattr(store.upload).isEmpty)
            #expect(throws: Errno.noEntry) { try store.fs.getxattr(InodeNumber(rawValue: 99_999), name: FileSystem.hashAttribute) }
        }
    }

    @Test func emptyFileIsPublishedToo() throws {
        try withStore { store throws in
            let ino = try store.fs.makeFile(in: store.upload, "empty", [])
            #expect(try store.record(ino)?.blob == sha256Hex([]))
            #expect(try store.fs.contents(ino).isEmpty)
        }
    }

    @Test func identicalContentIsStoredOnce() throws {
        try withStore { store throws in
            let content = pattern(10_000, seed: 2)
            let hash = sha256Hex(content)
            let epoch = try store.fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
            let first = try store.fs.makeFile(in: store.upload, "schools.csv", content)
            let second = try store.fs.makeFile(in: epoch, "schools.csv", content)
            #expect(try store.blobFiles() == [hash])
            #expect(try store.blobReferences(hash) == 2)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.fs.contents(second) == content)

            try store.fs.unlink(parent: store.upload, name: "schools.csv", caller: alphaCaller)
            #expect(try store.blobFiles() == [hash])
            #expect(try store.blobReferences(hash) == 1)
            #expect(try store.record(first) == nil)

            try store.fs.unlink(parent: epoch, name: "schools.csv", caller: alphaCaller)
            #expect(try store.blobFiles().isEmpty)
            #expect(try store.blobReferences(hash) == nil)
            #expect(try store.doomedBlobs().isEmpty)
        }
    }

    @Test func reopeningForWriteWithoutChangingDataCopiesNothing() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(50_000, seed: 3)
            let hash = sha256Hex(content)
            let ino = try fs.makeFile(in: store.upload, "f", content)

            let handle = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            _ = try fs.setattr(ino, AttributeChanges(size: Int64(content.count)), handle: handle, caller: alphaCaller)
            #expect(try store.stagingFiles().isEmpty)
            _ = try fs.setattr(ino, AttributeChanges(mode: 0o600), handle: handle, caller: alphaCaller)
            _ = try fs.setattr(ino, AttributeChanges(atime: .at(1_000_000_000), mtime: .at(2_000_000_000)), handle: handle,
                               caller: alphaCaller)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try fs.hashAttribute(ino) == hash)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)

            _ = try fs.setattr(ino, AttributeChanges(size: Int64(content.count)), handle: nil, caller: alphaCaller)
            _ = try fs.setattr(ino, AttributeChanges(mode: 0o444), handle: nil, caller: alphaCaller)

            #expect(try store.stagingFiles().isEmpty)
            let record = try #require(try store.record(ino))
            #expect(record.blob == hash)
            #expect(!record.staged)
            #expect(record.mode == 0o444)
            #expect(record.mtime == 2_000_000_000)
            #expect(try store.blobFiles() == [hash])
        }
    }

    @Test func firstChangeCopiesOnWriteAndCloseRepublishes() throws {
        try withStore { store throws in
            let fs = store.fs
            let original = pattern(50_000, seed: 4)
            let ino = try fs.makeFile(in: store.upload, "f", original)
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)

            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            #expect(try store.stagingFiles().isEmpty)
            try fs.put(writer, bytes("CHANGED"), at: 100)
            #expect(try store.stagingFiles() == [ino])
            var changed = original
            changed.replaceSubrange(100..<107, with: bytes("CHANGED"))
            #expect(try fs.readAll(reader) == changed)
            #expect(try readFile(fs.blobs.blobPath(sha256Hex(original))) == original)
            try fs.flush(writer, caller: alphaCaller)
            fs.release(writer)

            #expect(try store.record(ino)?.blob == sha256Hex(changed))
            #expect(try store.blobFiles() == [sha256Hex(changed)])
            #expect(try store.stagingFiles().isEmpty)
            #expect(try fs.readAll(reader) == changed)
            fs.release(reader)
            #expect(try fs.contents(ino) == changed)
        }
    }

    @Test func rewritingTheSameBytesKeepsTheSameBlob() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(9000, seed: 5)
            let hash = sha256Hex(content)
            let ino = try fs.makeFile(in: store.upload, "f", content)
            let handle = try fs.open(ino, flags: O_RDWR, caller: alphaCaller)
            try fs.put(handle, Array(content[0..<10]), at: 0)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try store.record(ino)?.blob == hash)
            #expect(try store.blobReferences(hash) == 1)
            #expect(try store.blobFiles() == [hash])
            #expect(try store.stagingFiles().isEmpty)
        }
    }

    @Test func openWithTruncateStartsFromEmpty() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("hello world"))
            let handle = try fs.open(ino, flags: O_WRONLY | O_TRUNC, caller: alphaCaller)
            #expect(try fs.getattr(ino).size == 0)
            try fs.put(handle, bytes("bye"), at: 0)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try fs.contents(ino) == bytes("bye"))
            #expect(try fs.hashAttribute(ino) == sha256Hex(bytes("bye")))
            #expect(try store.blobFiles() == [sha256Hex(bytes("bye"))])
            #expect(try fs.getattr(ino).size == 3)
        }
    }

    @Test func truncateByPathRepublishesTheShorterContent() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("hello world"))
            let attributes = try fs.setattr(ino, AttributeChanges(size: 5), handle: nil, caller: alphaCaller)
            #expect(attributes.size == 5)
            #expect(try fs.contents(ino) == bytes("hello"))
            #expect(try store.record(ino)?.blob == sha256Hex(bytes("hello")))
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.blobFiles() == [sha256Hex(bytes("hello"))])
            #expect(throws: Errno.invalid) { try fs.setattr(ino, AttributeChanges(size: -1), handle: nil, caller: alphaCaller) }
        }
    }

    @Test func truncateByPathRepublishesAFileWhoseLastWriterWasKilledWithoutWriting() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("hello world"))
            // A reader keeps the file open across a writer that was killed before it wrote.
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            try fs.flush(writer, caller: Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID()))
            fs.release(writer)
            // That writer's session is over: the truncate is one of its own, and complete.
            _ = try fs.setattr(ino, AttributeChanges(size: 5), handle: nil, caller: alphaCaller)
            fs.release(reader)
            let record = try #require(try store.record(ino))
            #expect(record.blob == sha256Hex(bytes("hello")))
            #expect(!record.staged && !record.interrupted)
        }
    }

    @Test func truncateThroughAReadOnlyHandleIsRefusedOrKept() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("hello world"))
            let handle = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            let result = Result { () throws(Errno) in try fs.setattr(ino, AttributeChanges(size: 5), handle: handle, caller: alphaCaller) }
            fs.release(handle)
            #expect(try store.stagingFiles().isEmpty, "no staging file may outlive the last close")
            switch result {
            case .success(let attributes):
                #expect(attributes.size == 5)
                #expect(try fs.contents(ino) == bytes("hello"), "an acknowledged truncate must not be lost")
            case .failure:
                #expect(try fs.contents(ino) == bytes("hello world"))
            }
        }
    }

    @Test func readsStopAtTheEndOfTheFile() throws {
        try withStore { store throws in
            let ino = try store.fs.makeFile(in: store.upload, "f", bytes("0123456789"))
            let handle = try store.fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            defer { store.fs.release(handle) }
            #expect(try store.fs.read(handle, offset: 4, size: 100).count == 6)
            #expect(try store.fs.read(handle, offset: 10, size: 100).count == 0)
            #expect(try store.fs.read(handle, offset: 50, size: 100).count == 0)
            #expect(throws: Errno.badHandle) { try store.fs.put(handle, bytes("x"), at: 0) }
        }
    }

    @Test func unlinkedOpenFileStaysReadableUntilItsLastClose() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(30_000, seed: 6)
            let hash = sha256Hex(content)
            let ino = try fs.makeFile(in: store.upload, "doomed.csv", content)
            let handle = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)

            try fs.unlink(parent: store.upload, name: "doomed.csv", caller: alphaCaller)

            #expect(throws: Errno.noEntry) { try fs.lookup(parent: store.upload, name: "doomed.csv") }
            #expect(try store.names(store.upload).isEmpty)
            #expect(try fs.readAll(handle) == content)
            #expect(try fs.getattr(ino).size == Int64(content.count))
            #expect(try store.blobFiles() == [hash])
            #expect(try store.record(ino)?.parent == nil)

            fs.release(handle)

            #expect(try store.record(ino) == nil)
            #expect(try store.blobFiles().isEmpty)
            #expect(try store.blobReferences(hash) == nil)
            #expect(try store.doomedBlobs().isEmpty)
            #expect(try store.administration.usage(of: store.alpha).files == 0)
        }
    }

    @Test func unlinkedFileBeingWrittenLeavesNothingBehind() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "tmp", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(5000), at: 0)
            try fs.unlink(parent: store.upload, name: "tmp", caller: alphaCaller)
            try fs.put(handle, pattern(10, seed: 1), at: 5000)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try store.record(created.ino)?.parent == nil)
            fs.forget([(created.ino, 1)])
            #expect(try store.record(created.ino) == nil)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func unlinkedFileKeepsABlobSharedWithAnotherName() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(1000, seed: 7)
            let keeper = try fs.makeFile(in: store.upload, "keeper", content)
            let ino = try fs.makeFile(in: store.upload, "gone", content)
            let handle = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            try fs.unlink(parent: store.upload, name: "gone", caller: alphaCaller)
            fs.release(handle)
            #expect(try store.blobFiles() == [sha256Hex(content)])
            #expect(try fs.contents(keeper) == content)
        }
    }

    @Test func fsyncRecordsTheStagedFileAndCloseStillPublishes() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(4000, seed: 8), at: 0)
            try fs.fsync(handle, dataOnly: false)
            let synced = try #require(try store.record(created.ino))
            #expect(synced.staged)
            #expect(synced.size == 4000)
            #expect(synced.blob == nil)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try store.record(created.ino)?.blob == sha256Hex(pattern(4000, seed: 8)))
            #expect(try store.stagingFiles().isEmpty)
        }
    }

    @Test func aDurablePublishOntoAnExistingBlobSyncsThatBlobFirst() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(4000, seed: 9)
            // Fsynced first, closed last: its close is a durable publish.
            let (_, durable) = try fs.create(parent: store.upload, name: "durable", mode: 0o644, flags: writeFlags,
                                             caller: alphaCaller)
            try fs.put(durable, content, at: 0)
            try fs.fsync(durable, dataOnly: false)
            // The same bytes published meanwhile, without fsync: a blob the syncer has not synced.
            try fs.makeFile(in: store.upload, "plain", content)
            let unsynced = { try fs.state.withLock { try $0.metadata.unsyncedBlobs(limit: 10) } }
            #expect(try unsynced() == [sha256Hex(content)])
            // The durable file's staging copy is deleted (dedup) once its row names that blob,
            // so the blob's bytes must be durable before that row is.
            try fs.flush(durable, caller: alphaCaller)
            fs.release(durable)
            #expect(try unsynced().isEmpty, "the durable publish synced the blob it names")
            #expect(try store.stagingFiles().isEmpty)
        }
    }

    @Test func sparseWritesReadAsZerosAndHashAsSuch() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "sparse", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, bytes("tail"), at: 10_000)
            try fs.put(handle, bytes("head"), at: 0)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            let expected = bytes("head") + [UInt8](repeating: 0, count: 9996) + bytes("tail")
            #expect(try fs.contents(created.ino) == expected)
            #expect(try fs.hashAttribute(created.ino) == sha256Hex(expected))
        }
    }
}

@Suite struct KernelLookupTests {
    @Test func aReplacedFileStaysOpenableUntilTheKernelForgetsIt() throws {
        try withStore { store throws in
            let fs = store.fs
            let old = try fs.makeFile(in: store.upload, "target", bytes("old"))
            // The kernel looked the name up (and holds the inode) just before it was replaced.
            _ = try fs.lookup(parent: store.upload, name: "target")
            _ = try fs.makeFile(in: store.upload, "tmp", bytes("new"))
            try fs.rename(parent: store.upload, name: "tmp", newParent: store.upload, newName: "target",
                          flags: [], caller: alphaCaller)
            #expect(try store.record(old)?.parent == nil)
            #expect(try fs.getattr(old).nlink == 0)
            let handle = try fs.open(old, flags: O_RDONLY, caller: alphaCaller)
            #expect(try fs.readAll(handle) == bytes("old"))
            fs.release(handle)
            #expect(try store.record(old) != nil)

            fs.forget([(old, 1)])
            #expect(try store.record(old) == nil)
            #expect(try store.blobFiles() == [sha256Hex(bytes("new"))])
        }
    }
}

@Suite struct ReviewedEdgeTests {
    @Test func anOrphanReopenedThroughTheKernelIsDeletedAtItsLastClose() throws {
        try withStore { store throws in
            let fs = store.fs
            let old = try fs.makeFile(in: store.upload, "target", bytes("old"))
            _ = try fs.lookup(parent: store.upload, name: "target")
            try fs.unlink(parent: store.upload, name: "target", caller: alphaCaller)
            // The kernel opens the inode it still holds, then forgets it before the release.
            let handle = try fs.open(old, flags: O_RDONLY, caller: alphaCaller)
            fs.forget([(old, 1)])
            #expect(try store.record(old) != nil)
            fs.release(handle)
            #expect(try store.record(old) == nil)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func aChildExitingWithAnInheritedDescriptorDoesNotInterruptTheParentsCleanClose() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(3000, seed: 9)
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, content, at: 0)
            // A forked child exits holding a copy of the descriptor...
            try fs.flush(handle, caller: Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID()))
            // ...then the writer closes it cleanly.
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            let record = try #require(try store.record(created.ino))
            #expect(record.blob == sha256Hex(content))
            #expect(!record.interrupted)
            #expect(!record.staged)
        }
    }

    @Test func aRowNamingABlobWhoseFileIsGoneOpensWithAnIOError() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "students.csv", bytes("id\n1\n"))
            try Sys.unlink(fs.blobs.blobPath(sha256Hex(bytes("id\n1\n"))))
            // The name is there and the row says what it holds: the content missing is the
            // store's fault (EIO), not a file that does not exist (ENOENT).
            #expect(throws: Errno.io) { try fs.open(ino, flags: O_RDONLY, caller: alphaCaller) }
            #expect(throws: Errno.io) { try fs.open(ino, flags: O_WRONLY, caller: alphaCaller) }
        }
    }
}

@Suite struct SpaceReclaimTests {
    @Test func anUnreferencedBlobIsDeletedOnlyByTheReclaimPass() throws {
        try withStore { store throws in
            let fs = store.fs
            let content = pattern(2000, seed: 12)
            let hash = sha256Hex(content)
            _ = try fs.makeFile(in: store.upload, "gone.csv", content)
            try fs.unlink(parent: store.upload, name: "gone.csv", caller: alphaCaller)
            // The reference is gone at once; the file waits until the drop is durable.
            #expect(try store.blobReferences(hash) == nil)
            #expect(try fs.blobs.blobExists(hash))
            try fs.reclaimSpace()
            #expect(try !fs.blobs.blobExists(hash))
        }
    }
}
