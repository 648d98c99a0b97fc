import ArgumentParser
import EpochFS
import EpochStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct FsckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Re-hash every blob and check every reference, count and staging file; --repair fixes what can be fixed.",
        discussion: """
            With the store unmounted it checks everything and may repair. While mounted it checks \
            read-only (the daemon gives the metadata; the blobs are read from disk; staging files, \
            which come and go, are not checked). Exit status 0: nothing wrong (or all repaired); 1: \
            problems remain.
            """)
    @OptionGroup var store: StoreOptions
    @Flag(help: "Repair what can be repaired without guessing (store unmounted only).")
    var repair = false
    @Flag(help: "Print the findings as JSON.")
    var json = false

    func run() throws {
        try requireRoot("epochfs fsck")
        let paths = StorePaths(root: store.resolved())
        guard FileManager.default.fileExists(atPath: paths.metadata) else {
            throw CommandError("no store at \(paths.root): pass --store")
        }
        let check = IntegrityCheck(blobs: try BlobStore(root: paths.root))
        let progress = ProgressBar(label: "hashing blobs")
        var findings: [IntegrityFinding]
        if case .direct(let lock) = try StoreAccess.acquire(paths) {
            let metadata = try MetadataStore(path: paths.metadata, now: WallClock.system.now())
            findings = try check.check(try IntegritySnapshot(metadata), live: false, progress: progress.update)
            progress.finish()
            try IntegrityCheck.describe(&findings, metadata)
            if repair { try check.repair(&findings, metadata) }
            withExtendedLifetime(lock) {}
        } else {
            if repair {
                throw CommandError("--repair needs the store unmounted (fusermount3 -u the mount, or systemctl stop epochfs); while mounted, epochfs gc removes what nothing references")
            }
            let response = try ControlClient.send(.integritySnapshot, socket: paths.controlSocket)
            guard response.ok, let snapshot = response.integrity else { throw CommandError(response.message) }
            findings = try check.check(snapshot, live: true, progress: progress.update)
            progress.finish()
            let described = try ControlClient.send(.describeFindings(findings), socket: paths.controlSocket)
            findings = described.findings ?? findings
        }
        if json {
            try printJSON(findings)
        } else if findings.isEmpty {
            print("no problems found")
        } else {
            for finding in findings { print(finding) }
        }
        if findings.contains(where: { !$0.repaired }) { throw ExitCode(1) }
    }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove blob and staging files nothing references (safe while mounted).")
    @OptionGroup var store: StoreOptions

    func run() throws {
        try requireRoot("epochfs gc")
        let response = try perform(.collectGarbage, store: store.resolved(), logger: makeLogger())
        guard response.ok, let report = response.garbage else { throw CommandError(response.message) }
        print("removed \(report.blobFiles) unreferenced blob files (\(report.blobBytes) bytes), "
              + "\(report.temporaryFiles) unfinished blob writes and \(report.stagingFiles) staging files of no file")
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the store, consistently, into DEST (safe while mounted); DEST is then a store of its own.",
        discussion: """
            The metadata is copied with SQLite's online backup; then every blob it names, and the \
            staging file of each upload in progress. Blobs already in DEST (from an earlier backup \
            into the same directory, after its metadata.db was moved away) are not copied again. \
            Restoring: see docs/operations.md.
            """)
    @Argument(help: "A new or empty directory (absolute path).")
    var destination: String
    @OptionGroup var store: StoreOptions

    func run() throws {
        try requireRoot("epochfs backup")
        let destination = URL(fileURLWithPath: self.destination).standardizedFileURL.path
        let response = try perform(.backup(destination: destination), store: store.resolved(), logger: makeLogger())
        guard response.ok, let report = response.backup else { throw CommandError(response.message) }
        print("backup in \(destination): \(report.blobsCopied) blobs copied (\(report.bytesCopied) bytes), "
              + "\(report.blobsPresent) already there, \(report.stagingFiles) uploads in progress")
    }
}

/// A progress bar with rate and time left, on standard error when it is a terminal; silent in
/// a pipe or a log.
final class ProgressBar {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) != 0
    private let started = Date()
    private var lastDrawn = Date.distantPast

    init(label: String) {
        self.label = label
    }

    func update(_ done: Int64, _ total: Int64) {
        guard enabled, Date().timeIntervalSince(lastDrawn) >= 0.2 || done == total else { return }
        lastDrawn = Date()
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let left = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = String(format: "\r%@ [%@] %3.0f%% %.0f MB/s, %d:%02d left ", label, bar, fraction * 100, rate / 1e6,
                          Int(left) / 60, Int(left) % 60)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
