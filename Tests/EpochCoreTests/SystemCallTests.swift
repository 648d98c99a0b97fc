import EpochCore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SystemCallTests {
    @Test func firstHoleOfASparseFileIsTheEndOfTheFirstData() throws {
        try withTemporaryDirectory { dir throws in
            let fd = try Sys.open(dir + "/sparse", O_RDWR | O_CREAT, 0o600)
            defer { Sys.close(fd) }
            try pwrite(fd, pattern(8192), at: 0)
            try pwrite(fd, pattern(4096, seed: 1), at: 1 << 20)
            #expect(try Sys.fstat(fd).st_size == (1 << 20) + 4096)
            #expect(try Sys.firstHole(fd) == 8192)
        }
    }

    @Test func firstHoleOfADenseFileIsItsSize() throws {
        try withTemporaryDirectory { dir throws in
            let fd = try Sys.open(dir + "/dense", O_RDWR | O_CREAT, 0o600)
            defer { Sys.close(fd) }
            try pwrite(fd, pattern(10_001), at: 0)
            #expect(try Sys.firstHole(fd) == 10_001)
        }
    }

    @Test func firstHoleOfAnEmptyFileOrLeadingHoleIsZero() throws {
        try withTemporaryDirectory { dir throws in
            let empty = try Sys.open(dir + "/empty", O_RDWR | O_CREAT, 0o600)
            defer { Sys.close(empty) }
            #expect(try Sys.firstHole(empty) == 0)
            let leading = try Sys.open(dir + "/leading", O_RDWR | O_CREAT, 0o600)
            defer { Sys.close(leading) }
            try pwrite(leading, pattern(4096), at: 1 << 20)
            #expect(try Sys.firstHole(leading) == 0)
        }
    }

    @Test func copyFileCopiesThePrefix() throws {
        try withTemporaryDirectory { dir throws in
            let content = pattern(200_000)
            try writeFile(dir + "/source", content)
            let source = try Sys.open(dir + "/source", O_RDONLY)
            defer { Sys.close(source) }
            let target = try Sys.open(dir + "/target", O_RDWR | O_CREAT, 0o600)
            defer { Sys.close(target) }
            try Sys.copyFile(from: source, to: target, count: 150_000)
            #expect(try readAll(target) == Array(content[0..<150_000]))
        }
    }

    @Test func missingPathsAreNotErrorsWhereDocumented() throws {
        try withTemporaryDirectory { dir throws in
            #expect(try Sys.status(dir + "/nothing") == nil)
            #expect(try Sys.listDirectory(dir + "/nothing").isEmpty)
            try Sys.unlink(dir + "/nothing")
            try Sys.mkdir(dir + "/made", 0o700)
            try Sys.mkdir(dir + "/made", 0o700)
            #expect(try Sys.listDirectory(dir) == ["made"])
            #expect(try permissionBits(dir + "/made") == 0o700)
        }
    }

    @Test func failedCallNamesTheCallTheSubjectAndErrno() throws {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/absent"
            let error = try #require(throws: SystemError.self) { try Sys.open(path, O_RDONLY) }
            #expect(error.call == "open")
            #expect(error.subject == path)
            #expect(error.errno == ENOENT)
            #expect(error.description == "open(\(path)): No such file or directory")
            let rename = try #require(throws: SystemError.self) { try Sys.rename(path, dir + "/b") }
            #expect(rename.errno == ENOENT)
            #expect(rename.subject == "\(path) -> \(dir)/b")
        }
    }

    @Test func listDirectorySkipsDotEntries() throws {
        try withTemporaryDirectory { dir throws in
            try writeFile(dir + "/a", [1])
            try writeFile(dir + "/.hidden", [2])
            #expect(Set(try Sys.listDirectory(dir)) == ["a", ".hidden"])
        }
    }

    @Test func readAndWriteAllGoOnFromTheFilesOffset() throws {
        try withTemporaryDirectory { dir throws in
            let content = pattern(100_000)
            let output = try Sys.open(dir + "/file", O_WRONLY | O_CREAT, 0o600)
            try content[..<60_000].withUnsafeBytes { try Sys.writeAll(output, $0) }
            try content[60_000...].withUnsafeBytes { try Sys.writeAll(output, $0) }
            Sys.close(output)
            let input = try Sys.open(dir + "/file", O_RDONLY)
            defer { Sys.close(input) }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            var read: [UInt8] = []
            while true {
                let count = try chunk.withUnsafeMutableBytes { try Sys.read(input, $0) }
                if count == 0 { break }
                read += chunk[..<count]
            }
            #expect(read == content)
        }
    }

    @Test func aFailedReadOrWriteNamesTheCallAndErrno() throws {
        try withTemporaryDirectory { dir throws in
            try writeFile(dir + "/file", [1, 2, 3])
            let fd = try Sys.open(dir + "/file", O_RDONLY)
            defer { Sys.close(fd) }
            let write = try #require(throws: SystemError.self) { try [UInt8(4)].withUnsafeBytes { try Sys.writeAll(fd, $0) } }
            #expect(write.call == "write" && write.errno == EBADF)
            let directory = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
            defer { Sys.close(directory) }
            var buffer = [UInt8](repeating: 0, count: 16)
            let read = try #require(throws: SystemError.self) { try buffer.withUnsafeMutableBytes { try Sys.read(directory, $0) } }
            #expect(read.call == "read" && read.errno == EISDIR)
        }
    }

    @Test func processExitDetectionReadsProcStatm() throws {
        #expect(Sys.processIsExiting(getpid()) == false)
        #expect(Sys.processIsExiting(try exitedProcessID()) == true)
        #expect(Sys.processIsExiting(0) == false)
    }

    /// What the probe asks when no descriptor is left to open `/proc/<pid>/statm` with.
    @Test func processExitDetectionWithoutADescriptor() throws {
        #expect(Sys.hasAddressSpace(getpid()) == true)
        #expect(Sys.hasAddressSpace(try exitedProcessID()) == false)
    }
}
