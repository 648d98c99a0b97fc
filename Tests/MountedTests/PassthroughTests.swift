import Foundation
import Glibc
import Testing

/// FUSE passthrough: readers read from the blob through the kernel, writers write through the
/// daemon with direct I/O. What that changes for callers is checked here; the POSIX check
/// list and every other mounted suite run in this mode too (where the kernel offers it).
@Suite("Passthrough", .serialized, .requiresMount)
struct PassthroughTests {
    @Test("A reader reads through the blob; a writer cannot join it (ETXTBSY, nothing changes) and can once it closes")
    func writerWaitsForPassthroughReaders() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/roster.csv"
            let first = TestData.random(3 << 20 + 123)
            try Files.write(path, first)
            let reader = try OpenFile(path, O_RDONLY)
            expectBytes(try reader.readToEnd(), first, "the reader sees the published bytes")

            expectErrno(.ETXTBSY, "an O_TRUNC open for writing") { _ = try OpenFile(path, O_WRONLY | O_TRUNC) }
            expectErrno(.ETXTBSY, "a truncate by path") { try sys("truncate") { Glibc.truncate(path, 10) } }
            #expect(try Files.stat(path).st_size == Int(first.count), "the refused open truncated nothing")
            expectBytes(try reader.read(count: 16, at: 1 << 20), Array(first[(1 << 20)..<((1 << 20) + 16)]),
                        "the reader still reads what it opened")
            // Reading more handles at once shares the inode's backing file.
            let second = try OpenFile(path, O_RDONLY)
            expectBytes(try second.readToEnd(), first, "a second reader")
            try second.close()
            try reader.close()

            let replacement = TestData.random(1 << 20)
            try Files.write(path, replacement)
            expectBytes(try Files.read(path), replacement, "after the readers closed, the writer replaced the content")
            #expect(try Files.sha256Attribute(path) == TestData.sha256(replacement))
            #expect(!fs.logTail().contains("passthrough backing file back failed"), "the kernel took the backing files back")
        }
    }

    @Test("A reader that opens while a writer writes sees the writer's bytes; a file unlinked while read stays readable, and its blob goes at the close")
    func readersBesideWritersAndUnlink() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/growing.bin"
            let writer = try OpenFile(path, O_WRONLY | O_CREAT)
            let part = TestData.random(256 << 10)
            try writer.write(part)
            let reader = try OpenFile(path, O_RDONLY)
            expectBytes(try reader.readToEnd(), part, "bytes written so far, through the daemon")
            let rest = TestData.random(100 << 10)
            try writer.write(rest)
            expectBytes(try reader.read(count: rest.count, at: part.count), rest, "bytes written after the reader opened")
            try writer.close()
            try reader.close()

            let kept = try OpenFile(path, O_RDONLY)
            try sys("unlink") { Glibc.unlink(path) }
            expectBytes(try kept.readToEnd(), part + rest, "an unlinked file stays readable until closed")
            #expect(fs.blobs().count == 1)
            try kept.close()
            #expect(eventually(within: 20) { fs.blobs().isEmpty }, "the kernel let go of the blob and it was reclaimed")
        }
    }

    @Test("A shared writable mapping of a file works (direct I/O allows mmap)")
    func sharedWritableMapping() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/mapped.bin"
            try Files.write(path, [UInt8](repeating: 0x61, count: 8192))
            let file = try OpenFile(path, O_RDWR)
            let map = mmap(nil, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd, 0)
            #expect(map != MAP_FAILED, "mmap: \(Errno.current)")
            if let map, map != MAP_FAILED {
                map.storeBytes(of: 0x7a, toByteOffset: 4096, as: UInt8.self)
                #expect(msync(map, 8192, MS_SYNC) == 0, "msync: \(Errno.current)")
                munmap(map, 8192)
            }
            try file.close()
            var expected = [UInt8](repeating: 0x61, count: 8192)
            expected[4096] = 0x7a
            expectBytes(try Files.read(path), expected, "the mapped change reached the store")
        }
    }

    @Test("With --no-passthrough, a writer may join open readers (the writeback cache carries the data)")
    func withoutPassthroughWritersJoinReaders() throws {
        try withMount(mountArguments: ["--no-passthrough"]) { fs in
            let path = fs.upload(.alpha) + "/shared.bin"
            try Files.write(path, TestData.random(64 << 10))
            let reader = try OpenFile(path, O_RDONLY)
            let replacement = TestData.random(32 << 10)
            try Files.write(path, replacement)
            expectBytes(try reader.readToEnd(), replacement, "the open reader sees the new content")
            try reader.close()
        }
    }

    private func expectErrno(_ expected: Errno, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
                             _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(what) succeeded", sourceLocation: sourceLocation)
        } catch let error as SystemCallError {
            #expect(error.errno == expected, "\(what): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): \(error)", sourceLocation: sourceLocation)
        }
    }
}
