import EpochFS
@testable import EpochPipeline
import EpochStore
import Ingest
import Foundation
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A clock the test moves: the rules of seconds and hours are tested without sleeping.
final class TestClock: Sendable {
    private let time: Mutex<Nanoseconds>

    init(_ start: Nanoseconds = WallClock.system.now()) {
        time = Mutex(start)
    }

    var clock: WallClock { WallClock { [self] in time.withLock { $0 } } }
    var now: Nanoseconds { time.withLock { $0 } }

    func set(_ value: Nanoseconds) {
        time.withLock { $0 = value }
    }
}

let second: Nanoseconds = 1_000_000_000
let alphaUID: UInt32 = 1001
/// The district writing from a live process (this one), so its closes are clean.
let alphaCaller = Caller(uid: alphaUID, gid: alphaUID, pid: getpid())
let rootCaller = Caller(uid: 0, gid: 0, pid: getpid())

/// A store in a temporary directory served by a kernel-less `FileSystem` with the district
/// `alpha`, and a pipeline whose threads are not started: the test runs a sealer pass
/// (`seal`) and the processor's steps (`process`) itself, at times of its own clock.
final class PipelineHarness {
    let root: String
    let clock: TestClock
    private(set) var fs: FileSystem
    private(set) var pipeline: EpochPipeline
    let alpha: DistrictRecord
    let settings: PipelineSettings
    let limits: DistrictLimits

    var upload: InodeNumber { InodeNumber(rawValue: alpha.uploadIno) }
    var processed: InodeNumber { InodeNumber(rawValue: alpha.processedIno) }

    /// Each staff event as the notify command received it.
    var staffEvents: [String] {
        pipeline.notifier.drain()
        let text = (try? String(contentsOfFile: root + "/events", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    init(settings: PipelineSettings = PipelineSettings(), limits: DistrictLimits = DistrictLimits(),
         handOff: String? = nil) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("epochfs-pipeline-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/profiles", withIntermediateDirectories: true)
        try Data("#!/bin/sh\ncat >> \(root)/events\n".utf8).write(to: URL(fileURLWithPath: root + "/notify"))
        chmod(root + "/notify", 0o755)
        var settings = settings
        settings.profilesDirectory = root + "/profiles"
        settings.notifyCommand = [root + "/notify"]
        if let handOff { try Self.cleverProfile(handOff: handOff, into: root + "/profiles") }
        self.settings = settings
        self.limits = limits
        clock = TestClock()
        fs = try FileSystem(storeRoot: root + "/store", staffGID: 2000, limits: limits, logger: quietLogger, clock: clock.clock)
        alpha = try Administration(fs).addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID)
        pipeline = try EpochPipeline(fs: fs, settings: settings, workRoot: root + "/store/work", logger: quietLogger)
    }

    deinit {
        pipeline.notifier.drain()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The same store opened again, as after a restart, with the same clock.
    func restart() throws {
        pipeline.notifier.drain()
        fs = try FileSystem(storeRoot: root + "/store", staffGID: 2000, limits: limits, logger: quietLogger, clock: clock.clock)
        pipeline = try EpochPipeline(fs: fs, settings: settings, workRoot: root + "/store/work", logger: quietLogger)
    }

    /// The built-in Clever profile with `handOff` as its hand-off command, as an operator writes it.
    static func cleverProfile(handOff: String, into directory: String) throws {
        var profile = try #require(ProfileLibrary.builtIn.first { $0.name == "clever" })
        profile.handOff = HandOff(command: [handOff], timeoutSeconds: 60)
        try JSONEncoder().encode(profile).write(to: URL(fileURLWithPath: directory + "/clever.json"))
    }

    // MARK: Uploading, as a district's client does

    /// Makes the epoch directory `name` and uploads `files` into it, in order.
    @discardableResult
    func makeEpoch(_ name: String, _ files: [(String, String)]) throws -> InodeNumber {
        let epoch = try fs.mkdir(parent: upload, name: name, mode: 0o755, caller: alphaCaller).ino
        try put(files, into: epoch)
        return epoch
    }

    /// Creates each file, writes it and closes it cleanly.
    func put(_ files: [(String, String)], into directory: InodeNumber, caller: Caller = alphaCaller) throws {
        for (name, text) in files {
            let (attributes, handle) = try fs.create(parent: directory, name: name, mode: 0o644, flags: O_WRONLY | O_CREAT,
                                                     caller: caller)
            try write(handle, Array(text.utf8))
            try fs.flush(handle, caller: caller)
            fs.release(handle)
            fs.forget([(attributes.ino, 1)])
        }
    }

    func write(_ handle: Handle, _ bytes: [UInt8], at offset: Int64 = 0) throws {
        guard !bytes.isEmpty else { return }
        let written = try bytes.withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: offset, bytes: raw) }
        #expect(written == bytes.count)
    }

    // MARK: Running the pipeline

    /// When something in epoch `name` (in `upload/`) last changed.
    func lastChange(_ name: String) throws -> Nanoseconds {
        let summary = try #require(try fs.epochSummaries().first { $0.record.name == name && $0.record.state != .published })
        return summary.lastChange
    }

    /// Moves the clock to `seconds` after epoch `name` last changed and runs one sealer pass.
    func seal(_ name: String, quietFor seconds: Double) throws {
        clock.set(try lastChange(name) + Nanoseconds(seconds * 1e9))
        _ = pipeline.inspectUnsealed()
    }

    /// Runs processor steps until nothing is left to process; returns how many epochs it took.
    @discardableResult
    func process() -> Int {
        var steps = 0
        while pipeline.processNext() == .processed, steps < 50 { steps += 1 }
        return steps
    }

    /// The epoch called `name`: the one in `upload/` if there is one, else the published one.
    func epoch(_ name: String) throws -> EpochRecord? {
        try Administration(fs).epochSummaries(district: "alpha", state: nil, named: name, withResults: true)
            .min { ($0.epoch.state == .published ? 1 : 0) < ($1.epoch.state == .published ? 1 : 0) }?.epoch
    }

    func waiting(_ name: String) throws -> String? {
        try Administration(fs).epochSummaries(district: "alpha", state: nil, named: name).first?.waiting
    }

    /// The names in a directory.
    func names(_ directory: InodeNumber) throws -> [String] {
        try fs.readdir(directory, offset: 0, limit: 1000).map(\.name).filter { $0 != "." && $0 != ".." }.sorted()
    }

    /// The bytes of `path` below `directory`.
    func contents(_ directory: InodeNumber, _ path: String) throws -> [UInt8] {
        var ino = directory
        for name in path.split(separator: "/") { ino = try fs.lookup(parent: ino, name: String(name)).ino }
        let handle = try fs.open(ino, flags: O_RDONLY, caller: rootCaller)
        defer { fs.release(handle) }
        let (fd, count) = try fs.read(handle, offset: 0, size: 1 << 30) { fd, count in (fd, count) }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, 0) }
        return Array(bytes.prefix(max(0, n)))
    }

    func text(_ directory: InodeNumber, _ path: String) throws -> String {
        String(decoding: try contents(directory, path), as: UTF8.self)
    }

    /// The published epoch `name` in `upload-processed/`.
    func published(_ name: String) throws -> InodeNumber {
        try fs.lookup(parent: processed, name: name).ino
    }

    func result(_ name: String) throws -> ProcessingResult {
        try JSONDecoder().decode(ProcessingResult.self, from: Data(try contents(try published(name), "processing.json")))
    }
}

let quietLogger = Logger(label: "epochfs.tests") { _ in SwiftLogNoOpLogHandler() }
