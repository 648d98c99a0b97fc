import Dispatch
import EpochFS
import EpochStore
import Foundation
import Ingest
import Logging
import Synchronization

/// The daemon's epoch pipeline: a sealer thread that decides when epochs are complete, and a
/// few processor threads that work through sealed epochs, taking districts in turn
/// (`ProcessingSchedule`): one epoch of a district at a time, in time order within it.
public final class EpochPipeline: Sendable {
    private let fs: FileSystem
    private let settings: PipelineSettings
    private let profiles: [Profile]
    let notifier: StaffNotifier
    private let logger: Logger
    private let workRoot: String
    private let stopped = Mutex(false)
    private let sealerDone = DispatchSemaphore(value: 0)
    private let processorDone = DispatchSemaphore(value: 0)
    private let sealedWork = DispatchSemaphore(value: 0)
    /// What the processor threads share: the districts being processed, and each district's
    /// last turn.
    private let turns = Mutex(Turns())
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
        // Scratch space of a run the last daemon did not finish: processing starts over.
        try? FileManager.default.removeItem(atPath: workRoot)
        let sealer = Thread { [self] in
            var due = clock.now() + 1_000_000_000
            while !stopped.withLock({ $0 }) {
                let wait = max(0, min(due - clock.now(), 1_000_000_000))
                _ = fs.epochActivity.wait(timeout: .now() + .nanoseconds(Int(wait)))
                // Let a burst of changes (an upload of many small files signals once per
                // file) gather into one pass, so each busy epoch is looked at a few times a
                // second rather than once per file.
                Thread.sleep(forTimeInterval: Self.coalescing)
                while fs.epochActivity.wait(timeout: .now()) == .success {}
                due = inspectUnsealed()
            }
            sealerDone.signal()
        }
        sealer.name = "epochfs-sealer"
        sealer.start()
        for number in 1...processorThreads {
            let processor = Thread { [self] in
                while !stopped.withLock({ $0 }) {
                    switch processNext() {
                    case .processed: continue
                    case .idle: _ = sealedWork.wait(timeout: .now() + 1)
                    // The store itself failed (a full disk, say): do not spin on it.
                    case .failed: _ = sealedWork.wait(timeout: .now() + 10)
                    }
                }
                processorDone.signal()
            }
            processor.name = "epochfs-processor-\(number)"
            processor.start()
        }
        logger.info("epoch pipeline started", metadata: [
            "processing_threads": "\(processorThreads)",
            "validation_timeout_seconds": "\(settings.validationTimeoutSeconds)"])
    }

    private var processorThreads: Int { max(1, settings.processingThreads) }

    /// The filesystem's clock: sealing and processing decide by its time.
    private var clock: WallClock { fs.clock }

    /// Stops the threads; epochs being processed are finished first (or, if the daemon is
    /// killed instead, processed again at the next start).
    public func stop() {
        stopped.withLock { $0 = true }
        fs.epochActivity.signal()
        for _ in 1...processorThreads { sealedWork.signal() }
        sealerDone.wait()
        for _ in 1...processorThreads { processorDone.wait() }
        notifier.drain()
    }

    // MARK: Sealing

    /// One pass of the sealer: inspects the unsealed epochs that changed or whose waiting time
    /// ran out (and reports loose files); returns when the next one falls due. Tests call it
    /// directly, at a time of their clock.
    func inspectUnsealed() -> Nanoseconds {
        let now = clock.now()
        var due = now + 1_000_000_000
        let quiet = settings.markerQuietMilliseconds * 1_000_000
        reportLooseFiles(now: now)
        let summaries: [(record: EpochRecord, generation: UInt64, lastChange: Nanoseconds)]
        do {
            summaries = try fs.epochSummaries()
        } catch {
            logger.error("could not list epochs", metadata: ["errno": "\(error)"])
            return due
        }
        let unsealed = Set(summaries.filter { $0.record.sealed == nil }.map(\.record.ino))
        inspected.withLock { $0 = $0.filter { unsealed.contains($0.key) } }
        for summary in Self.inspectionOrder(summaries, record: \.record) where summary.record.sealed == nil {
            // Nothing can seal before it has been quiet a moment: no need to read its tree yet.
            if now - summary.lastChange < quiet {
                due = min(due, summary.lastChange + quiet)
                continue
            }
            let last = inspected.withLock { $0[summary.record.ino] }
            if let last, last.generation == summary.generation, (last.until.map { now < $0 } ?? true) {
                if let until = last.until { due = min(due, until) }
                continue
            }
            do {
                if let until = try inspect(summary.record.ino, now: now) { due = min(due, until) }
            } catch {
                logger.error("could not inspect an epoch", metadata: ["epoch": "\(summary.record.name)", "error": "\(error)"])
            }
        }
        return due
    }

    /// The order the sealer looks at epochs in: oldest first. A processor starts on an epoch
    /// as soon as it seals, so of two epochs of one district that complete in the same pass
    /// the older must seal first, or the newer is processed first and the older is published
    /// `superseded`.
    static func inspectionOrder<Summary>(_ summaries: [Summary], record: (Summary) -> EpochRecord) -> [Summary] {
        summaries.sorted { a, b in
            let (x, y) = (record(a), record(b))
            return (Processor.time(of: x), x.name, x.ino.rawValue) < (Processor.time(of: y), y.name, y.ino.rawValue)
        }
    }

    /// Files put directly in `upload/` are never processed: staff are told, once per file
    /// while the daemon runs, in one event per district and pass.
    private func reportLooseFiles(now: Nanoseconds) {
        do {
            var byDistrict: [String: [String]] = [:]
            for (district, file) in try fs.takeLooseFiles() where reportedLoose.withLock({ $0.insert(file.ino).inserted }) {
                byDistrict[district, default: []].append(file.name)
            }
            for (district, names) in byDistrict.sorted(by: { $0.key < $1.key }) {
                let shown = names.prefix(10).joined(separator: ", ") + (names.count > 10 ? " and \(names.count - 10) more" : "")
                notifier.send(.init(event: "upload.loose-file", district: district, epoch: "", state: "",
                                    reason: "put directly in upload/, outside an epoch directory, so not processed: \(shown)",
                                    time: Processor.iso(now)))
            }
        } catch {
            logger.error("could not list loose files", metadata: ["errno": "\(error)"])
        }
    }

    /// Decides about one epoch and acts; returns when to look again without activity.
    private func inspect(_ ino: InodeNumber, now: Nanoseconds) throws -> Nanoseconds? {
        guard let snapshot = try fs.epochSnapshot(ino), snapshot.record.sealed == nil else { return nil }
        let awaited = Recogniser.awaitedFiles(Self.receivedFiles(snapshot.entries, blobs: fs.blobs).map(\.file), profiles: profiles,
                                              markers: settings.markers)
        let decision = SealDecision.decide(snapshot, settings: settings, now: now, awaited: awaited)
        var until: Nanoseconds? = nil
        let record = snapshot.record
        switch decision {
        case .wait(let reason, let at):
            until = at
            fs.noteWaiting(ino, reason)
            if record.state != .receiving { try fs.resumeReceiving(ino) }
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
                try fs.stallEpoch(ino, reason: reason)
                notifier.send(.init(event: "epoch.stalled", district: snapshot.district.name, epoch: record.name,
                                    state: "stalled", reason: reason, time: Processor.iso(now)))
            }
        case .badName(let reason):
            if record.state != .unrecognised {
                try fs.markBadlyNamed(ino, reason: reason)
                notifier.send(.init(event: "epoch.bad-name", district: snapshot.district.name, epoch: record.name,
                                    state: "unrecognised", reason: reason, time: Processor.iso(now)))
            }
        }
        inspected.withLock { $0[ino] = (snapshot.generation, until) }
        return until
    }

    /// The published files of an epoch, to be read straight from their blobs (files still in
    /// staging are left out: a sealed epoch has none).
    static func receivedFiles(_ entries: [EpochEntry], blobs: BlobStore) -> [(file: SetFile, hash: String)] {
        entries.compactMap { entry in
            guard !entry.record.isDirectory, !entry.record.staged, let hash = entry.record.blob else { return nil }
            return (SetFile(path: entry.path, location: blobs.blobPath(hash), size: entry.record.size), hash)
        }
    }

    // MARK: Processing

    enum Progress { case processed, idle, failed }

    struct Turns {
        var running: Set<Int64> = []
        var lastServed: [Int64: UInt64] = [:]
        var turn: UInt64 = 0
    }

    /// How many times processing of one epoch may start before it is held for a person
    /// (an epoch that crashes the daemon must not crash it at every start).
    static let maximumAttempts = 3

    /// Claims the next epoch `ProcessingSchedule` chooses and processes it; its district is
    /// not given to another thread until this one is done with it. One step of a processor
    /// thread: tests call it directly.
    func processNext() -> Progress {
        let claimed: (epoch: EpochRecord, more: Bool)?
        do {
            // Listed and chosen under the lock: a list taken before another thread finished an
            // epoch could offer that epoch again.
            claimed = try turns.withLock { turns in
                var snapshot = ProcessingSchedule.Snapshot(queued: try fs.epochRecords(states: [.processing, .sealed]),
                                                           running: turns.running, lastServed: turns.lastServed)
                guard let next = ProcessingSchedule.next(snapshot) else { return nil }
                turns.turn += 1
                turns.running.insert(next.district)
                turns.lastServed[next.district] = turns.turn
                snapshot.running.insert(next.district)
                return (next, ProcessingSchedule.next(snapshot) != nil)
            }
        } catch {
            logger.error("could not list sealed epochs", metadata: ["errno": "\(error)"])
            return .failed
        }
        guard let (next, more) = claimed else { return .idle }
        defer { turns.withLock { _ = $0.running.remove(next.district) } }
        // Another district is waiting too: wake a thread that is idle.
        if more { sealedWork.signal() }
        do {
            if let leave = ProcessingRules.attempts(next, maximum: Self.maximumAttempts) {
                try fs.holdEpoch(next.ino, reason: leave.reason)
                return .processed
            }
            let processor = Processor(fs: fs, settings: settings, profiles: profiles, notifier: notifier, logger: logger,
                                      workRoot: workRoot)
            try processor.process(next)
            return .processed
        } catch {
            // Leave it for a person rather than retrying a broken epoch forever.
            logger.error("processing failed", metadata: ["epoch": "\(next.name)", "error": "\(error)"])
            fs.metrics.processingFailed()
            do {
                try fs.holdEpoch(next.ino, reason: "processing could not finish: \(error)")
                return .processed
            } catch {
                return .failed
            }
        }
    }
}
