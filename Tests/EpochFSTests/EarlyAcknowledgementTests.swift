@testable import EpochFS
import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Writes are acknowledged before their bytes are copied into the staging file; what happens
/// when that copy then fails.
@Suite struct EarlyAcknowledgementTests {
    @Test func aWriteIsAcknowledgedBeforeItsBytesLandAndTheyAreThereOnceItReturns() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "a.csv", mode: 0o644,
                                                  flags: writeFlags, caller: alphaCaller)
            let content = pattern(70_000, seed: 3)
            let staging = try #require(handle.file).state.withLock { $0.fd }
            var sizeWhenAcknowledged: Int?
            let (count, acknowledged) = try fs.writeAcknowledged(handle, content, at: 0) {
                var st = stat()
                if fstat(staging, &st) == 0 { sizeWhenAcknowledged = Int(st.st_size) }
            }
            #expect(sizeWhenAcknowledged == 0, "the reply goes before the bytes are copied")
            #expect(count == content.count)
            #expect(acknowledged == [content.count])
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try fs.contents(created.ino) == content)
            #expect(try fs.hashAttribute(created.ino) == sha256Hex(content))
        }
    }

    @Test func aWriteThatFailsAfterItsAcknowledgementFailsTheRestOfTheSessionAndIsNeverPublished() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "b.csv", mode: 0o644,
                                                  flags: writeFlags, caller: alphaCaller)
            let first = pattern(4096, seed: 4)
            try fs.put(handle, first, at: 0)
            let reader = try fs.open(created.ino, flags: O_RDONLY, caller: alphaCaller)

            // The staging file stops taking bytes (a read-only descriptor in its place: EBADF).
            let file = try #require(handle.file)
            let readOnly = Glibc.open("/dev/null", O_RDONLY)
            try #require(readOnly >= 0)
            let staging = file.state.withLock { $0.fd }
            file.state.withLock { $0.fd = readOnly }
            let lost = pattern(4096, seed: 5)
            let (count, acknowledged) = try fs.writeAcknowledged(handle, lost, at: 4096)
            #expect(acknowledged == [lost.count] && count == lost.count, "acknowledged before the copy failed")
            file.state.withLock { $0.fd = staging }
            Glibc.close(readOnly)

            // The bytes that were lost are not counted, and nothing of the session goes on
            // past them: a retry of the write, an fsync, the close all fail.
            #expect(try fs.getattr(created.ino).size == Int64(first.count))
            #expect(throws: Errno.io) { _ = try fs.writeAcknowledged(handle, lost, at: 4096) }
            #expect(throws: Errno.io) { try fs.fsync(handle, dataOnly: true) }
            #expect(throws: Errno.io) { try fs.flush(handle, caller: alphaCaller) }
            // A reader's fsync is not the writer's business; the kernel, which took the
            // acknowledged size, is to forget the file at its last close.
            try fs.fsync(reader, dataOnly: true)
            #expect(file.state.withLock { $0.session.kernelCacheStale })
            fs.release(handle)
            #expect(file.state.withLock { $0.session.lateWriteError } == nil, "the error ends with the session")
            fs.release(reader)

            // Kept as an interrupted upload of what did land, not published.
            let record = try #require(try store.record(created.ino))
            #expect(record.staged && record.interrupted && record.blob == nil)
            #expect(record.size == Int64(first.count))
            #expect(try fs.contents(created.ino) == first)
            #expect(throws: Errno.noData) { try fs.hashAttribute(created.ino) }

            // A new writing session (a resumed upload) starts clean and is published.
            let resumed = try fs.open(created.ino, flags: O_WRONLY | O_APPEND, caller: alphaCaller)
            try fs.put(resumed, lost, at: Int64(first.count))
            try fs.flush(resumed, caller: alphaCaller)
            fs.release(resumed)
            #expect(try fs.contents(created.ino) == first + lost)
            #expect(try fs.hashAttribute(created.ino) == sha256Hex(first + lost))
        }
    }

    @Test func aDurableWriteOnADirectHandleIsNotAcknowledgedEarly() throws {
        try withStore { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "c.csv", mode: 0o644,
                                                  flags: writeFlags, caller: alphaCaller)
            let direct = Handle(file: handle.file, writable: true, openerPID: alphaCaller.pid,
                                caching: KernelCaching(directIO: true, keepCache: true, cacheDirectory: false))
            let content = pattern(1000, seed: 6)
            let (count, acknowledged) = try fs.writeAcknowledged(direct, content, at: 0, durable: true)
            #expect(count == content.count && acknowledged.isEmpty)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try fs.contents(created.ino) == content)
        }
    }
}

extension FileSystem {
    /// Writes `bytes` as the adapter does, offering early acknowledgement; returns the count
    /// and what was acknowledged.
    func writeAcknowledged(_ handle: Handle, _ bytes: [UInt8], at offset: Int64, durable: Bool = false,
                           whenAcknowledged: () -> Void = {}) throws -> (count: Int, acknowledged: [Int]) {
        let acknowledged = Acknowledgements()
        let count = try withoutActuallyEscaping(whenAcknowledged) { observe in
            try bytes.withUnsafeBytes { raw in
                try write(handle, offset: offset, bytes: raw, durable: durable) { count in
                    acknowledged.record(count)
                    observe()
                }
            }
        }
        return (count, acknowledged.counts)
    }
}

private final class Acknowledgements {
    private(set) var counts: [Int] = []
    func record(_ count: Int) { counts.append(count) }
}
