import Foundation
import Glibc
import Testing

/// FUSE passthrough: readers read from the blob through the kernel, writers write through the
/// daemon with direct I/O. What that changes for callers is checked here; the POSIX check
/// list and every other mounted suite run in this mode too (where the kernel offers it).
@Suite("Passthrough", .serialized, .requiresMount)
struct PassthroughTests {
    @Test("A reader reads through the blob, not the daemon; a writer cannot join it (ETXTBSY, nothing changes) and can once it closes",
          .requiresPassthrough)
    func writerWaitsForPassthroughReaders() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }
        let metricsFile = scratch.path + "/epochfs.prom"
        try withMount(mountArguments: ["--metrics-file", metricsFile]) { fs in
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
            try fs.unmount()  // the daemon writes its metrics once more as it stops
            let metrics = try Self.metrics(metricsFile)
            #expect(metrics["epochfs_read_bytes_total"] == 0, "every read went through the blob: \(metrics)")
            #expect(metrics["epochfs_passthrough_backing_files"] == 0, "every backing file was given back: \(metrics)")
            #expect(metrics["epochfs_passthrough_refusals_total"] == 0, "\(metrics)")
        }
    }

    @Test("A reader that opens while a writer writes sees the writer's bytes; a file unlinked while read stays readable, and its blob goes at the close",
          .requiresPassthrough)
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

    @Test("A shared writable mapping of a file works (with passthrough its handle is direct I/O, which allows mmap)")
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

    @Test("A reader opened beside a writer reads through the daemon, and so do readers after it while it stays open; its mmap works",
          .requiresPassthrough)
    func directReadersKeepLaterReadersDirect() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/mixed.bin"
            let content = TestData.random(64 << 10)
            let writer = try OpenFile(path, O_WRONLY | O_CREAT)
            try writer.write(content)
            let first = try OpenFile(path, O_RDONLY)
            try writer.close()
            // The kernel refuses a passthrough open of an inode that a direct handle has
            // mapped (EIO): the next reader must not ask for one while `first` is open.
            let map = mmap(nil, content.count, PROT_READ, MAP_SHARED, first.fd, 0)
            #expect(map != MAP_FAILED, "mmap of a direct handle: \(Errno.current)")
            let second = try OpenFile(path, O_RDONLY)
            expectBytes(try second.readToEnd(), content, "a reader beside the mapped one")
            if let map, map != MAP_FAILED {
                #expect(Array(UnsafeRawBufferPointer(start: map, count: content.count)) == content, "the mapping reads the content")
                munmap(map, content.count)
            }
            try second.close()
            try first.close()
            expectBytes(try Files.read(path), content, "a reader after both closed")
        }
    }

    @Test("With --no-passthrough, a writer may join open readers and reads go through the daemon")
    func withoutPassthroughWritersJoinReaders() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }
        let metricsFile = scratch.path + "/epochfs.prom"
        try withMount(mountArguments: ["--no-passthrough", "--metrics-file", metricsFile]) { fs in
            let path = fs.upload(.alpha) + "/shared.bin"
            try Files.write(path, TestData.random(64 << 10))
            let reader = try OpenFile(path, O_RDONLY)
            let replacement = TestData.random(32 << 10)
            try Files.write(path, replacement)
            expectBytes(try reader.readToEnd(), replacement, "the open reader sees the new content")
            try reader.close()
            // After a remount the kernel has nothing of the file cached: the daemon reads it.
            try fs.unmount()
            try fs.mount(["--no-passthrough", "--metrics-file", metricsFile])
            expectBytes(try Files.read(path), replacement, "read again after a remount")
            try fs.unmount()
            let metrics = try Self.metrics(metricsFile)
            #expect((metrics["epochfs_read_bytes_total"] ?? 0) >= Int64(replacement.count), "\(metrics)")
            #expect(metrics["epochfs_passthrough_backing_files"] == 0, "\(metrics)")
        }
    }

    /// The metrics file's samples without labels, by name.
    static func metrics(_ path: String) throws -> [String: Int64] {
        var samples: [String: Int64] = [:]
        for line in String(decoding: try Files.read(path), as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Int64(parts[1]) { samples[String(parts[0])] = value }
        }
        return samples
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
