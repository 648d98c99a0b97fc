import EpochCore
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Signals the handler below saw (a C signal handler captures nothing).
private let interruptions = Atomic<Int>(0)

/// The pipe and socket calls of the control channel: retried on EINTR, whole writes.
@Suite struct ChannelCallTests {
    @Test func aReadInterruptedByASignalIsRetried() throws {
        // No SA_RESTART: the kernel then fails the blocked read with EINTR instead of restarting it.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in interruptions.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var previous = sigaction()
        sigaction(SIGUSR2, &action, &previous)
        defer { sigaction(SIGUSR2, &previous, nil) }
        let before = interruptions.load(ordering: .relaxed)

        let (readEnd, writeEnd) = try Sys.pipe()
        defer { Sys.close(readEnd); Sys.close(writeEnd) }
        let reader = Mutex<pthread_t?>(nil)
        let outcome = Mutex<Result<[UInt8], any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &signals, nil)
            reader.withLock { $0 = pthread_self() }
            var buffer = [UInt8](repeating: 0, count: 16)
            let result = Result { () throws -> [UInt8] in
                let count = try buffer.withUnsafeMutableBytes { try Sys.read(readEnd, $0) }
                return Array(buffer[..<count])
            }
            outcome.withLock { $0 = result }
            finished.signal()
        }.start()
        while reader.withLock({ $0 }) == nil { usleep(1000) }
        usleep(100_000)  // the reader is blocked in read(2) by now
        pthread_kill(reader.withLock { $0 }!, SIGUSR2)
        usleep(100_000)
        #expect(outcome.withLock { $0 } == nil, "still waiting after the signal")
        try Array("hello".utf8).withUnsafeBytes { try Sys.writeAll(writeEnd, $0) }
        finished.wait()
        #expect(interruptions.load(ordering: .relaxed) == before + 1)
        #expect(try outcome.withLock { $0 }?.get() == Array("hello".utf8))
    }

    @Test func writeAllWritesMoreThanAPipeTakesAtOnce() throws {
        let (readEnd, writeEnd) = try Sys.pipe()
        defer { Sys.close(readEnd) }
        let sent = pattern(1 << 20)
        let received = Mutex<[UInt8]>([])
        let finished = DispatchSemaphore(value: 0)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while let count = try? buffer.withUnsafeMutableBytes({ try Sys.read(readEnd, $0) }), count > 0 {
                received.withLock { $0 += buffer[..<count] }
            }
            finished.signal()
        }.start()
        try sent.withUnsafeBytes { try Sys.writeAll(writeEnd, $0) }
        Sys.close(writeEnd)
        finished.wait()
        #expect(received.withLock { $0 } == sent)
    }

    @Test func pollSaysWhichDescriptorIsReady() throws {
        let (readEnd, writeEnd) = try Sys.pipe()
        defer { Sys.close(readEnd); Sys.close(writeEnd) }
        var fds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
        #expect(try Sys.poll(&fds, timeout: 0) == 0)
        try [UInt8(1)].withUnsafeBytes { try Sys.writeAll(writeEnd, $0) }
        #expect(try Sys.poll(&fds, timeout: 1000) == 1)
        #expect(fds[0].revents & Int16(POLLIN) != 0)
        for fd in [readEnd, writeEnd] { #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "not inherited by what the daemon runs") }
    }

    @Test func aFailedCallIsThrownWithItsErrno() throws {
        let (readEnd, writeEnd) = try Sys.pipe()
        Sys.close(readEnd)
        defer { Sys.close(writeEnd) }
        // SIGPIPE is ignored by the daemon; here too, so that the write fails rather than kills.
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        let error = try #require(throws: SystemError.self) { try [UInt8(1)].withUnsafeBytes { try Sys.writeAll(writeEnd, $0) } }
        #expect(error.call == "write" && error.errno == EPIPE)
        #expect(throws: SystemError.self) { try Sys.accept(writeEnd) }
    }
}
