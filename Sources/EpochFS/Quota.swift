import EpochStore
import Logging
import Synchronization

/// A limit on what a district may hold in `upload/`.
public enum QuotaLimit: Sendable, Equatable, Codable {
    case unlimited
    case limit(Int64)

    public var value: Int64? {
        if case .limit(let value) = self { return value }
        return nil
    }
}

/// What a district holds in `upload/` (files and directories, and its files' logical sizes),
/// against its quota. Kept in memory and changed as files change, so that a write checks it
/// with an atomic operation, without the metadata lock: loaded from the tree at start, charged
/// by create, mkdir, writes and truncates that grow a file, and credited when names go, when a
/// file shrinks and when an epoch is published (it leaves `upload/` then). Open files hold
/// their district's account, or nil when they are not below `upload/`.
///
/// Growth is refused with EDQUOT once it would take the district past a limit; shrinking is
/// always allowed, so that a district over its quota (one set below what it holds) can delete
/// its way back under it.
final class QuotaAccount: Sendable {
    let district: String
    private let bytes: Atomic<Int64>
    private let entries: Atomic<Int64>
    /// `Int64.max` when there is no limit.
    private let byteLimit: Atomic<Int64>
    private let entryLimit: Atomic<Int64>
    /// When a refusal was last logged (one line a minute per district is enough).
    private let lastLoggedRefusal = Atomic<Int64>(0)

    init(_ district: DistrictRecord, usage: MetadataStore.UploadUsage) {
        self.district = district.name
        bytes = Atomic(usage.bytes)
        entries = Atomic(usage.entries)
        byteLimit = Atomic(district.quotaBytes ?? .max)
        entryLimit = Atomic(district.quotaFiles ?? .max)
    }

    func setLimits(bytes: Int64?, files: Int64?) {
        byteLimit.store(bytes ?? .max, ordering: .relaxed)
        entryLimit.store(files ?? .max, ordering: .relaxed)
    }

    var usage: MetadataStore.UploadUsage {
        MetadataStore.UploadUsage(entries: entries.load(ordering: .relaxed), bytes: bytes.load(ordering: .relaxed))
    }

    var limits: (bytes: Int64?, files: Int64?) {
        let bytes = byteLimit.load(ordering: .relaxed), files = entryLimit.load(ordering: .relaxed)
        return (bytes == .max ? nil : bytes, files == .max ? nil : files)
    }

    /// Whether a byte limit is set (writes then bypass the kernel's page cache).
    var limitsBytes: Bool { byteLimit.load(ordering: .relaxed) != .max }

    /// Adds `count` bytes (a file grew), or throws EDQUOT and adds nothing.
    func charge(bytes count: Int64) throws(Errno) {
        guard Self.add(count, to: bytes, limit: byteLimit, partly: false) == count else { throw .quotaExceeded }
    }

    /// Adds as many of `count` bytes as the limit allows; returns how many.
    func charge(upTo count: Int64) -> Int64 {
        Self.add(count, to: bytes, limit: byteLimit, partly: true)
    }

    /// Adds one file or directory, or throws EDQUOT, adds nothing and notes the refusal.
    func chargeEntry(logger: Logger, now: Nanoseconds) throws(Errno) {
        guard Self.add(1, to: entries, limit: entryLimit, partly: false) == 1 else {
            noteRefusal("creating a file or directory", logger: logger, now: now)
            throw .quotaExceeded
        }
    }

    /// Takes back bytes and entries (a file shrank, names went, an epoch was published).
    func credit(bytes count: Int64, entries removed: Int64 = 0) {
        if count != 0 { bytes.subtract(count, ordering: .relaxed) }
        if removed != 0 { entries.subtract(removed, ordering: .relaxed) }
    }

    /// Adds `count` to `counter` without passing `limit`: as much of it as fits when `partly`,
    /// else all of it or nothing. Returns what was added.
    private static func add(_ count: Int64, to counter: borrowing Atomic<Int64>, limit: borrowing Atomic<Int64>,
                            partly: Bool) -> Int64 {
        let limit = limit.load(ordering: .relaxed)
        var current = counter.load(ordering: .relaxed)
        while true {
            let room = max(0, limit - current)
            let added = partly ? min(count, room) : (count <= room ? count : 0)
            if added == 0 { return 0 }
            let (exchanged, found) = counter.compareExchange(expected: current, desired: current + added, ordering: .relaxed)
            if exchanged { return added }
            current = found
        }
    }

    /// Logs a refused request, at most once a minute for this district.
    func noteRefusal(_ what: String, logger: Logger, now: Nanoseconds) {
        let last = lastLoggedRefusal.load(ordering: .relaxed)
        guard now - last > 60_000_000_000,
              lastLoggedRefusal.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
        let usage = self.usage, limits = self.limits
        logger.warning("district over its quota: \(what) refused with EDQUOT", metadata: [
            "district": "\(district)", "bytes": "\(usage.bytes)", "quota_bytes": "\(limits.bytes.map { "\($0)" } ?? "-")",
            "files": "\(usage.entries)", "quota_files": "\(limits.files.map { "\($0)" } ?? "-")"])
    }

    /// What `df` shows of the district: its quota as the size, what it holds as used, and
    /// never more free room than the store's disk has. A figure without a limit is the disk's.
    func statistics(within disk: FilesystemStatistics) -> FilesystemStatistics {
        let usage = self.usage, limits = self.limits
        var figures = disk
        func blocks(_ bytes: Int64, of size: Int64) -> Int64 { bytes / size + (bytes % size == 0 ? 0 : 1) }
        if let quota = limits.bytes {
            let block = Int64(max(1, disk.blockSize))
            let total = blocks(quota, of: block)
            let used = blocks(max(0, usage.bytes), of: block)
            let free = UInt64(max(0, total - used))
            figures.blocks = UInt64(total)
            figures.blocksFree = min(free, disk.blocksFree)
            figures.blocksAvailable = min(free, disk.blocksAvailable)
        }
        if let quota = limits.files {
            figures.files = UInt64(quota)
            figures.filesFree = min(UInt64(max(0, quota - usage.entries)), disk.filesFree)
        }
        return figures
    }
}

extension FileSystem {
    /// One account per district, with what each holds in `upload/` now.
    static func loadQuotaAccounts(_ metadata: MetadataStore) throws -> [Int64: QuotaAccount] {
        let usage = try metadata.uploadUsage()
        var accounts: [Int64: QuotaAccount] = [:]
        for district in try metadata.districts() {
            accounts[district.id] = QuotaAccount(district, usage: usage[district.id] ?? .zero)
        }
        return accounts
    }

    /// The account that entries of `record` count against: its district's when it is below
    /// `upload/` and has a name.
    func quotaAccount(for record: InodeRecord, _ state: State) -> QuotaAccount? {
        record.zone == .uploadTree && record.parent != nil ? state.quotas[record.district] : nil
    }

    /// How the kernel may cache a file's new handle. It bypasses the page cache (direct I/O):
    /// with passthrough, unless it reads through a backing file, since the kernel refuses a
    /// cached open of an inode that has passthrough opens; otherwise (writeback cache), when it
    /// may write a file counting against a byte limit, since a refused write would surface only
    /// at close or fsync, and the kernel would keep a size the store refused (which a resumed
    /// upload appends after). Cached pages are kept, except for a passthrough open.
    func caching(writable: Bool, quota: QuotaAccount?, backingID: Int32 = 0) -> KernelCaching {
        let directIO = usesPassthrough ? backingID == 0 : writable && quota?.limitsBytes == true
        return KernelCaching(directIO: directIO, keepCache: backingID == 0, cacheDirectory: false)
    }
}
