@testable import EpochFS
import EpochStore
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The bookkeeping of passthrough backing files: one per open file, registered by the first
/// reader, given back by the last, and no writer while readers read through it. (The mounted
/// suite "Passthrough" checks what the kernel does with them.)
@Suite struct PassthroughBookkeepingTests {
    /// Stands in for the kernel's backing-file ioctls.
    final class Kernel: Sendable {
        let registered = Mutex<[Int32]>([])
        let closed = Mutex<[Int32]>([])
        let nextID = Mutex<Int32>(7)

        func register(_ fd: Int32) -> Int32 {
            #expect(fcntl(fd, F_GETFD) != -1, "a live descriptor")
            return nextID.withLock { id in
                defer { id += 1 }
                registered.withLock { $0.append(id) }
                return id
            }
        }

        func close(_ id: Int32) { closed.withLock { $0.append(id) } }
    }

    /// A store serving with passthrough, one published file in alpha's `upload/`, and a kernel.
    private func withPublishedFile(_ content: [UInt8], passthrough: Bool = true,
                                   _ body: (FileSystem, InodeNumber, Kernel) throws -> Void) throws {
        try withStore { store throws in
            let fs = store.fs
            if passthrough { fs.enablePassthrough() }
            let (created, handle) = try fs.create(parent: store.upload, name: "roster.csv", mode: 0o644,
                                                  flags: writeFlags, caller: alphaCaller)
            try fs.put(handle, content, at: 0)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            try body(fs, created.ino, Kernel())
        }
    }

    @Test func readersShareOneBackingFileAndTheLastGivesItBack() throws {
        try withPublishedFile(pattern(10_000, seed: 1)) { fs, ino, kernel throws in
            let first = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            let second = try fs.open(ino, flags: O_RDONLY, caller: rootCaller, registerBacking: kernel.register)
            #expect(first.backingID == 7 && second.backingID == 7, "one backing file for the inode")
            #expect(!first.directIO && !second.directIO)
            #expect(kernel.registered.withLock { $0 } == [7])

            #expect(throws: Errno.textBusy) { try fs.open(ino, flags: O_WRONLY | O_TRUNC, caller: alphaCaller) }
            #expect(throws: Errno.textBusy) { try fs.setattr(ino, AttributeChanges(size: 0), handle: nil, caller: alphaCaller) }
            #expect(try fs.getattr(ino).size == 10_000, "the refused open truncated nothing")

            fs.release(first, closeBacking: kernel.close)
            #expect(kernel.closed.withLock { $0 }.isEmpty, "another reader still reads through it")
            fs.release(second, closeBacking: kernel.close)
            #expect(kernel.closed.withLock { $0 } == [7])

            // Once they are gone a writer may open, and a reader beside it goes through the daemon.
            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(writer.backingID == 0 && writer.directIO)
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(reader.backingID == 0 && reader.directIO, "no passthrough while a writer has the file open")
            fs.release(reader, closeBacking: kernel.close)
            fs.release(writer, closeBacking: kernel.close)
            #expect(kernel.registered.withLock { $0 } == [7])

            // A new reader registers afresh.
            let again = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(again.backingID == 8)
            fs.release(again, closeBacking: kernel.close)
            #expect(kernel.closed.withLock { $0 } == [7, 8])
        }
    }

    @Test func readersBesideADirectReaderStayDirect() throws {
        try withPublishedFile(pattern(1000, seed: 4)) { fs, ino, kernel throws in
            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller, registerBacking: kernel.register)
            let first = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            fs.release(writer, closeBacking: kernel.close)
            let second = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(first.backingID == 0 && second.backingID == 0, "no backing file beside a direct-I/O handle")
            #expect(second.directIO)
            fs.release(first, closeBacking: kernel.close)
            fs.release(second, closeBacking: kernel.close)
            let third = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(third.backingID == 7)
            fs.release(third, closeBacking: kernel.close)
            #expect(kernel.registered.withLock { $0 } == [7] && kernel.closed.withLock { $0 } == [7])
        }
    }

    @Test func readOnlyTruncatingOpenIsAWrite() throws {
        try withPublishedFile(pattern(1000, seed: 5)) { fs, ino, kernel throws in
            let handle = try fs.open(ino, flags: O_RDONLY | O_TRUNC, caller: alphaCaller, registerBacking: kernel.register)
            #expect(handle.backingID == 0)
            #expect(try fs.getattr(ino).size == 0, "O_RDONLY|O_TRUNC truncates, as on Linux")
            fs.release(handle, closeBacking: kernel.close)
            #expect(kernel.registered.withLock { $0 }.isEmpty)
        }
    }

    @Test func aRefusedRegistrationFallsBackToDirectIO() throws {
        try withPublishedFile(pattern(100, seed: 2)) { fs, ino, kernel throws in
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller) { _ in 0 }
            #expect(reader.backingID == 0 && reader.directIO)
            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            fs.release(writer)
            fs.release(reader)
        }
    }

    @Test func withoutPassthroughNothingIsRegistered() throws {
        try withPublishedFile(pattern(100, seed: 3), passthrough: false) { fs, ino, kernel throws in
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(reader.backingID == 0 && !reader.directIO, "the page cache serves it")
            fs.release(reader, closeBacking: kernel.close)
            #expect(kernel.registered.withLock { $0 }.isEmpty)
        }
    }

    @Test func aCallerKeepsAtMostOneRequestThreadWaitingForReleases() throws {
        try withPublishedFile(pattern(100, seed: 4)) { fs, ino, kernel throws in
            // A reader that stays open: a writer's open waits for its release, up to 500 ms.
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller, registerBacking: kernel.register)
            #expect(reader.backingID != 0)
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                #expect(throws: Errno.textBusy) { try fs.open(ino, flags: O_WRONLY, caller: alphaCaller) }
                done.signal()
            }
            while fs.releaseWaits.withLock({ $0.count }) == 0 { usleep(100) }
            // alpha's second open does not wait too, nor does anyone once all places are taken.
            #expect(throws: Errno.textBusy) { try fs.open(ino, flags: O_WRONLY, caller: alphaCaller) }
            #expect(fs.releaseWaits.withLock { $0.waiting } == [alphaUID], "the first open still waits")
            done.wait()
            #expect(fs.releaseWaits.withLock { $0.count } == 0)

            var waits = ReleaseWaits()
            let entered = [waits.enter(1), waits.enter(1), waits.enter(2), waits.enter(3), waits.enter(4)]
            #expect(entered == [true, false, true, true, false], "one per caller, at most \(ReleaseWaits.total) in all")
            waits.leave(1)
            let again = waits.enter(4)
            #expect(again)
            fs.release(reader, closeBacking: kernel.close)
        }
    }
}
