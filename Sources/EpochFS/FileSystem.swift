#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import EpochStore
import Logging
import Synchronization

/// Tells the kernel that the daemon changed the tree itself. Must be called from a thread
/// that is not serving a FUSE request.
public protocol KernelNotifier: AnyObject, Sendable {
    func invalidateEntry(parent: InodeNumber, name: String)
    func invalidateInode(_ ino: InodeNumber)
}

/// The filesystem's semantics, callable without a kernel: every operation the FUSE adapter
/// forwards, with POSIX errno and the zone policy of DESIGN.md.
///
/// Locking: `state` (metadata and the open-file table) is taken before an `OpenFile`'s own
/// lock, never after. Reads and writes take only the `OpenFile` lock.
public final class FileSystem: Sendable {
    public let blobs: BlobStore
    let keyFiles: AuthorizedKeysFiles
    public let staffGID: UInt32
    /// What each district may grow to: file size, depth, open files.
    public let limits: DistrictLimits
    let logger: Logger
    let state: SleepingLock<State>
    private let notifierBox = Mutex<(any KernelNotifier)?>(nil)
    /// Signalled when something below an epoch changed or a writer closed: the pipeline's
    /// sealer waits on it.
    public let epochActivity = DispatchSemaphore(value: 0)
    /// Counters for the metrics file.
    public let metrics = Metrics()
    /// Where the time comes from: the system's clock, unless a test gives its own.
    public let clock: WallClock
    /// Backups in progress: while one copies blobs, none is reclaimed.
    let backupsRunning = Mutex(0)
    /// Opens sleeping in request threads for a release on its way (`waitForReleasesInFlight`).
    let releaseWaits = Mutex(ReleaseWaits())
    /// Where notifications to the kernel that arise while answering a request are sent from.
    let kernelNotices = DispatchQueue(label: "epochfs.kernel-notices")
    private let passthroughNegotiated = Atomic(false)

    /// The kernel reads files through their backing files (FUSE passthrough) instead of
    /// asking the filesystem, and there is no writeback cache: set once, at INIT, before the
    /// first open. See `docs/architecture.md`, "How data moves".
    public var usesPassthrough: Bool { passthroughNegotiated.load(ordering: .relaxed) }
    public func enablePassthrough() { passthroughNegotiated.store(true, ordering: .relaxed) }

    struct State {
        let metadata: MetadataStore
        /// The store's operations on where a file's content lives, on `metadata` and the blobs.
        let publishing: ContentPublishing
        var open: [InodeNumber: OpenFile] = [:]
        /// The kernel's lookup count of each inode it holds. A file whose name is removed
        /// keeps its row (as an orphan) until the kernel forgets it and the last handle
        /// closes: until then the kernel may still open or stat it.
        var lookups: [InodeNumber: UInt64] = [:]
        /// Epochs not yet published, by directory inode.
        var epochs: [InodeNumber: EpochActivity]
        /// Files written or moved directly into a district's `upload/` (outside any epoch)
        /// since the pipeline last looked: never processed, staff are told.
        var looseFiles: [LooseFile] = []
        /// What each district holds in `upload/`, by district id.
        var quotas: [Int64: QuotaAccount]
        /// Each district's uid, by district id: `upload-processed/` is presented as its own.
        var districtOwners: [Int64: UInt32]
        /// Handles that districts' own processes hold open, by district id (`Handle.budget`).
        var descriptors: [Int64: Int] = [:]
    }

    /// Opens the store under `storeRoot` (created if new) and recovers it.
    /// `exclusiveDatabase` (the daemon) keeps the metadata database to this process alone.
    /// `keysGroup` may read the districts' authorized keys (sshd's `AuthorizedKeysCommandUser`).
    public init(storeRoot: String, staffGID: UInt32, keysGroup: gid_t? = nil, limits: DistrictLimits = DistrictLimits(),
                logger: Logger, exclusiveDatabase: Bool = false, clock: WallClock = .system) throws {
        try Self.prepareStoreRoot(storeRoot)
        let blobs = try BlobStore(root: storeRoot)
        let metadata = try MetadataStore(path: storeRoot + "/metadata.db", now: clock.now(), exclusive: exclusiveDatabase)
        // SQLite gives its -wal and -shm files the database file's mode; a store made before
        // umask 077 may have had them readable.
        try Self.restrictDatabaseFiles(storeRoot)
        _ = try Recovery.run(metadata: metadata, blobs: blobs, logger: logger)
        // Room for the commits that delete files, should the disk fill up (best effort: a
        // store opened on a full disk gets its reserve once space is free).
        _ = try? blobs.ensureReserve()
        let keyFiles = AuthorizedKeysFiles(storeRoot: storeRoot, group: keysGroup)
        try keyFiles.replaceAll(Dictionary(uniqueKeysWithValues: metadata.districts().map { ($0.name, try metadata.keys(of: $0)) }))
        self.blobs = blobs
        self.keyFiles = keyFiles
        self.staffGID = staffGID
        self.limits = limits
        self.logger = logger
        self.clock = clock
        self.state = SleepingLock(State(metadata: metadata,
                                 publishing: ContentPublishing(metadata: metadata, blobs: blobs, logger: logger),
                                 epochs: try Self.loadEpochActivity(metadata, now: clock.now()),
                                 quotas: try Self.loadQuotaAccounts(metadata),
                                 districtOwners: Dictionary(uniqueKeysWithValues: try metadata.districts().map { ($0.id, $0.uid) })))
    }

    /// The store's root lets the key group through to `authorized_keys/` (0711: search, no
    /// listing); everything else in it is root's alone.
    private static func prepareStoreRoot(_ root: String) throws {
        try Sys.mkdir(root, 0o700)
        try restrictDatabaseFiles(root)
        try Sys.chmod(root, 0o711)
    }

    private static func restrictDatabaseFiles(_ root: String) throws {
        for name in ["metadata.db", "metadata.db-wal", "metadata.db-shm"] where try Sys.status(root + "/" + name) != nil {
            try Sys.chmod(root + "/" + name, 0o600)
        }
    }

    public var notifier: (any KernelNotifier)? {
        get { notifierBox.withLock { $0 } }
        set { notifierBox.withLock { $0 = newValue } }
    }

    /// Runs `body` with the metadata lock held, mapping store errors to errno.
    func locked<T: Sendable>(_ body: (inout sending State) throws -> T) throws(Errno) -> T {
        do {
            return try state.withLock { try body(&$0) }
        } catch {
            throw errnoOf(error)
        }
    }

    /// Like `locked`, for operations that free space (removing names, forgetting unlinked
    /// files): when the disk is so full that even their commit fails, room is made and `body`
    /// runs once more. A full disk must never stop a district from deleting files to make room.
    func lockedFreeingSpace<T: Sendable>(_ body: (inout sending State) throws -> T) throws(Errno) -> T {
        do {
            return try locked(body)
        } catch .noSpace {
            state.withLock { makeRoomForCommits($0) }
            return try locked(body)
        }
    }

    /// A commit failed for lack of space: checkpoint the WAL (so the next commits reuse it
    /// from the start instead of growing it) and give up the space reserve.
    func makeRoomForCommits(_ state: State) {
        try? state.metadata.checkpoint()
        if blobs.releaseReserve() {
            logger.warning("the store's disk is full: gave up the space reserve so that files can be deleted",
                           metadata: ["store": "\(blobs.root)"])
        }
    }

    /// Runs `body` with the metadata lock held, passing errors through unchanged (for
    /// administrative calls, whose errors are messages rather than errno).
    func withState<T: Sendable>(_ body: (inout sending State) throws -> T) throws -> T {
        try state.withLock { try body(&$0) }
    }

    /// The district of this name, or an error that says how to see which exist.
    static func district(named name: String, in state: State) throws -> DistrictRecord {
        guard let district = try state.metadata.district(named: name) else {
            throw AdminError("no district '\(name)' (see: epochfs district list)")
        }
        return district
    }

    // MARK: Presentation

    /// The attributes the kernel sees. Below `/<district>/` nobody but root, the district and
    /// the staff group may read or search anything, whatever modes clients send (rosters are
    /// children's personal data): `upload/` keeps its fixed `0750` (nobody may change it), so
    /// entries below it keep the modes clients set (`cp -a` and `rsync -a` round-trip them);
    /// `upload-processed/` and all below it is presented as the district's and read-only
    /// (`0550`/`0440`; only root changes it), so that the district reads its results, the
    /// inserted logs included, and nobody else does. The staff group reads everything and
    /// writes nothing.
    func attributes(_ record: InodeRecord, _ state: State) -> Attributes {
        var mode = record.mode & 0o7777
        var uid = record.uid
        var gid = record.gid
        var size = record.size
        var atime = record.atime, mtime = record.mtime, ctime = record.ctime
        let search: UInt32 = record.isDirectory ? 0o111 : 0
        switch record.zone {
        case .root, .districtRoot:
            break
        case .upload:
            gid = staffGID
            mode = 0o750
        case .uploadTree:
            gid = staffGID
            mode = (mode & ~0o020) | 0o040 | (search & 0o010)
        case .processed, .processedTree:
            uid = state.districtOwners[record.district] ?? uid
            gid = staffGID
            mode = 0o440 | (search & 0o110)
        }
        if let file = state.open[record.ino] {
            file.state.withLock { content in
                size = content.size
                atime = content.atime
                mtime = content.mtime
                ctime = content.ctime
            }
        }
        let type = record.isDirectory ? UInt32(S_IFDIR) : UInt32(S_IFREG)
        return Attributes(
            ino: record.ino, mode: type | mode,
            nlink: record.parent == nil ? 0 : record.isDirectory ? UInt32(2 + record.subdirectories) : 1,
            uid: uid, gid: gid, size: size,
            blocks: record.isDirectory ? 8 : (size + 4095) / 4096 * 8,
            atime: atime, mtime: mtime, ctime: ctime)
    }

    // MARK: Lookup and attributes

    static func checkName(_ name: String) throws(Errno) {
        if name.utf8.count > 255 { throw .nameTooLong }
        if name.isEmpty || name == "." || name == ".." || name.utf8.contains(0) { throw .invalid }
    }

    func directory(_ ino: InodeNumber, _ state: State) throws -> InodeRecord {
        guard let record = try state.metadata.inode(ino), record.parent != nil else { throw Errno.noEntry }
        guard record.isDirectory else { throw Errno.notDirectory }
        return record
    }

    public func lookup(parent: InodeNumber, name: String) throws(Errno) -> Attributes {
        if name.utf8.count > 255 { throw .nameTooLong }
        return try locked { state in
            _ = try directory(parent, state)
            guard let child = try state.metadata.child(of: parent, named: name) else { throw Errno.noEntry }
            state.lookups[child.ino, default: 0] += 1
            return attributes(child, state)
        }
    }

    /// The kernel answered entries of a READDIRPLUS: each is a lookup it now holds.
    public func rememberLookups(_ inodes: [InodeNumber]) {
        state.withLock { state in
            for ino in inodes { state.lookups[ino, default: 0] += 1 }
        }
    }

    /// FORGET: the kernel dropped `count` lookups of `ino`.
    public func forget(_ inodes: [(InodeNumber, UInt64)]) {
        do {
            try locked { state in
                for (ino, count) in inodes where ino != .root {
                    let held = state.lookups[ino] ?? 0
                    if held > count {
                        state.lookups[ino] = held - count
                    } else {
                        state.lookups[ino] = nil
                        do {
                            try deleteOrphanIfUnused(ino, &state)
                        } catch where Errno(error) == .noSpace {
                            // Forgetting an unlinked file is what gives its space back.
                            makeRoomForCommits(state)
                            try deleteOrphanIfUnused(ino, &state)
                        }
                    }
                }
            }
        } catch {
            logger.error("forgetting inodes failed", metadata: ["errno": "\(error)"])
        }
    }

    /// Deletes the row of a file unlinked earlier once nothing can reach it any more.
    func deleteOrphanIfUnused(_ ino: InodeNumber, _ state: inout State) throws {
        guard state.open[ino] == nil, state.lookups[ino] == nil,
              let record = try state.metadata.inode(ino), record.parent == nil else { return }
        try state.metadata.transaction {
            try state.metadata.delete(record)
            if let hash = record.blob { try state.metadata.releaseBlob(hash) }
        }
        try blobs.removeStaging(ino)
    }

    public func getattr(_ ino: InodeNumber) throws(Errno) -> Attributes {
        try locked { state in
            guard let record = try state.metadata.inode(ino) else { throw Errno.noEntry }
            return attributes(record, state)
        }
    }

    public func setattr(_ ino: InodeNumber, _ changes: AttributeChanges, handle: Handle?, caller: Caller) throws(Errno) -> Attributes {
        if let size = changes.size {
            try truncate(ino, to: size, handle: handle, caller: caller)
        }
        let now = clock.now()
        return try locked { state in
            guard var record = try state.metadata.inode(ino) else { throw Errno.noEntry }
            let presented = attributes(record, state)
            let changesOwner = (changes.uid.map { $0 != presented.uid } ?? false)
                || (changes.gid.map { $0 != record.gid && $0 != presented.gid } ?? false)
            let changesMode = changes.mode.map { $0 & 0o7777 != presented.mode & 0o7777 } ?? false
            try Policy.checkSetattr(record, caller: caller, changesOwner: changesOwner, changesMode: changesMode,
                                    changesTimes: changes.atime != nil || changes.mtime != nil)
            try checkEpochAllowsChange(record.epoch, state)
            noteEpochChange(record.epoch, &state, now: now)
            if changesOwner {
                if let uid = changes.uid { record.uid = uid }
                if let gid = changes.gid, gid != presented.gid { record.gid = gid }
            }
            // setuid/setgid/sticky are never kept; a zone with a fixed mode keeps it.
            if changesMode, let mode = changes.mode, record.zone != .upload { record.mode = mode & 0o777 }
            func resolve(_ time: AttributeChanges.Time) -> Nanoseconds {
                switch time { case .now: return now; case .at(let t): return t }
            }
            if let file = state.open[ino] {
                // Times of an open file live in memory and are written with its content (at
                // publish or last close); only a mode or owner change needs a write now.
                file.state.withLock { content in
                    if let atime = changes.atime { content.atime = resolve(atime) }
                    if let mtime = changes.mtime { content.mtime = resolve(mtime) }
                    content.ctime = changes.ctime ?? now
                    content.attributesDirty = true
                    record.atime = content.atime
                    record.mtime = content.mtime
                    record.ctime = content.ctime
                }
                if changesOwner || changesMode { try state.metadata.updateAttributes(record) }
            } else {
                if let atime = changes.atime { record.atime = resolve(atime) }
                if let mtime = changes.mtime { record.mtime = resolve(mtime) }
                record.ctime = changes.ctime ?? now
                try state.metadata.updateAttributes(record)
            }
            return attributes(record, state)
        }
    }

    public func access(_ ino: InodeNumber, mask: Int32, caller: Caller) throws(Errno) {
        try locked { state in
            guard let record = try state.metadata.inode(ino) else { throw Errno.noEntry }
            if mask & W_OK != 0 && !caller.isRoot && !Policy.districtMayWrite(record.zone) {
                throw Errno.accessDenied
            }
        }
    }

    // MARK: Directories

    public func mkdir(parent: InodeNumber, name: String, mode: UInt32, caller: Caller) throws(Errno) -> Attributes {
        try Self.checkName(name)
        let now = clock.now()
        return try locked { state in
            var record = try newEntry(.directory, named: name, in: parent, mode: mode, caller: caller, now: now, state)
            // A directory made directly in upload/ is a new epoch.
            let isEpoch = record.zone == .uploadTree && record.epoch == nil
            let account = quotaAccount(for: record, state)
            try account?.chargeEntry(logger: logger, now: now)
            do {
                record = try state.metadata.transaction {
                    record.ino = try state.metadata.insert(record, isEpoch: isEpoch)
                    try state.metadata.touch(parent, mtime: now)
                    return record
                }
            } catch {
                account?.credit(bytes: 0, entries: 1)
                throw error
            }
            if isEpoch {
                record.epoch = record.ino
                state.epochs[record.ino] = EpochActivity(
                    record: EpochRecord(ino: record.ino, district: record.district, name: name, state: .receiving),
                    lastChange: now)
            }
            noteEpochChange(record.epoch, &state, now: now)
            state.lookups[record.ino, default: 0] += 1
            return attributes(record, state)
        }
    }

    /// Refuses a tree that would reach deeper below `upload/` than `limits.maxDepth`
    /// (ENAMETOOLONG): `height` levels of directories put into `parent` (1 for mkdir; a
    /// moved directory brings its own levels).
    func checkDepth(adding height: Int, into parent: InodeRecord, _ meta: MetadataStore) throws {
        guard parent.zone == .uploadTree || parent.zone == .upload else { return }
        var depth = height
        var current = parent
        while current.zone == .uploadTree, depth <= limits.maxDepth, let up = current.parent,
              let next = try meta.inode(up) {
            depth += 1
            current = next
        }
        if depth > limits.maxDepth { throw Errno.nameTooLong }
    }

    /// The row of a new entry, checked against the parent, the existing names, the zone
    /// policy and, for a directory, the depth limit (not inserted yet). An existing name is EEXIST before any permission question.
    func newEntry(_ kind: NodeKind, named name: String, in parent: InodeNumber, mode: UInt32, caller: Caller,
                  now: Nanoseconds, _ state: State) throws -> InodeRecord {
        let parentRecord = try directory(parent, state)
        if try state.metadata.child(of: parent, named: name) != nil { throw Errno.exists }
        let zone = try Policy.childZone(creatingIn: parentRecord, caller: caller)
        let epoch = Self.epoch(ofChildIn: parentRecord)
        try checkEpochAllowsChange(epoch, state)
        if kind == .directory { try checkDepth(adding: 1, into: parentRecord, state.metadata) }
        return InodeRecord(parent: parent, name: name, kind: kind, mode: mode & 0o777, uid: caller.uid,
                           gid: caller.gid, time: now, staged: kind == .file, zone: zone,
                           district: parentRecord.district, epoch: epoch)
    }

    public func rmdir(parent: InodeNumber, name: String, caller: Caller) throws(Errno) {
        let now = clock.now()
        try lockedFreeingSpace { state in
            let parentRecord = try directory(parent, state)
            guard let record = try state.metadata.child(of: parent, named: name) else { throw Errno.noEntry }
            guard record.isDirectory else { throw Errno.notDirectory }
            try Policy.checkRemove(record, in: parentRecord, caller: caller)
            try checkEpochAllowsRemoval(record.epoch, state)
            if try state.metadata.hasChildren(record.ino) { throw Errno.notEmpty }
            let isEpoch = record.epoch == record.ino
            let withdrawing = isEpoch ? nil : sealedEpochLosingContent(record.epoch, state)
            try state.metadata.transaction {
                try state.metadata.delete(record)
                if isEpoch { try state.metadata.deleteEpoch(record.ino) }
                if let withdrawing { try state.metadata.updateEpoch(withdrawing) }
                try state.metadata.touch(parent, mtime: now)
            }
            quotaAccount(for: record, state)?.credit(bytes: 0, entries: 1)
            if let withdrawing { state.epochs[withdrawing.ino]?.record = withdrawing }
            if isEpoch, let withdrawn = state.epochs.removeValue(forKey: record.ino) {
                logger.notice("epoch removed from upload/", metadata: [
                    "epoch": "\(name)", "district_id": "\(record.district)", "state": "\(withdrawn.record.state.rawValue)"])
            } else if isEpoch && record.zone == .processedTree {
                logger.notice("epoch pruned", metadata: [
                    "epoch": "\(name)", "district": "\((try? state.metadata.district(id: record.district))?.name ?? "?")"])
            } else {
                noteEpochChange(record.epoch, &state, now: now)
            }
        }
    }

    /// Up to `limit` entries after the cookie `offset` (0 starts at `.`).
    public func readdir(_ ino: InodeNumber, offset: Int64, limit: Int) throws(Errno) -> [DirectoryEntry] {
        try locked { state in
            let record = try directory(ino, state)
            var entries: [DirectoryEntry] = []
            if offset < 1 {
                entries.append(DirectoryEntry(name: ".", attributes: attributes(record, state), nextOffset: 1))
            }
            if offset < 2 {
                let parentRecord = record.ino == .root ? record : (try state.metadata.inode(record.parent!) ?? record)
                entries.append(DirectoryEntry(name: "..", attributes: attributes(parentRecord, state), nextOffset: 2))
            }
            let after = InodeNumber(rawValue: UInt64(max(0, offset - 2)))
            for child in try state.metadata.children(of: ino, after: after, limit: max(1, limit - entries.count)) {
                entries.append(DirectoryEntry(name: child.name, attributes: attributes(child, state),
                                              nextOffset: Int64(child.ino.rawValue) + 2))
            }
            return entries
        }
    }

    public func opendir(_ ino: InodeNumber) throws(Errno) -> Handle {
        try locked { state in
            _ = try directory(ino, state)
            return Handle(file: nil, writable: false, caching: .directory)
        }
    }

    /// Makes every metadata change so far durable.
    public func syncMetadata() throws(Errno) {
        try syncPublishedBlobs()
        try locked { state in try state.metadata.checkpoint() }
    }

    // MARK: Names

    public func unlink(parent: InodeNumber, name: String, caller: Caller) throws(Errno) {
        let now = clock.now()
        try lockedFreeingSpace { state in
            let parentRecord = try directory(parent, state)
            guard let record = try state.metadata.child(of: parent, named: name) else { throw Errno.noEntry }
            if record.isDirectory { throw Errno.isDirectory }
            try Policy.checkRemove(record, in: parentRecord, caller: caller)
            try checkEpochAllowsRemoval(record.epoch, state)
            let withdrawing = sealedEpochLosingContent(record.epoch, state)
            var removal = Removal()
            try state.metadata.transaction {
                try removeName(record, &state, &removal)
                if let withdrawing { try state.metadata.updateEpoch(withdrawing) }
                try state.metadata.touch(parent, mtime: now)
            }
            complete(removal, state)
            if let withdrawing { state.epochs[withdrawing.ino]?.record = withdrawing }
            noteEpochChange(record.epoch, &state, now: now)
        }
    }

    /// What removing names leaves to do once its transaction has committed: nothing outside
    /// SQLite may change before then, or a failed commit would leave it changed anyway.
    /// (Blobs whose count reached zero wait in `doomed_blobs` for `reclaimSpace`.)
    struct Removal {
        var stagingFiles: [InodeNumber] = []
        var orphanedFiles: [OpenFile] = []
        /// What the removed names held in `upload/`, to credit to their districts (an open
        /// file's bytes are credited when it is marked orphaned, from its current size).
        var credits: [(QuotaAccount, bytes: Int64, entries: Int64)] = []
    }

    /// Removes `record`'s name inside a transaction: a file the kernel still holds (or that is
    /// open) keeps its row until it is forgotten and closed; otherwise the row goes and its
    /// blob reference is dropped.
    func removeName(_ record: InodeRecord, _ state: inout State, _ removal: inout Removal) throws {
        let file = state.open[record.ino]
        if let file, !record.isDirectory {
            try state.metadata.orphan(record)
            removal.orphanedFiles.append(file)
            return
        }
        if let account = quotaAccount(for: record, state) {
            removal.credits.append((account, record.isDirectory ? 0 : record.size, 1))
        }
        if !record.isDirectory && state.lookups[record.ino] != nil {
            try state.metadata.orphan(record)
            return
        }
        try state.metadata.delete(record)
        if let hash = record.blob { try state.metadata.releaseBlob(hash) }
        if record.staged { removal.stagingFiles.append(record.ino) }
    }

    /// Carries out a committed removal.
    func complete(_ removal: Removal, _ state: State) {
        for file in removal.orphanedFiles {
            file.state.withLock { content in
                content.orphaned = true
                content.stopCounting()
            }
        }
        for (account, bytes, entries) in removal.credits { account.credit(bytes: bytes, entries: entries) }
        for ino in removal.stagingFiles {
            do {
                try blobs.removeStaging(ino)
            } catch {
                // Recovery deletes staging files that no row names at the next start.
                logger.warning("could not delete a staging file", metadata: ["inode": "\(ino)", "error": "\(error)"])
            }
        }
    }

    /// Deletes the files of blobs whose last reference went away, once the commits that
    /// dropped those references are durable: a power cut must never bring back a row that names
    /// a deleted blob. Runs on the syncer's thread; a blob named again meanwhile is kept.
    public func reclaimSpace() throws(Errno) {
        guard backupsRunning.withLock({ $0 }) == 0 else { return }
        try locked { state in
            let doomed = try state.metadata.doomedBlobs()
            guard !doomed.isEmpty else { return }
            // (Syncing the WAL rather than checkpointing: on a full disk a checkpoint may need
            // room the deletions below are about to give back.)
            try state.metadata.syncWAL()
            for hash in doomed where try !state.metadata.blobExists(hash) {
                try blobs.removeBlob(hash)
            }
            try state.metadata.forgetDoomed(doomed)
        }
    }

    public struct RenameFlags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let noReplace = RenameFlags(rawValue: 1)
        public static let exchange = RenameFlags(rawValue: 2)
    }

    public func rename(parent: InodeNumber, name: String, newParent: InodeNumber, newName: String,
                       flags: RenameFlags, caller: Caller) throws(Errno) {
        if !flags.subtracting([.noReplace, .exchange]).isEmpty || flags.contains([.noReplace, .exchange]) {
            throw .invalid
        }
        try Self.checkName(newName)
        let now = clock.now()
        try lockedFreeingSpace { state in
            let meta = state.metadata
            let from = try directory(parent, state)
            let to = try directory(newParent, state)
            guard var source = try meta.child(of: parent, named: name) else { throw Errno.noEntry }
            try Policy.checkRemove(source, in: from, caller: caller)
            _ = try Policy.childZone(creatingIn: to, caller: caller)
            if from.district != to.district || Policy.area(from.zone) != Policy.area(to.zone) {
                throw Errno.crossDevice
            }
            if source.isDirectory, try isAncestor(source.ino, of: newParent, meta) { throw Errno.invalid }
            let target = try meta.child(of: newParent, named: newName)
            if target?.ino == source.ino { return }
            func checkDepth(moving directory: InodeRecord, into parent: InodeRecord) throws {
                guard directory.isDirectory, directory.parent != parent.ino else { return }
                let height = try meta.directoryHeight(below: directory.ino, limit: limits.maxDepth + 1)
                try self.checkDepth(adding: 1 + height, into: parent, meta)
            }
            try checkDepth(moving: source, into: to)
            if flags.contains(.exchange), let target { try checkDepth(moving: target, into: from) }
            // The epochs the entries belong to afterwards.
            let destination = Self.epoch(of: source, movedInto: to)
            try checkEpochAllowsChange(source.epoch, state)
            try checkEpochAllowsChange(destination, state)
            if let target { try checkEpochAllowsChange(target.epoch, state) }
            var moves = [EpochMove(entry: source, newName: newName, newEpoch: destination)]
            var removal = Removal()
            try meta.transaction {
                if flags.contains(.exchange) {
                    guard var other = target else { throw Errno.noEntry }
                    if other.isDirectory, try isAncestor(other.ino, of: parent, meta) { throw Errno.invalid }
                    moves.append(EpochMove(entry: other, newName: name, newEpoch: Self.epoch(of: other, movedInto: from)))
                    // Park one name so that the unique index holds while the two swap.
                    try meta.orphan(other)
                    try meta.move(source.ino, from: parent, to: newParent, name: newName, isDirectory: false, ctime: now)
                    other.parent = nil
                    try meta.move(other.ino, from: newParent, to: parent, name: name, isDirectory: false, ctime: now)
                    try meta.recountSubdirectories(of: parent)
                    try meta.recountSubdirectories(of: newParent)
                } else {
                    if let target {
                        if flags.contains(.noReplace) { throw Errno.exists }
                        if source.isDirectory {
                            guard target.isDirectory else { throw Errno.notDirectory }
                            if try meta.hasChildren(target.ino) { throw Errno.notEmpty }
                        } else if target.isDirectory {
                            throw Errno.isDirectory
                        }
                        try Policy.checkRemove(target, in: to, caller: caller)
                        try removeName(target, &state, &removal)
                        if target.epoch == target.ino { try meta.deleteEpoch(target.ino) }
                    }
                    try meta.move(source.ino, from: parent, to: newParent, name: newName,
                                  isDirectory: source.isDirectory, ctime: now)
                }
                for move in moves { try recordEpochMove(move, state) }
                source.parent = newParent
                try meta.touch(parent, mtime: now)
                if newParent != parent { try meta.touch(newParent, mtime: now) }
            }
            complete(removal, state)
            if !flags.contains(.exchange), let target, target.epoch == target.ino { state.epochs[target.ino] = nil }
            for move in moves { applyEpochMove(move, &state, now: now) }
        }
    }

    private func isAncestor(_ ancestor: InodeNumber, of ino: InodeNumber, _ meta: MetadataStore) throws -> Bool {
        var current: InodeNumber? = ino
        while let node = current, node != .root {
            if node == ancestor { return true }
            current = try meta.inode(node)?.parent
        }
        return false
    }

    // MARK: Links, devices, extended attributes

    /// Hard links, symlinks and device nodes are refused by policy, with the errno that makes
    /// sftp-server fall back from link() to rename().
    public func refuseLink() throws(Errno) { throw .notPermitted }

    public static let hashAttribute = "user.sha256"

    /// Only `user.sha256` exists. The `security.` namespace (SELinux labels, file capabilities)
    /// is not supported at all, and says so (EOPNOTSUPP rather than ENODATA): `ls -l` asks for
    /// every entry's `security.selinux`, one round trip each that no FUSE filesystem serving
    /// any attribute can have the kernel cache, but coreutils stops asking on a device once it
    /// answers "not supported".
    public func getxattr(_ ino: InodeNumber, name: String) throws(Errno) -> [UInt8] {
        if name.hasPrefix("security.") { throw .notSupported }
        guard name == Self.hashAttribute else { throw .noData }
        return try locked { state in
            guard let record = try state.metadata.inode(ino) else { throw Errno.noEntry }
            let beingWritten = state.open[ino]?.state.withLock { $0.session.isStaging } ?? false
            guard let hash = record.blob, !record.staged, !beingWritten else { throw Errno.noData }
            return Array(hash.utf8)
        }
    }

    /// Nothing sets or removes extended attributes: `user.sha256` is the filesystem's own
    /// record of the content, and no other attribute exists.
    public func setxattr(_ ino: InodeNumber) throws(Errno) {
        throw .notSupported
    }

    public func removexattr(_ ino: InodeNumber) throws(Errno) {
        throw .notSupported
    }

    public func listxattr(_ ino: InodeNumber) throws(Errno) -> [String] {
        do {
            _ = try getxattr(ino, name: Self.hashAttribute)
            return [Self.hashAttribute]
        } catch .noData {
            return []
        }
    }

    // MARK: Statistics

    /// The store's disk figures; below a district with a quota, the quota's (what `df` shows
    /// in its chroot).
    public func statfs(_ ino: InodeNumber = .root) throws(Errno) -> FilesystemStatistics {
        let st = try mapErrors { try Sys.filesystemStatus(blobs.root) }
        let disk = FilesystemStatistics(
            blockSize: UInt64(st.f_frsize), blocks: UInt64(st.f_blocks), blocksFree: UInt64(st.f_bfree),
            blocksAvailable: UInt64(st.f_bavail), files: UInt64(st.f_files), filesFree: UInt64(st.f_ffree),
            nameMax: 255)
        guard ino != .root else { return disk }
        let account = try locked { state in
            try state.metadata.inode(ino).flatMap { $0.district == 0 ? nil : state.quotas[$0.district] }
        }
        return account?.statistics(within: disk) ?? disk
    }
}

/// Who is waiting in a request thread for a release on its way: one open per caller at a
/// time, and a few in all, so that the request threads every district shares stay free.
struct ReleaseWaits: Sendable {
    /// Of libfuse's 8 request threads (the default), at most this many sleep at once.
    static let total = 3
    /// The callers (uids) with an open waiting.
    private(set) var waiting: Set<UInt32> = []

    var count: Int { waiting.count }

    /// Takes a place for `uid`'s open, or returns false when it may not wait.
    mutating func enter(_ uid: UInt32) -> Bool {
        guard waiting.count < Self.total else { return false }
        return waiting.insert(uid).inserted
    }

    mutating func leave(_ uid: UInt32) {
        waiting.remove(uid)
    }
}
