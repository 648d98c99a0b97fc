@testable import EpochFS
import EpochStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DirectoryTests {
    @Test func mkdirAndRmdir() throws {
        try withStore { store throws in
            let fs = store.fs
            let made = try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller)
            #expect(made.isDirectory)
            #expect(made.nlink == 2)
            #expect(try fs.lookup(parent: store.upload, name: "1764374400") == made)
            #expect(try fs.getattr(store.upload).nlink == 3)
            #expect(throws: Errno.exists) { try fs.mkdir(parent: store.upload, name: "1764374400", mode: 0o755, caller: alphaCaller) }
            try fs.rmdir(parent: store.upload, name: "1764374400", caller: alphaCaller)
            #expect(throws: Errno.noEntry) { try fs.lookup(parent: store.upload, name: "1764374400") }
            #expect(throws: Errno.noEntry) { try fs.getattr(made.ino) }
            #expect(try fs.getattr(store.upload).nlink == 2)
            #expect(throws: Errno.noEntry) { try fs.rmdir(parent: store.upload, name: "1764374400", caller: alphaCaller) }
        }
    }

    @Test func rmdirRefusesANonEmptyDirectory() throws {
        try withStore { store throws in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "e", mode: 0o755, caller: alphaCaller).ino
            _ = try fs.makeFile(in: epoch, "students.csv", bytes("x"))
            #expect(throws: Errno.notEmpty) { try fs.rmdir(parent: store.upload, name: "e", caller: alphaCaller) }
            #expect(try fs.lookup(parent: store.upload, name: "e").ino == epoch)
            try fs.unlink(parent: epoch, name: "students.csv", caller: alphaCaller)
            try fs.rmdir(parent: store.upload, name: "e", caller: alphaCaller)
            #expect(try store.names(store.upload).isEmpty)
        }
    }

    @Test func rmdirAndUnlinkCheckTheKind() throws {
        try withStore { store throws in
            let fs = store.fs
            _ = try fs.makeFile(in: store.upload, "file", bytes("x"))
            _ = try fs.mkdir(parent: store.upload, name: "dir", mode: 0o755, caller: alphaCaller)
            #expect(throws: Errno.notDirectory) { try fs.rmdir(parent: store.upload, name: "file", caller: alphaCaller) }
            #expect(throws: Errno.isDirectory) { try fs.unlink(parent: store.upload, name: "dir", caller: alphaCaller) }
            #expect(throws: Errno.noEntry) { try fs.unlink(parent: store.upload, name: "none", caller: alphaCaller) }
            let file = try fs.lookup(parent: store.upload, name: "file").ino
            #expect(throws: Errno.notDirectory) { try fs.lookup(parent: file, name: "x") }
            #expect(throws: Errno.notDirectory) { try fs.readdir(file, offset: 0, limit: 10) }
            #expect(throws: Errno.isDirectory) { try fs.open(store.upload, flags: O_RDONLY, caller: alphaCaller) }
        }
    }

    @Test func namesLongerThan255BytesAreRefused() throws {
        try withStore { store throws in
            let fs = store.fs
            let long = String(repeating: "a", count: 256)
            let longest = String(repeating: "b", count: 255)
            let multibyte = String(repeating: "é", count: 128)
            #expect(throws: Errno.nameTooLong) { try fs.create(parent: store.upload, name: long, mode: 0o644, flags: writeFlags, caller: alphaCaller) }
            #expect(throws: Errno.nameTooLong) { try fs.create(parent: store.upload, name: multibyte, mode: 0o644, flags: writeFlags, caller: alphaCaller) }
            #expect(throws: Errno.nameTooLong) { try fs.mkdir(parent: store.upload, name: long, mode: 0o755, caller: alphaCaller) }
            #expect(throws: Errno.nameTooLong) { try fs.lookup(parent: store.upload, name: long) }
            let ino = try fs.makeFile(in: store.upload, longest, bytes("ok"))
            #expect(try fs.lookup(parent: store.upload, name: longest).ino == ino)
            #expect(try store.names(store.upload) == [longest])
        }
    }

    @Test func invalidNamesAreRefused() throws {
        try withStore { store throws in
            for name in ["", ".", "..", "a\u{0}b"] {
                #expect(throws: Errno.invalid) {
                    try store.fs.mkdir(parent: store.upload, name: name, mode: 0o755, caller: alphaCaller)
                }
            }
        }
    }

    @Test func readdirStartsWithDotEntries() throws {
        try withStore { store throws in
            let fs = store.fs
            let file = try fs.makeFile(in: store.upload, "a", bytes("1"))
            let entries = try fs.readdir(store.upload, offset: 0, limit: 100)
            #expect(entries.map(\.name) == [".", "..", "a"])
            #expect(entries[0].attributes.ino == store.upload)
            #expect(entries[1].attributes.ino == store.districtRoot)
            #expect(entries[2].attributes.ino == file)
            #expect(entries.map(\.nextOffset) == [1, 2, Int64(file.rawValue) + 2])
            let rootEntries = try fs.readdir(.root, offset: 0, limit: 100)
            #expect(rootEntries.map(\.name) == [".", "..", "alpha"])
            #expect(rootEntries[1].attributes.ino == .root)
            #expect(try fs.readdir(store.upload, offset: entries[2].nextOffset, limit: 100).isEmpty)
        }
    }

    @Test func readdirPagesOverManyEntriesReturningEachNameOnce() throws {
        try withStore { store throws in
            let fs = store.fs
            let epoch = try fs.mkdir(parent: store.upload, name: "epoch", mode: 0o755, caller: alphaCaller).ino
            var expected: Set<String> = []
            for i in 0..<1100 {
                let name = "file-\(String(i, radix: 36))-\(i % 7)"
                expected.insert(name)
                if i % 3 == 0 {
                    _ = try fs.mkdir(parent: epoch, name: name, mode: 0o755, caller: alphaCaller)
                } else {
                    let (_, handle) = try fs.create(parent: epoch, name: name, mode: 0o644, flags: writeFlags, caller: alphaCaller)
                    fs.release(handle)
                }
            }
            for limit in [1, 7, 100, 5000] {
                var offset: Int64 = 0
                var counts: [String: Int] = [:]
                var lastOffset: Int64 = 0
                var calls = 0
                while calls < 3000 {
                    calls += 1
                    let page = try fs.readdir(epoch, offset: offset, limit: limit)
                    guard let last = page.last else { break }
                    for entry in page {
                        #expect(entry.nextOffset > lastOffset)
                        lastOffset = entry.nextOffset
                        counts[entry.name, default: 0] += 1
                    }
                    offset = last.nextOffset
                }
                #expect(counts[".", default: 0] == 1 && counts["..", default: 0] == 1)
                counts[".."] = nil
                counts["."] = nil
                #expect(Set(counts.keys) == expected, "limit \(limit)")
                #expect(counts.values.allSatisfy { $0 == 1 }, "limit \(limit)")
            }
        }
    }

    @Test func readdirCookiesSurviveRemovalsBetweenPages() throws {
        try withStore { store throws in
            let fs = store.fs
            let names = (0..<200).map { "n\($0)" }
            for name in names { _ = try fs.mkdir(parent: store.upload, name: name, mode: 0o755, caller: alphaCaller) }
            let first = try fs.readdir(store.upload, offset: 0, limit: 102)
            let seen = first.map(\.name).filter { $0 != "." && $0 != ".." }
            #expect(seen == Array(names.prefix(100)))
            for name in seen.prefix(50) { try fs.rmdir(parent: store.upload, name: name, caller: alphaCaller) }
            try fs.rmdir(parent: store.upload, name: "n150", caller: alphaCaller)
            var rest: [String] = []
            var offset = first.last!.nextOffset
            while true {
                let page = try fs.readdir(store.upload, offset: offset, limit: 30)
                guard let last = page.last else { break }
                rest += page.map(\.name)
                offset = last.nextOffset
            }
            #expect(rest == Array(names[100...]).filter { $0 != "n150" })
        }
    }

    @Test func opendirChecksTheInode() throws {
        try withStore { store throws in
            let fs = store.fs
            let handle = try fs.opendir(store.upload)
            #expect(throws: Errno.isDirectory) { try fs.read(handle, offset: 0, size: 10) }
            let file = try fs.makeFile(in: store.upload, "f", bytes("x"))
            #expect(throws: Errno.notDirectory) { try fs.opendir(file) }
            #expect(throws: Errno.noEntry) { try fs.opendir(InodeNumber(rawValue: 77_777)) }
        }
    }

    @Test func statfsReportsTheStoreDisk() throws {
        try withStore { store throws in
            let stats = try store.fs.statfs()
            #expect(stats.nameMax == 255)
            #expect(stats.blocks > 0)
            #expect(stats.blockSize > 0)
            #expect(stats.blocksFree <= stats.blocks)
        }
    }
}
