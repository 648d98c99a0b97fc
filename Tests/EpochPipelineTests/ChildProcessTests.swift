import Foundation
import Glibc
import Synchronization
@testable import EpochPipeline
import Testing

/// Hand-off and notify commands start in a clean signal state, whatever the daemon's: it
/// blocks SIGINT, SIGTERM and SIGHUP in every thread and ignores SIGPIPE.
@Suite(.serialized) struct ChildProcessTests {
    /// Runs `body` on a thread with the daemon's signal state, and restores the process's after.
    private func withDaemonSignals<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        let result = Mutex<Result<T, any Error>?>(nil)
        let thread = Thread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            for number in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&blocked, number) }
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            let outcome = Result { try body() }
            result.withLock { $0 = outcome }
        }
        thread.start()
        while result.withLock({ $0 == nil }) { usleep(10_000) }
        return try result.withLock { $0! }.get()
    }

    @Test func theChildHasNoBlockedOrIgnoredSignals() throws {
        let outcome = try withDaemonSignals {
            try ChildProcess.run(command: ["/bin/grep", "^Sig[BI]", "/proc/self/status"], environment: [:],
                                 timeoutSeconds: 10, outputLimit: 4096)
        }
        #expect(outcome.exitCode == 0, "\(outcome.output)")
        func mask(_ name: String) -> UInt64? {
            outcome.output.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        }
        // Signals 1 to 31; 32 and 33 are glibc's own, which no program sets.
        let standard: UInt64 = 0x7fff_ffff
        #expect(mask("SigBlk").map { $0 & standard } == 0, "\(outcome.output)")
        #expect(mask("SigIgn").map { $0 & standard } == 0, "\(outcome.output)")
    }

    @Test func aCommandPastItsTimeLimitEndsAtTheSIGTERM() throws {
        let outcome = try withDaemonSignals {
            try ChildProcess.run(command: ["/bin/sleep", "30"], environment: [:], timeoutSeconds: 1, outputLimit: 4096)
        }
        #expect(outcome.timedOut)
        // Ended by the SIGTERM, not by the SIGKILL that follows a 5 s grace.
        #expect(outcome.signal == SIGTERM, "\(outcome)")
        #expect(outcome.seconds < 4, "\(outcome.seconds) s")
    }

    @Test func aCommandGetsItsInputOutputAndWorkingDirectoryAndNoOtherDescriptor() throws {
        let directory = FileManager.default.temporaryDirectory.path
        let open = Glibc.open("/dev/null", O_RDONLY)  // without O_CLOEXEC, as a library might
        defer { close(open) }
        let outcome = try ChildProcess.run(
            command: ["/bin/sh", "-c", "cat; pwd; ls /proc/self/fd | wc -l; echo \"$GREETING\"; exit 3"],
            environment: ["GREETING": "hello"], input: Data("from stdin\n".utf8), workingDirectory: directory,
            timeoutSeconds: 10, outputLimit: 4096)
        #expect(outcome.exitCode == 3 && outcome.signal == nil && !outcome.timedOut)
        let lines = outcome.output.split(separator: "\n").map(String.init)
        // 0, 1, 2 and the descriptor ls opens to list them.
        #expect(lines == ["from stdin", directory, "4", "hello"], "\(outcome.output)")
    }

    /// A notify command that ignores its input: a megabyte of it (a reason naming thousands of
    /// files) must not hold the caller past the time limit.
    @Test func aCommandThatNeverReadsItsInputStillEndsAtItsTimeLimit() throws {
        let started = Date()
        let outcome = try ChildProcess.run(command: ["/bin/sleep", "30"], environment: [:], input: Data(count: 1 << 20),
                                           timeoutSeconds: 1, outputLimit: 16)
        #expect(outcome.timedOut && outcome.signal == SIGTERM, "\(outcome)")
        #expect(Date().timeIntervalSince(started) < 4)
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: ChildProcess.SpawnError.self) {
            try ChildProcess.run(command: ["/nonexistent/program"], environment: [:], timeoutSeconds: 1, outputLimit: 10)
        }
    }
}
