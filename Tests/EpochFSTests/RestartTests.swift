@testable import EpochFS
import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RestartTests {
    @Test func reopeningTheStoreKeepsEverything() throws {
        try withStore { store throws in
            let fs = store.fs
            let beta = try store.administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID)
            let epoch = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o750, caller: alphaCaller).ino
            let content = pattern(70_000, seed: 1)
            let file = try fs.makeFile(in: epoch, "students.csv", content, mode: 0o600)
            _ = try fs.setattr(file, AttributeChanges(mtime: .at(1_700_000_000_000_000_000)), handle: nil, caller: alphaCaller)
            let (partial, handle) = try fs.create(parent: epoch, name: "classes.csv", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            try fs.put(handle, pattern(100, seed: 2), at: 0)
            fs.release(handle)
            let before = try fs.getattr(file)
            let blobsBefore = try store.blobFiles()

            let restarted = try store.reopened()

            let rfs = restarted.fs
            #expect(try Administration(rfs).districts().map(\.name) == ["alpha", "beta"])
            #expect(try Administration(rfs).districts().last == beta)
            #expect(try rfs.lookup(parent: .root, name: "alpha").ino == store.districtRoot)
            #expect(try rfs.lookup(parent: store.upload, name: "1764374400").ino == epoch)
            #expect(try rfs.lookup(parent: epoch, name: "students.csv") == before)
            #expect(try rfs.getattr(file).mtime == 1_700_000_000_000_000_000)
            #expect(try rfs.contents(file) == content)
            #expect(try rfs.hashAttribute(file) == sha256Hex(content))
            #expect(try restarted.blobFiles() == blobsBefore)
            let staged = try #require(try restarted.record(partial.ino))
            #expect(staged.staged && staged.interrupted && staged.size == 100)
            #expect(try rfs.contents(partial.ino) == pattern(100, seed: 2))
            #expect(try rfs.getattr(store.upload).nlink == 3)
            #expect(try Administration(rfs).usage(of: store.alpha).files == 2)

            let next = try rfs.makeFile(in: epoch, "next.csv", bytes("n"))
            #expect(next > partial.ino)
        }
    }

    /// The settle period and the stall limit count from an epoch's last change: a restart must
    /// not move it to the restart's time.
    @Test func reopeningKeepsWhenEachUnsealedEpochLastChanged() throws {
        try withStore { store throws in
            let fs = store.fs
            let written = try store.makeEpoch("1764374400")
            try fs.makeFile(in: written, "a.csv", bytes("x"))
            let emptied = try store.makeEpoch("1764460800")
            try fs.makeFile(in: emptied, "a.csv", bytes("x"))
            usleep(200_000)
            // A removal changes the epoch too.
            try fs.unlink(parent: emptied, name: "a.csv", caller: alphaCaller)
            let before = Dictionary(uniqueKeysWithValues: try fs.epochSummaries().map { ($0.record.ino, $0.lastChange) })
            usleep(500_000)

            let restarted = try store.reopened()

            let after = Dictionary(uniqueKeysWithValues: try restarted.fs.epochSummaries().map { ($0.record.ino, $0.lastChange) })
            #expect(Set(after.keys) == [written, emptied])
            for (epoch, last) in before {
                let kept = try #require(after[epoch])
                // The inodes' times are taken as the change is made, a moment before it is noted.
                #expect(kept <= last && last - kept < 100_000_000, "epoch \(epoch): \(kept) after the restart, \(last) before")
            }
            #expect(after[emptied]! - after[written]! >= 200_000_000, "the removal counts")
        }
    }

    @Test func fileUnlinkedWhileOpenAtACrashIsGoneAfterRestart() throws {
        try withStore { store throws in
            let content = pattern(4000, seed: 3)
            let ino = try store.fs.makeFile(in: store.upload, "f", content)
            let handle = try store.fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            defer { handle.file?.closeDescriptors() }
            try store.fs.unlink(parent: store.upload, name: "f", caller: alphaCaller)
            #expect(try store.blobFiles() == [sha256Hex(content)])

            let restarted = try store.reopened()

            #expect(try restarted.record(ino) == nil)
            #expect(try restarted.blobFiles().isEmpty)
            #expect(try restarted.blobReferences(sha256Hex(content)) == nil)
        }
    }

    @Test func copyOnWriteInProgressAtACrashLeavesThePublishedVersion() throws {
        try withStore { store throws in
            let original = pattern(6000, seed: 4)
            let ino = try store.fs.makeFile(in: store.upload, "f", original)
            let handle = try store.fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            defer { handle.file?.closeDescriptors() }
            try store.fs.put(handle, bytes("unacknowledged"), at: 0)
            #expect(try store.stagingFiles() == [ino])

            let restarted = try store.reopened()

            #expect(try restarted.stagingFiles().isEmpty)
            #expect(try restarted.fs.contents(ino) == original)
            #expect(try restarted.fs.hashAttribute(ino) == sha256Hex(original))
        }
    }

    @Test func aRewriteClosedCleanlyByAnotherThreadSurvivesACrashBeforeItsRelease() throws {
        try withStore { store throws in
            let original = pattern(6000, seed: 5)
            let rewritten = pattern(6000, seed: 6)
            let ino = try store.fs.makeFile(in: store.upload, "f", original)
            let handle = try store.fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            defer { handle.file?.closeDescriptors() }
            try store.fs.put(handle, rewritten, at: 0)
            // Closed cleanly by a live thread other than the opener: publishing waits for RELEASE.
            try store.fs.flush(handle, caller: Caller(uid: alphaUID, gid: alphaUID, pid: 1))
            #expect(try store.record(ino)?.staged == true)

            let restarted = try store.reopened()

            // The crash before RELEASE keeps the new bytes (as an interrupted file), not the old ones.
            #expect(try restarted.fs.contents(ino) == rewritten)
            #expect(try restarted.record(ino)?.interrupted == true)
        }
    }
}
