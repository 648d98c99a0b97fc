@testable import EpochFS
import EpochStore
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Log lines kept in memory, to see what the filesystem logged.
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "epochfs.tests") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            log.lines.withLock { $0.append("\(level) \(message) \(metadata ?? [:])") }
        }
    }
}

@Suite struct ErrnoTests {
    @Test func anExpectedStoreFailureKeepsItsErrnoAndIsLoggedARefusalIsNot() throws {
        let log = CapturedLog()
        try withStore { store throws in
            let fs = try FileSystem(storeRoot: store.root, staffGID: staffGID, logger: log.logger)
            #expect(fs.errnoOf(SystemError("open", "staging 42", errno: ENOENT)) == .noEntry)
            #expect(fs.errnoOf(Errno.exists) == .exists)
            let lines = log.lines.withLock { $0 }
            #expect(lines.count == 1)
            #expect(lines.first?.contains("store operation failed") == true && lines.first?.contains("open(staging 42)") == true)
        }
    }

    @Test func anUnexpectedFailureIsEIOAndLogged() throws {
        let log = CapturedLog()
        try withStore { store throws in
            let fs = try FileSystem(storeRoot: store.root, staffGID: staffGID, logger: log.logger)
            #expect(throws: Errno.io) {
                try fs.mapErrors { throw SystemError("pread", "blob 1234", errno: EBADF) }
            }
            let logged = log.lines.withLock { $0 }.filter { $0.contains("unexpected failure answered EIO") }
            #expect(logged.count == 1)
            #expect(logged.first?.contains("pread(blob 1234)") == true)
        }
    }
}
