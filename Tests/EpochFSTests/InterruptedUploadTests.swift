@testable import EpochFS
import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct InterruptedUploadTests {
    @Test func flushByAnExitedProcessLeavesTheFileStagedAndInterrupted() throws {
        try withStore { store throws in
            let fs = store.fs
            let dead = Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID())
            let (created, handle) = try fs.create(parent: store.upload, name: "big.csv", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            let head = pattern(70_000, seed: 1)
            try fs.put(handle, head, at: 0)
            try fs.flush(handle, caller: dead)
            fs.release(handle)

            let record = try #require(try store.record(created.ino))
            #expect(record.staged)
            #expect(record.interrupted)
            #expect(record.blob == nil)
            #expect(record.size == 70_000)
            #expect(try store.stagingFiles() == [created.ino])
            #expect(try store.blobFiles().isEmpty)
            #expect(throws: Errno.noData) { try fs.getxattr(created.ino, name: FileSystem.hashAttribute) }
            #expect(try fs.contents(created.ino) == head)
            #expect(try store.record(created.ino)?.interrupted == true)

            let resumed = try fs.open(created.ino, flags: O_WRONLY, caller: alphaCaller)
            #expect(try store.stagingFiles() == [created.ino])
            let tail = pattern(30_000, seed: 2)
            try fs.put(resumed, tail, at: 70_000)
            try fs.flush(resumed, caller: alphaCaller)
            fs.release(resumed)

            let published = try #require(try store.record(created.ino))
            #expect(!published.staged)
            #expect(!published.interrupted)
            #expect(published.blob == sha256Hex(head + tail))
            #expect(published.size == 100_000)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try fs.contents(created.ino) == head + tail)
        }
    }

    @Test func writesWithoutAnyFlushLeaveTheFileInterrupted() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(1000), at: 0)
            fs.release(handle)
            let record = try #require(try store.record(created.ino))
            #expect(record.staged && record.interrupted && record.blob == nil)
            #expect(record.size == 1000)
        }
    }

    @Test func writesAfterTheLastCleanFlushLeaveTheFileInterrupted() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(1000), at: 0)
            try fs.flush(handle, caller: alphaCaller)
            try fs.put(handle, pattern(1000, seed: 1), at: 1000)
            fs.release(handle)
            let record = try #require(try store.record(created.ino))
            #expect(record.staged && record.interrupted)
            #expect(record.size == 2000)
        }
    }

    @Test func interruptedRewriteOfAPublishedFileDropsTheOldBlob() throws {
        try withStore { store throws in
            let fs = store.fs
            let original = pattern(4000, seed: 3)
            let ino = try fs.makeFile(in: store.upload, "f", original)
            let handle = try fs.open(ino, flags: O_WRONLY | O_TRUNC, caller: alphaCaller)
            try fs.put(handle, pattern(100, seed: 4), at: 0)
            try fs.flush(handle, caller: Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID()))
            fs.release(handle)
            let record = try #require(try store.record(ino))
            #expect(record.staged && record.interrupted && record.blob == nil && record.size == 100)
            #expect(try store.blobFiles().isEmpty)
            #expect(try fs.contents(ino) == pattern(100, seed: 4))
        }
    }

    @Test func readingAnInterruptedFileDoesNotPublishIt() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(500), at: 0)
            fs.release(handle)
            _ = try fs.contents(created.ino)
            _ = try fs.setattr(created.ino, AttributeChanges(mode: 0o600), handle: nil, caller: alphaCaller)
            let record = try #require(try store.record(created.ino))
            #expect(record.staged && record.interrupted)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func truncateToTheCurrentSizeDoesNotCompleteAnInterruptedUpload() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(500), at: 0)
            fs.release(handle)
            _ = try fs.setattr(created.ino, AttributeChanges(size: 500), handle: nil, caller: alphaCaller)
            let record = try #require(try store.record(created.ino))
            #expect(record.staged, "a truncate that changes nothing must not publish an interrupted upload")
            #expect(record.interrupted)
        }
    }

    @Test func unlinkingAnInterruptedUploadRemovesItsStagingFile() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(800), at: 0)
            fs.release(handle)
            fs.forget([(created.ino, 1)])
            #expect(try store.stagingFiles() == [created.ino])
            try fs.unlink(parent: store.upload, name: "f", caller: alphaCaller)
            #expect(try store.record(created.ino) == nil)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.blobFiles().isEmpty)
        }
    }

    @Test func exitedWriterOfAnEmptyNewFileLeavesAnEmptyInterruptedFile() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.flush(handle, caller: Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID()))
            fs.release(handle)
            let record = try #require(try store.record(created.ino))
            #expect(record.staged && record.interrupted && record.size == 0)
        }
    }

    @Test func interruptedUploadSurvivesARestartAndCanBeResumed() throws {
        try withStore { store throws in
            let head = pattern(12_345, seed: 5)
            let (created, handle) = try store.fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                        caller: alphaCaller)
            try store.fs.put(handle, head, at: 0)
            store.fs.release(handle)

            let restarted = try store.reopened()
            let record = try #require(try restarted.record(created.ino))
            #expect(record.staged && record.interrupted && record.size == 12_345)
            #expect(try restarted.fs.contents(created.ino) == head)

            let resumed = try restarted.fs.open(created.ino, flags: O_WRONLY, caller: alphaCaller)
            try restarted.fs.put(resumed, bytes("end"), at: 12_345)
            try restarted.fs.flush(resumed, caller: alphaCaller)
            restarted.fs.release(resumed)
            #expect(try restarted.fs.hashAttribute(created.ino) == sha256Hex(head + bytes("end")))
            #expect(try restarted.stagingFiles().isEmpty)
        }
    }

    @Test func writerLostInACrashIsRecoveredAsInterrupted() throws {
        try withStore { store throws in
            let content = pattern(5000, seed: 6)
            let (created, handle) = try store.fs.create(parent: store.upload, name: "f", mode: 0o644, flags: writeFlags,
                                                        caller: alphaCaller)
            try store.fs.put(handle, content, at: 0)
            defer { handle.file?.closeDescriptors() }

            let restarted = try store.reopened()
            let record = try #require(try restarted.record(created.ino))
            #expect(record.staged)
            #expect(record.interrupted)
            #expect(record.size == 5000)
            #expect(try restarted.fs.contents(created.ino) == content)
        }
    }
}
