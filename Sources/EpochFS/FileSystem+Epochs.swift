#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import EpochStore

/// What the filesystem knows of an epoch that has not been published: its row, and the
/// activity seen since the daemon started. The sealing rules themselves live in the pipeline.
struct EpochActivity {
    var record: EpochRecord
    /// Incremented by every change below the epoch (and by a writer's close): the pipeline
    /// seals only an epoch whose generation it has inspected.
    var generation: UInt64 = 0
    /// When something below the epoch last changed. At the daemon's start it is taken from
    /// the inodes' ctimes, so that a restart neither starts the settle period again nor
    /// un-stalls a stalled epoch.
    var lastChange: Nanoseconds
    /// What the sealer last said it is waiting for (memory only: it is recomputed).
    var waiting = ""
}

/// A file put directly in a district's `upload/`, outside any epoch.
public struct LooseFile: Sendable, Equatable {
    public var ino: InodeNumber
    public var district: Int64
    public var name: String
}

/// An epoch as the pipeline inspects it before sealing.
public struct EpochSnapshot: Sendable {
    public var record: EpochRecord
    public var district: DistrictRecord
    public var generation: UInt64
    public var lastChange: Nanoseconds
    /// Files below the epoch that are open for writing.
    public var openWriters: Int
    /// Every named inode below the epoch with its path relative to the epoch directory,
    /// parents first (the directory itself excluded).
    public var entries: [EpochEntry]

    public init(record: EpochRecord, district: DistrictRecord, generation: UInt64, lastChange: Nanoseconds,
                openWriters: Int, entries: [EpochEntry]) {
        self.record = record
        self.district = district
        self.generation = generation
        self.lastChange = lastChange
        self.openWriters = openWriters
        self.entries = entries
    }
}

/// An epoch as processing finds it when it starts, and decides from to the end: its row as
/// marked `processing`, its district, its tree, and the district's published epochs. Sealed,
/// the epoch is frozen (`EpochLedger.allowsChange`, `allowsRemoval`), so the tree read here
/// is the tree `FileSystem.publishEpoch` publishes.
public struct ProcessingSnapshot: Sendable {
    public var record: EpochRecord
    public var district: DistrictRecord
    /// The epoch directory's own row.
    public var directory: InodeRecord
    /// Every named inode below the epoch, as in `EpochSnapshot.entries`.
    public var entries: [EpochEntry]
    /// What the district's published epochs hold in `upload-processed/`, against
    /// `limits.maxProcessedBytes`.
    public var processedBytes: Int64
    /// The district's published epochs (any profile, any outcome).
    public var published: [EpochRecord]

    /// The names directly in the epoch directory, files and directories.
    public var topLevelNames: Set<String> {
        Set(entries.lazy.filter { !$0.path.contains("/") }.map(\.path))
    }

    /// The names publishing with `outcome` gives: processing.json, SHA256SUMS and the tree
    /// all take them from here.
    public func publishedLayout(outcome: String) -> PublishedLayout {
        PublishedLayout(inserting: PublishedLayout.inserted(outcome: outcome), topLevel: topLevelNames)
    }
}

public struct EpochEntry: Sendable {
    public var path: String
    public var record: InodeRecord

    public init(path: String, record: InodeRecord) {
        self.path = path
        self.record = record
    }
}

/// A file the daemon inserts into an epoch when it publishes it (the log, the JSON result,
/// the checksums).
public struct InsertedFile: Sendable {
    public var name: String
    public var bytes: [UInt8]
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

extension FileSystem {
    /// The epochs not yet published, as tracked in memory.
    static func loadEpochActivity(_ metadata: MetadataStore, now: Nanoseconds) throws -> [InodeNumber: EpochActivity] {
        let open = EpochState.allCases.filter { $0 != .published }
        var activity: [InodeNumber: EpochActivity] = [:]
        for record in try metadata.epochs(states: open) {
            // Not later than now, should the clock have been set back.
            let lastChange = min(now, try metadata.lastChange(ofEpoch: record.ino) ?? now)
            activity[record.ino] = EpochActivity(record: record, lastChange: lastChange)
        }
        return activity
    }

    // MARK: Policy of sealed epochs

    /// Changing anything below an epoch, as its ledger allows (`EACCES` once it is sealed,
    /// for everyone).
    func checkEpochAllowsChange(_ epoch: InodeNumber?, _ state: State) throws(Errno) {
        guard let epoch, let activity = state.epochs[epoch], !EpochLedger(activity.record).allowsChange else { return }
        throw .accessDenied
    }

    /// Deleting below an epoch, as its ledger allows (a sealed one only while nobody will
    /// process it: deleting it withdraws it).
    func checkEpochAllowsRemoval(_ epoch: InodeNumber?, _ state: State) throws(Errno) {
        guard let epoch, let activity = state.epochs[epoch], !EpochLedger(activity.record).allowsRemoval else { return }
        throw .accessDenied
    }

    /// The row of a sealed epoch from which something is about to be deleted, marked
    /// withdrawn (nil if there is no such epoch, or it is withdrawn already), for the caller
    /// to write in the removal's transaction.
    func sealedEpochLosingContent(_ epoch: InodeNumber?, _ state: State) -> EpochRecord? {
        guard let epoch, let record = state.epochs[epoch]?.record else { return nil }
        var ledger = EpochLedger(record)
        return ledger.withdraw() == nil ? nil : ledger.record
    }

    /// Records that something below `epoch` changed (the settle period starts again), at
    /// `now` or else the clock's time.
    func noteEpochChange(_ epoch: InodeNumber?, _ state: inout State, now: Nanoseconds? = nil) {
        guard let epoch, state.epochs[epoch] != nil else { return }
        state.epochs[epoch]!.generation &+= 1
        state.epochs[epoch]!.lastChange = now ?? clock.now()
        epochActivity.signal()
    }

    /// The epoch a new entry in `parent` belongs to: a directory made directly in `upload/`
    /// is a new epoch of its own (nil here, its own number once inserted); a file there is
    /// loose and belongs to none.
    static func epoch(ofChildIn parent: InodeRecord) -> InodeNumber? {
        parent.zone == .upload ? nil : parent.epoch
    }

    /// The epoch `entry` belongs to once moved into `directory`: a directory moved directly
    /// into `upload/` becomes an epoch of its own, a file there is loose.
    /// In `upload-processed/` a published epoch stays an epoch when root renames it.
    static func epoch(of entry: InodeRecord, movedInto directory: InodeRecord) -> InodeNumber? {
        switch directory.zone {
        case .upload: entry.isDirectory ? entry.ino : nil
        case .processed: entry.epoch == entry.ino ? entry.ino : nil
        default: directory.epoch
        }
    }

    /// One entry renamed, and the epoch it belongs to afterwards.
    struct EpochMove {
        var entry: InodeRecord
        var newName: String
        var newEpoch: InodeNumber?

        var wasEpoch: Bool { entry.epoch == entry.ino }
        var isEpoch: Bool { newEpoch == entry.ino }
    }

    /// The rows a rename changes besides the name: the epoch of everything below the entry,
    /// and the `epochs` row of an epoch directory made, unmade or renamed. Inside the rename's
    /// transaction.
    func recordEpochMove(_ move: EpochMove, _ state: State) throws {
        let meta = state.metadata
        let entry = move.entry
        if move.newEpoch != entry.epoch { try meta.setEpoch(move.newEpoch, ofTreeAt: entry.ino) }
        if move.wasEpoch && !move.isEpoch {
            try meta.deleteEpoch(entry.ino)
        } else if move.isEpoch && !move.wasEpoch {
            try meta.insertEpoch(EpochRecord(ino: entry.ino, district: entry.district, name: move.newName, state: .receiving))
        } else if move.isEpoch, var record = try state.epochs[entry.ino]?.record ?? meta.epoch(entry.ino) {
            record.name = move.newName
            try meta.updateEpoch(record)
        }
    }

    /// The same change in memory, once the rename has committed.
    func applyEpochMove(_ move: EpochMove, _ state: inout State, now: Nanoseconds) {
        let entry = move.entry
        if move.wasEpoch && !move.isEpoch {
            state.epochs[entry.ino] = nil
        } else if move.isEpoch && !move.wasEpoch {
            state.epochs[entry.ino] = EpochActivity(
                record: EpochRecord(ino: entry.ino, district: entry.district, name: move.newName, state: .receiving),
                lastChange: now)
        } else if move.isEpoch {
            state.epochs[entry.ino]?.record.name = move.newName
        }
        noteEpochChange(entry.epoch, &state, now: now)
        if move.newEpoch != entry.epoch { noteEpochChange(move.newEpoch, &state, now: now) }
        if !entry.isDirectory && move.newEpoch == nil && entry.zone == .uploadTree {
            noteLooseFile(entry, name: move.newName, &state)
        }
    }

    /// Remembers a file that landed in `upload/` itself, for the pipeline to report.
    func noteLooseFile(_ record: InodeRecord, name: String, _ state: inout State) {
        state.looseFiles.append(LooseFile(ino: record.ino, district: record.district, name: name))
        epochActivity.signal()
    }

    /// The loose files noted since the last call, with their districts' names.
    public func takeLooseFiles() throws(Errno) -> [(district: String, file: LooseFile)] {
        try locked { state in
            let files = state.looseFiles
            state.looseFiles.removeAll()
            return try files.compactMap { file in
                try state.metadata.district(id: file.district).map { ($0.name, file) }
            }
        }
    }

    // MARK: For the pipeline

    /// The unpublished epochs with their activity, cheap enough to call every second.
    public func epochSummaries() throws(Errno) -> [(record: EpochRecord, generation: UInt64, lastChange: Nanoseconds)] {
        try locked { state in
            state.epochs.values.map { ($0.record, $0.generation, $0.lastChange) }
        }
    }

    /// Everything the pipeline needs to decide whether `ino` can seal.
    public func epochSnapshot(_ ino: InodeNumber) throws(Errno) -> EpochSnapshot? {
        try locked { state in
            guard let activity = state.epochs[ino],
                  let district = try state.metadata.district(id: activity.record.district) else { return nil }
            let entries = try state.metadata.epochTree(ino).dropFirst().map { EpochEntry(path: $0.path, record: $0.record) }
            return EpochSnapshot(record: activity.record, district: district, generation: activity.generation,
                                 lastChange: activity.lastChange, openWriters: try openWriters(below: ino, state),
                                 entries: entries)
        }
    }

    /// Files open for writing whose row (looked up now: a rename may have moved them) is
    /// below `epoch`. Each open file's count of writers holds still under the metadata lock
    /// (`OpenFile.writers`), so no file's own lock is taken.
    func openWriters(below epoch: InodeNumber, _ state: State) throws -> Int {
        var count = 0
        for (ino, file) in state.open where file.writers.load(ordering: .relaxed) > 0 {
            if try state.metadata.inode(ino)?.epoch == epoch { count += 1 }
        }
        return count
    }

    /// Seals `ino` if nothing changed since the pipeline inspected `generation` and no file in
    /// it is open for writing: one durable transaction that also queues it for processing
    /// (the sealed row is the job). The blobs it names are made durable first.
    public func seal(_ ino: InodeNumber, generation: UInt64) throws(Errno) -> Bool {
        try syncPublishedBlobs()
        return try locked { state in
            guard let activity = state.epochs[ino], activity.generation == generation,
                  try openWriters(below: ino, state) == 0 else { return false }
            let now = clock.now()
            do {
                try transition(ino, &state) { ledger throws(EpochLedger.Refusal) in try ledger.seal(now: now) }
            } catch is EpochLedger.Refusal {
                // Sealed meanwhile, or no longer waiting to be: nothing to do.
                return false
            }
            state.epochs[ino]?.waiting = ""
            metrics.sealed(after: Double(now - activity.lastChange) / 1e9)
            return true
        }
    }

    /// Asks the ledger of an epoch that is not published for a transition and writes the row
    /// as it says, in the database and in memory together; nil if there is no such epoch.
    /// A refusal is thrown as it is.
    @discardableResult
    func transition(_ ino: InodeNumber, _ state: inout State,
                            _ event: (inout EpochLedger) throws(EpochLedger.Refusal) -> EpochLedger.Commit) throws -> EpochRecord? {
        guard var activity = state.epochs[ino] else { return nil }
        var ledger = EpochLedger(activity.record)
        let commit = try event(&ledger)
        let record = ledger.record
        let metadata = state.metadata
        switch commit {
        case .durable: try metadata.transaction(durable: true) { try metadata.updateEpoch(record) }
        case .ordinary: try metadata.transaction { try metadata.updateEpoch(record) }
        case .withTree: try metadata.updateEpoch(record)
        }
        activity.record = record
        state.epochs[ino] = activity
        return record
    }

    /// A transition for the pipeline: ENOENT when the epoch stopped being tracked meanwhile
    /// (its district or directory was removed), EINVAL (logged) when its ledger refuses.
    /// Returns what `read` takes from the changed row and the state, under the same lock.
    private func pipelineTransition<Value: Sendable>(
        _ ino: InodeNumber, _ event: @Sendable (inout EpochLedger) throws(EpochLedger.Refusal) -> EpochLedger.Commit,
        then read: (EpochRecord, State) throws -> Value) throws(Errno) -> Value {
        let changed = try locked { state -> Result<Value?, EpochLedger.Refusal> in
            do {
                guard let record = try transition(ino, &state, event) else { return .success(nil) }
                return .success(try read(record, state))
            } catch let refusal as EpochLedger.Refusal {
                return .failure(refusal)
            }
        }
        switch changed {
        case .success(let value?): return value
        case .success(nil): throw .noEntry
        case .failure(let refusal):
            logger.error("epoch transition refused", metadata: ["epoch": "\(ino)", "reason": "\(refusal)"])
            throw .invalid
        }
    }

    /// The same, returning the changed row.
    @discardableResult
    private func pipelineTransition(_ ino: InodeNumber,
                                    _ event: @Sendable (inout EpochLedger) throws(EpochLedger.Refusal) -> EpochLedger.Commit) throws(Errno) -> EpochRecord {
        try pipelineTransition(ino, event) { record, _ in record }
    }

    /// Remembers what an epoch is waiting for, for `epochfs epochs show`.
    public func noteWaiting(_ ino: InodeNumber, _ reason: String) {
        state.withLock { $0.epochs[ino]?.waiting = reason }
    }

    /// Records, durably, the processing.json of a run whose hand-off has finished, before the
    /// run publishes it: processing after a crash in between publishes this instead of
    /// handing the set off again.
    public func recordHandedOff(_ ino: InodeNumber, result: String) throws(Errno) {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.recordHandedOff(result: result) }
    }

    /// Marks a sealed epoch `processing` and counts the attempt, durably: an epoch whose
    /// processing crashes the daemon is held after a few attempts instead of crashing it at
    /// every start. Returns, read under the same lock, everything processing decides from.
    /// ENOENT when the epoch stopped being tracked meanwhile (its district or directory was
    /// removed).
    public func startProcessing(_ ino: InodeNumber) throws(Errno) -> ProcessingSnapshot {
        try pipelineTransition(ino, { ledger throws(EpochLedger.Refusal) in try ledger.startProcessing() }) { record, state in
            let meta = state.metadata
            let tree = try meta.epochTree(ino)
            guard let district = try meta.district(id: record.district), let directory = tree.first?.record else {
                throw Errno.noEntry
            }
            return ProcessingSnapshot(
                record: record, district: district, directory: directory,
                entries: tree.dropFirst().map { EpochEntry(path: $0.path, record: $0.record) },
                processedBytes: try meta.processedBytes(district: district.id),
                published: try meta.epochs(district: district.id, states: [.published]))
        }
    }

    /// The sealer found an epoch waiting again (a stalled one unblocked, a badly named one renamed).
    public func resumeReceiving(_ ino: InodeNumber) throws(Errno) {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.resumeReceiving() }
    }

    /// An epoch that could not seal within the stall limit.
    public func stallEpoch(_ ino: InodeNumber, reason: String) throws(Errno) {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.stall(reason: reason) }
    }

    /// An epoch whose name is not a date-time: unrecognised, never sealed, still writable.
    public func markBadlyNamed(_ ino: InodeNumber, reason: String) throws(Errno) {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.markBadlyNamed(reason: reason) }
    }

    /// A sealed epoch held for a person; returns the row.
    @discardableResult
    public func holdEpoch(_ ino: InodeNumber, reason: String, profile: String? = nil) throws(Errno) -> EpochRecord {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.hold(reason: reason, profile: profile) }
    }

    /// A sealed epoch no profile recognised; returns the row.
    @discardableResult
    public func unrecogniseEpoch(_ ino: InodeNumber, reason: String, profile: String? = nil) throws(Errno) -> EpochRecord {
        try pipelineTransition(ino) { ledger throws(EpochLedger.Refusal) in try ledger.unrecognise(reason: reason, profile: profile) }
    }

    /// Epochs as the `epochs` table holds them (published ones included).
    public func epochRecords(district: Int64? = nil, states: [EpochState]? = nil) throws(Errno) -> [EpochRecord] {
        try locked { state in try state.metadata.epochs(district: district, states: states) }
    }

    public func epochRecord(_ ino: InodeNumber) throws(Errno) -> EpochRecord? {
        try locked { state in try state.metadata.epoch(ino) }
    }

    /// Publishes a processed epoch: in one durable transaction its directory moves from
    /// `upload/` to `upload-processed/` (under its own name, or `name.2`, `name.3`, … if that
    /// is taken), everything below it joins the processed zone, the inserted files are added
    /// (a received file of the same name moves aside, to the name `layout` gives it), the
    /// directory's mtime becomes the publish time and the row records the outcome. `epoch` is
    /// what processing read when it started (`startProcessing`): the epoch, its directory's
    /// row included, has been frozen since, so its tree is not read again. The kernel is told
    /// afterwards. Returns the name it was published under.
    public func publishEpoch(_ epoch: ProcessingSnapshot, layout: PublishedLayout, inserting files: [InsertedFile],
                             outcome: String, profile: String?, result: String) throws -> String {
        precondition(layout.inserting == Set(files.map(\.name)), "the layout is of other inserted files")
        let ino = epoch.record.ino
        // Inserted files are blobs like any other: their bytes are durable before the commit
        // that names them. Written before the lock is taken, so that their syncs hold up no
        // request; nil where the write failed (it is tried again under the lock).
        let written = files.map { file in try? blobs.store(file.bytes) }
        let (uploadIno, processedIno, oldName, newName, renamedAside) = try withState { state in
            let meta = state.metadata
            let directory = epoch.directory
            guard let activity = state.epochs[ino], let parent = directory.parent else {
                throw AdminError(EpochLedger.refusal(.publish, state: nil, phase: nil, ino: ino).message)
            }
            let processed = InodeNumber(rawValue: epoch.district.processedIno)
            let now = clock.now()
            var name = directory.name
            var suffix = 1
            // (An epoch processed again is in upload-processed/ already and keeps its name.)
            while parent != processed, try meta.child(of: processed, named: name) != nil {
                suffix += 1
                name = "\(directory.name).\(suffix)"
            }
            var ledger = EpochLedger(activity.record)
            do throws(EpochLedger.Refusal) {
                _ = try ledger.publish(.init(name: name, outcome: outcome, profile: profile, result: result), now: now)
            } catch {
                throw AdminError(error.message)
            }
            // The syncer's reclaim pass (and garbage collection) decide under this lock: one
            // may have deleted an identical doomed blob between the write above and now, so
            // each is looked at again here, and written again if it is gone. From here to the
            // commit that names it, nothing can delete it.
            var stored: [(name: String, hash: String, size: Int64)] = []
            for (file, hash) in zip(files, written) {
                let kept = try hash.flatMap { try blobs.blobExists($0) ? $0 : nil } ?? blobs.store(file.bytes)
                stored.append((file.name, kept, Int64(file.bytes.count)))
            }
            var renamedAside: [(String, String)] = []
            try meta.transaction(durable: true) {
                for file in stored {
                    // A received file of the same name keeps its bytes under another name.
                    if let clash = epoch.entries.first(where: { $0.path == file.name })?.record {
                        let aside = layout.publishedName(of: file.name)
                        try meta.move(clash.ino, from: ino, to: ino, name: aside, isDirectory: clash.isDirectory, ctime: now)
                        renamedAside.append((file.name, aside))
                    }
                    try meta.retainBlob(file.hash, size: file.size)
                    try meta.insert(InodeRecord(parent: ino, name: file.name, kind: .file, mode: 0o444, uid: 0, gid: 0,
                                                size: file.size, time: now, blob: file.hash, zone: .processedTree,
                                                district: epoch.district.id, epoch: ino))
                }
                try meta.move(ino, from: parent, to: processed, name: name, isDirectory: true, ctime: now)
                try meta.setZone(.processedTree, ofEpoch: ino)
                try meta.touch(ino, mtime: now)
                try meta.touch(parent, mtime: now)
                try meta.touch(processed, mtime: now)
                try meta.updateEpoch(ledger.record)
            }
            state.epochs[ino] = nil
            leaveQuota([directory] + epoch.entries.map(\.record), state)
            return (parent, processed, directory.name, name, renamedAside)
        }
        for (name, aside) in renamedAside {
            logger.warning("a received file had the name of an inserted one and was renamed", metadata: [
                "epoch": "\(newName)", "file": "\(name)", "renamed": "\(aside)"])
        }
        if let notifier {
            notifier.invalidateEntry(parent: uploadIno, name: oldName)
            notifier.invalidateEntry(parent: processedIno, name: newName)
            for (name, aside) in renamedAside {
                notifier.invalidateEntry(parent: ino, name: name)
                notifier.invalidateEntry(parent: ino, name: aside)
            }
            notifier.invalidateInode(uploadIno)
            notifier.invalidateInode(processedIno)
            notifier.invalidateInode(ino)
        }
        return newName
    }

    /// A published epoch's entries no longer count against their district's quota: they have
    /// left `upload/`. (It is sealed, so no file of it is being written.)
    private func leaveQuota(_ entries: [InodeRecord], _ state: State) {
        for entry in entries {
            if let file = state.open[entry.ino] {
                file.state.withLock { $0.stopCounting() }
            } else {
                quotaAccount(for: entry, state)?.credit(bytes: entry.isDirectory ? 0 : entry.size, entries: 1)
            }
        }
    }
}
