import Dispatch
import EpochFS
import EpochStore
import Foundation
import Ingest
import Logging
import Synchronization

/// The daemon's epoch pipeline: a sealer thread that decides when epochs are complete, and a
/// processor thread that works through sealed epochs one at a time, oldest name first.
public final class EpochPipeline: Sendable {
    private let fs: FileSystem
    private let settings: PipelineSettings
    private let profiles: [Profile]
    private let notifier: StaffNotifier
    private let logger: Logger
    private let workRoot: String
    private let stopped = Mutex(false)
    private let sealerDone = DispatchSemaphore(value: 0)
    private let processorDone = DispatchSemaphore(value: 0)
    private let sealedWork = DispatchSemaphore(value: 0)
    /// Per epoch: the generation last inspected and when to look again without activity.
    private let inspected = Mutex<[InodeNumber: (generation: UInt64, until: Nanoseconds?)]>([:])
    /// Loose files already reported.
    private let reportedLoose = Mutex<Set<InodeNumber>>([])

    /// How long the sealer lets changes gather before it looks.
    static let coalescing = 0.1

    public init(fs: FileSystem, settings: PipelineSettings, workRoot: String, logger: Logger) throws {
        self.fs = fs
        self.settings = settings
        self.profiles = try ProfileLibrary.load(directory: settings.profilesDirectory)
        self.notifier = StaffNotifier(command: settings.notifyCommand, logger: logger)
        self.logger = logger
        self.workRoot = workRoot
    }

    public func start() {
        let sealer = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                _ = fs.epochActivity.wait(timeout: .now() + 1)
                // Let a burst of changes (an upload of many small files signals once per
                // file) gather into one pass, so each busy epoch is looked at a few times a
                // second rather than once per file.
                Thread.sleep(forTimeInterval: Self.coalescing)
                while fs.epochActivity.wait(timeout: .now()) == .success {}
                inspectUnsealed()
            }
            sealerDone.signal()
        }
        sealer.name = "epochfs-sealer"
        sealer.start()
        let processor = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                if !processNext() { _ = sealedWork.wait(timeout: .now() + 1) }
            }
            processorDone.signal()
        }
        processor.name = "epochfs-processor"
        processor.start()
    }

    /// Stops both threads; an epoch being processed is finished first (or, if the daemon is
    /// killed instead, processed again at the next start).
    public func stop() {
        stopped.withLock { $0 = true }
        fs.epochActivity.signal()
        sealedWork.signal()
        sealerDone.wait()
        processorDone.wait()
    }

    // MARK: Sealing

    private func inspectUnsealed() {
        let now = currentTime()
        reportLooseFiles(now: now)
        let summaries: [(record: EpochRecord, generation: UInt64, lastChange: Nanoseconds)]
        do {
            summaries = try fs.epochSummaries()
        } catch {
            logger.error("could not list epochs", metadata: ["errno": "\(error)"])
            return
        }
        let unsealed = Set(summaries.filter { $0.record.sealed == nil }.map(\.record.ino))
        inspected.withLock { $0 = $0.filter { unsealed.contains($0.key) } }
        for summary in summaries where summary.record.sealed == nil {
            let last = inspected.withLock { $0[summary.record.ino] }
            if let last, last.generation == summary.generation, (last.until.map { now < $0 } ?? true) { continue }
            do {
                try inspect(summary.record.ino, now: now)
            } catch {
                logger.error("could not inspect an epoch", metadata: ["epoch": "\(summary.record.name)", "error": "\(error)"])
            }
        }
    }

    /// Files put directly in `upload/` are never processed: staff are told, once per file
    /// while the daemon runs.
    private func reportLooseFiles(now: Nanoseconds) {
        do {
            for (district, file) in try fs.takeLooseFiles() where reportedLoose.withLock({ $0.insert(file.ino).inserted }) {
                notifier.send(.init(event: "upload.loose-file", district: district, epoch: "", state: "",
                                    reason: "\(file.name) was put directly in upload/, outside an epoch directory; it is not processed",
                                    time: Processor.iso(now)))
            }
        } catch {
            logger.error("could not list loose files", metadata: ["errno": "\(error)"])
        }
    }

    private func inspect(_ ino: InodeNumber, now: Nanoseconds) throws {
        guard let snapshot = try fs.epochSnapshot(ino), snapshot.record.sealed == nil else { return }
        let awaited = Recogniser.awaitedFiles(Self.setFiles(snapshot, fs: fs), profiles: profiles)
        let decision = SealDecision.decide(snapshot, settings: settings, now: now, awaited: awaited)
        var until: Nanoseconds? = nil
        let record = snapshot.record
        switch decision {
        case .wait(let reason, let at):
            until = at
            fs.noteWaiting(ino, reason)
            if record.state != .receiving { try fs.setEpochState(ino, .receiving) }
        case .seal(let reason):
            if try fs.seal(ino, generation: snapshot.generation) {
                logger.notice("epoch sealed", metadata: [
                    "district": "\(snapshot.district.name)", "epoch": "\(record.name)", "reason": "\(reason)",
                    "files": "\(snapshot.entries.filter { !$0.record.isDirectory }.count)",
                    "bytes": "\(snapshot.entries.reduce(Int64(0)) { $0 + $1.record.size })"])
                sealedWork.signal()
            }
        case .stall(let reason):
            fs.noteWaiting(ino, reason)
            if record.state != .stalled {
                try fs.setEpochState(ino, .stalled, reason: reason)
                notifier.send(.init(event: "epoch.stalled", district: snapshot.district.name, epoch: record.name,
                                    state: "stalled", reason: reason, time: Processor.iso(now)))
            }
        case .badName(let reason):
            if record.state != .unrecognised {
                try fs.setEpochState(ino, .unrecognised, reason: reason)
                notifier.send(.init(event: "epoch.bad-name", district: snapshot.district.name, epoch: record.name,
                                    state: "unrecognised", reason: reason, time: Processor.iso(now)))
            }
        }
        inspected.withLock { $0[ino] = (snapshot.generation, until) }
    }

    /// The published files of an unsealed epoch, for a look at its manifest.
    static func setFiles(_ snapshot: EpochSnapshot, fs: FileSystem) -> [SetFile] {
        snapshot.entries.compactMap { entry in
            guard !entry.record.isDirectory, !entry.record.staged, let hash = entry.record.blob else { return nil }
            return SetFile(path: entry.path, location: fs.blobs.blobPath(hash), size: entry.record.size)
        }
    }

    // MARK: Processing

    /// Processes the sealed epoch with the oldest name (an epoch left `processing` by a
    /// crash comes first); false when there is none.
    private func processNext() -> Bool {
        let queued: [EpochRecord]
        do {
            queued = try fs.epochRecords(states: [.processing, .sealed])
        } catch {
            logger.error("could not list sealed epochs", metadata: ["errno": "\(error)"])
            return false
        }
        func key(_ record: EpochRecord) -> (Int, Int64, Int64) {
            (record.state == .processing ? 0 : 1, Processor.time(ofEpochNamed: record.name), record.sealed ?? 0)
        }
        guard let next = queued.min(by: { key($0) < key($1) }) else { return false }
        let processor = Processor(fs: fs, settings: settings, profiles: profiles, notifier: notifier, logger: logger,
                                  workRoot: workRoot)
        do {
            try processor.process(next)
        } catch {
            // Leave it for a person rather than retrying a broken epoch forever.
            logger.error("processing failed", metadata: ["epoch": "\(next.name)", "error": "\(error)"])
            _ = try? fs.setEpochState(next.ino, .held, reason: "processing could not finish: \(error)")
        }
        return true
    }
}
