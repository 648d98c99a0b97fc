@testable import EpochFS
import EpochStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RenameTests {
    @Test func renameMovesTheNameAndKeepsTheInode() throws {
        try withStore { store throws in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "20261129T020000Z", mode: 0o755, caller: alphaCaller).ino
            let ino = try fs.makeFile(in: store.upload, "students.csv.part", bytes("data"))
            try fs.rename(parent: store.upload, name: "students.csv.part", newParent: epoch, newName: "students.csv",
                          flags: [], caller: alphaCaller)
            #expect(throws: Errno.noEntry) { try fs.lookup(parent: store.upload, name: "students.csv.part") }
            #expect(try fs.lookup(parent: epoch, name: "students.csv").ino == ino)
            #expect(try fs.contents(ino) == bytes("data"))
            #expect(try store.names(store.upload) == ["20261129T020000Z"])
        }
    }

    @Test func renameOverAFileReplacesItAndDropsItsBlob() throws {
        try withStore { store throws in
            let fs = store.fs
            let a = try fs.makeFile(in: store.upload, "a", bytes("AAAA"))
            let b = try fs.makeFile(in: store.upload, "b", bytes("BBBB"))
            try fs.rename(parent: store.upload, name: "a", newParent: store.upload, newName: "b", flags: [],
                          caller: alphaCaller)
            #expect(throws: Errno.noEntry) { try fs.lookup(parent: store.upload, name: "a") }
            #expect(try fs.lookup(parent: store.upload, name: "b").ino == a)
            #expect(try fs.contents(a) == bytes("AAAA"))
            #expect(try store.record(b) == nil)
            #expect(try store.blobFiles() == [sha256Hex(bytes("AAAA"))])
            #expect(try store.doomedBlobs().isEmpty)
        }
    }

    @Test func renameOverAnOpenFileKeepsItReadableUntilClosed() throws {
        try withStore { store throws in
            let fs = store.fs
            _ = try fs.makeFile(in: store.upload, "new", bytes("new"))
            let old = try fs.makeFile(in: store.upload, "current", bytes("old"))
            let handle = try fs.open(old, flags: O_RDONLY, caller: alphaCaller)
            try fs.rename(parent: store.upload, name: "new", newParent: store.upload, newName: "current", flags: [],
                          caller: alphaCaller)
            #expect(try fs.readAll(handle) == bytes("old"))
            #expect(try store.blobFiles().count == 2)
            fs.release(handle)
            #expect(try store.record(old) == nil)
            #expect(try store.blobFiles() == [sha256Hex(bytes("new"))])
        }
    }

    @Test func noReplaceRefusesAnExistingTarget() throws {
        try withStore { store throws in
            let fs = store.fs
            let a = try fs.makeFile(in: store.upload, "a", bytes("A"))
            let b = try fs.makeFile(in: store.upload, "b", bytes("B"))
            #expect(throws: Errno.exists) {
                try fs.rename(parent: store.upload, name: "a", newParent: store.upload, newName: "b", flags: .noReplace,
                              caller: alphaCaller)
            }
            #expect(try fs.lookup(parent: store.upload, name: "a").ino == a)
            #expect(try fs.lookup(parent: store.upload, name: "b").ino == b)
            #expect(try fs.contents(b) == bytes("B"))
            try fs.rename(parent: store.upload, name: "a", newParent: store.upload, newName: "c", flags: .noReplace,
                          caller: alphaCaller)
            #expect(try fs.lookup(parent: store.upload, name: "c").ino == a)
        }
    }

    @Test func exchangeSwapsTwoNames() throws {
        try withStore { store throws in
            let fs = store.fs
            let left = try fs.mkdir(parent: store.upload, name: "left", mode: 0o755, caller: alphaCaller).ino
            let right = try fs.mkdir(parent: store.upload, name: "right", mode: 0o755, caller: alphaCaller).ino
            let file = try fs.makeFile(in: left, "x", bytes("file"))
            let directory = try fs.mkdir(parent: right, name: "y", mode: 0o755, caller: alphaCaller).ino
            #expect(try fs.getattr(right).nlink == 3)

            try fs.rename(parent: left, name: "x", newParent: right, newName: "y", flags: .exchange, caller: alphaCaller)

            #expect(try fs.lookup(parent: right, name: "y").ino == file)
            #expect(try fs.lookup(parent: left, name: "x").ino == directory)
            #expect(try store.record(directory)?.parent == left)
            #expect(try store.record(file)?.parent == right)
            #expect(try fs.getattr(left).nlink == 3)
            #expect(try fs.getattr(right).nlink == 2)
            #expect(try fs.contents(file) == bytes("file"))
        }
    }

    @Test func exchangeNeedsBothNames() throws {
        try withStore { store throws in
            let fs = store.fs
            _ = try fs.makeFile(in: store.upload, "a", bytes("A"))
            #expect(throws: Errno.noEntry) {
                try fs.rename(parent: store.upload, name: "a", newParent: store.upload, newName: "missing",
                              flags: .exchange, caller: alphaCaller)
            }
            #expect(throws: Errno.invalid) {
                try fs.rename(parent: store.upload, name: "a", newParent: store.upload, newName: "b",
                              flags: [.exchange, .noReplace], caller: alphaCaller)
            }
            #expect(try store.names(store.upload) == ["a"])
        }
    }

    @Test func directoryCannotMoveIntoItsOwnSubtree() throws {
        try withStore { store throws in
            let fs = store.fs
            let top = try fs.mkdir(parent: store.upload, name: "top", mode: 0o755, caller: alphaCaller).ino
            let mid = try fs.mkdir(parent: top, name: "mid", mode: 0o755, caller: alphaCaller).ino
            #expect(throws: Errno.invalid) {
                try fs.rename(parent: store.upload, name: "top", newParent: mid, newName: "loop", flags: [], caller: alphaCaller)
            }
            #expect(throws: Errno.invalid) {
                try fs.rename(parent: store.upload, name: "top", newParent: top, newName: "self", flags: [], caller: alphaCaller)
            }
            #expect(throws: Errno.invalid) {
                try fs.rename(parent: top, name: "mid", newParent: store.upload, newName: "top", flags: .exchange,
                              caller: alphaCaller)
            }
            #expect(try store.record(top)?.parent == store.upload)
            #expect(try store.record(mid)?.parent == top)
        }
    }

    @Test func directoryRenameKeepsLinkCounts() throws {
        try withStore { store throws in
            let fs = store.fs
            let a = try fs.mkdir(parent: store.upload, name: "a", mode: 0o755, caller: alphaCaller).ino
            let b = try fs.mkdir(parent: store.upload, name: "b", mode: 0o755, caller: alphaCaller).ino
            _ = try fs.mkdir(parent: a, name: "sub", mode: 0o755, caller: alphaCaller)
            _ = try fs.mkdir(parent: b, name: "empty", mode: 0o755, caller: alphaCaller)
            #expect(try fs.getattr(store.upload).nlink == 4)
            try fs.rename(parent: a, name: "sub", newParent: b, newName: "empty", flags: [], caller: alphaCaller)
            #expect(try fs.getattr(a).nlink == 2)
            #expect(try fs.getattr(b).nlink == 3)
            #expect(try store.names(b) == ["empty"])
        }
    }

    @Test func replacingRequiresMatchingKindsAndAnEmptyDirectory() throws {
        try withStore { store throws in
            let fs = store.fs
            _ = try fs.makeFile(in: store.upload, "file", bytes("f"))
            let full = try fs.mkdir(parent: store.upload, name: "full", mode: 0o755, caller: alphaCaller).ino
            _ = try fs.makeFile(in: full, "inside", bytes("i"))
            _ = try fs.mkdir(parent: store.upload, name: "dir", mode: 0o755, caller: alphaCaller)
            #expect(throws: Errno.isDirectory) {
                try fs.rename(parent: store.upload, name: "file", newParent: store.upload, newName: "dir", flags: [],
                              caller: alphaCaller)
            }
            #expect(throws: Errno.notDirectory) {
                try fs.rename(parent: store.upload, name: "dir", newParent: store.upload, newName: "file", flags: [],
                              caller: alphaCaller)
            }
            #expect(throws: Errno.notEmpty) {
                try fs.rename(parent: store.upload, name: "dir", newParent: store.upload, newName: "full", flags: [],
                              caller: alphaCaller)
            }
            #expect(Set(try store.names(store.upload)) == ["file", "full", "dir"])
            #expect(try store.names(full) == ["inside"])
        }
    }

    @Test func renameAcrossDistrictsIsCrossDevice() throws {
        try withStore { store throws in
            let fs = store.fs
            let beta = try store.administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID)
            _ = try fs.makeFile(in: store.upload, "a", bytes("A"))
            for caller in [alphaCaller, rootCaller] {
                #expect(throws: Errno.crossDevice) {
                    try fs.rename(parent: store.upload, name: "a", newParent: InodeNumber(rawValue: beta.uploadIno),
                                  newName: "a", flags: [], caller: caller)
                }
            }
            #expect(try store.names(InodeNumber(rawValue: beta.uploadIno)).isEmpty)
            #expect(try store.names(store.upload) == ["a"])
        }
    }

    @Test func renameBetweenUploadAndUploadProcessedIsCrossDevice() throws {
        try withStore { store throws in
            let fs = store.fs
            _ = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller)
            _ = try fs.mkdir(parent: store.processed, name: "1764288000", mode: 0o755, caller: rootCaller)
            #expect(throws: Errno.crossDevice) {
                try fs.rename(parent: store.upload, name: "1764374400", newParent: store.processed, newName: "1764374400",
                              flags: [], caller: rootCaller)
            }
            #expect(throws: Errno.crossDevice) {
                try fs.rename(parent: store.processed, name: "1764288000", newParent: store.upload, newName: "1764288000",
                              flags: [], caller: rootCaller)
            }
            #expect(throws: Errno.accessDenied) {
                try fs.rename(parent: store.upload, name: "1764374400", newParent: store.processed, newName: "1764374400",
                              flags: [], caller: alphaCaller)
            }
            #expect(throws: Errno.accessDenied) {
                try fs.rename(parent: store.processed, name: "1764288000", newParent: store.upload, newName: "x",
                              flags: [], caller: alphaCaller)
            }
            #expect(try store.names(store.upload) == ["1764374400"])
            #expect(try store.names(store.processed) == ["1764288000"])
        }
    }

    @Test func theDistrictsFixedDirectoriesCannotBeRenamed() throws {
        try withStore { store throws in
            let fs = store.fs
            for caller in [alphaCaller, rootCaller] {
                #expect(throws: Errno.notPermitted) {
                    try fs.rename(parent: store.districtRoot, name: "upload", newParent: store.districtRoot, newName: "u",
                                  flags: [], caller: caller)
                }
                #expect(throws: Errno.notPermitted) {
                    try fs.rename(parent: .root, name: "alpha", newParent: .root, newName: "omega", flags: [], caller: caller)
                }
            }
            _ = try fs.makeFile(in: store.upload, "a", bytes("A"))
            #expect(throws: Errno.notPermitted) {
                try fs.rename(parent: store.upload, name: "a", newParent: store.districtRoot, newName: "a", flags: [],
                              caller: rootCaller)
            }
        }
    }

    @Test func renameToALongNameIsRefused() throws {
        try withStore { store throws in
            _ = try store.fs.makeFile(in: store.upload, "a", bytes("A"))
            #expect(throws: Errno.nameTooLong) {
                try store.fs.rename(parent: store.upload, name: "a", newParent: store.upload,
                                    newName: String(repeating: "n", count: 256), flags: [], caller: alphaCaller)
            }
            #expect(try store.names(store.upload) == ["a"])
        }
    }
}
