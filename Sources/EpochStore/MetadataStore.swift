import SQLiteDatabase
import Foundation

/// The schema and every query the filesystem makes. Not thread-safe: one owner serialises access.
public final class MetadataStore {
    let database: Database

    static let schemaVersion = 5

    private static let schema = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS districts(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            uid INTEGER NOT NULL, gid INTEGER NOT NULL,
            root_ino INTEGER NOT NULL, upload_ino INTEGER NOT NULL, processed_ino INTEGER NOT NULL,
            created INTEGER NOT NULL,
            managed_user INTEGER NOT NULL DEFAULT 0,
            quota_bytes INTEGER,
            quota_files INTEGER);
        CREATE TABLE IF NOT EXISTS inodes(
            ino INTEGER PRIMARY KEY,
            parent INTEGER,
            name TEXT NOT NULL,
            kind INTEGER NOT NULL,
            mode INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            atime INTEGER NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
            blob TEXT,
            staged INTEGER NOT NULL DEFAULT 0,
            interrupted INTEGER NOT NULL DEFAULT 0,
            zone INTEGER NOT NULL,
            district INTEGER NOT NULL,
            subdirs INTEGER NOT NULL DEFAULT 0,
            epoch INTEGER);
        CREATE UNIQUE INDEX IF NOT EXISTS inodes_by_name ON inodes(parent, name) WHERE parent IS NOT NULL;
        CREATE INDEX IF NOT EXISTS inodes_by_parent ON inodes(parent, ino);
        CREATE INDEX IF NOT EXISTS inodes_orphaned ON inodes(ino) WHERE parent IS NULL;
        CREATE INDEX IF NOT EXISTS inodes_by_blob ON inodes(blob) WHERE blob IS NOT NULL;
        CREATE TABLE IF NOT EXISTS blobs(hash TEXT PRIMARY KEY, size INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS doomed_blobs(hash TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS unsynced_blobs(hash TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS keys(
            id INTEGER PRIMARY KEY,
            district INTEGER NOT NULL REFERENCES districts(id),
            fingerprint TEXT NOT NULL,
            algorithm TEXT NOT NULL,
            bits INTEGER NOT NULL,
            data TEXT NOT NULL,
            comment TEXT NOT NULL,
            added INTEGER NOT NULL,
            UNIQUE(district, fingerprint));
        CREATE TABLE IF NOT EXISTS epochs(
            ino INTEGER PRIMARY KEY,
            district INTEGER NOT NULL,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            sealed INTEGER,
            published INTEGER,
            profile TEXT,
            outcome TEXT,
            result TEXT,
            released INTEGER NOT NULL DEFAULT 0,
            withdrawn INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            handed_off TEXT);
        CREATE INDEX IF NOT EXISTS epochs_by_state ON epochs(state, district);
        """

    /// Indexes on columns that migrations add: created once the migrations have run.
    private static let lateIndexes = """
        CREATE INDEX IF NOT EXISTS inodes_by_epoch ON inodes(epoch) WHERE epoch IS NOT NULL;
        """

    /// What each older schema needs to become the current one (the `CREATE … IF NOT EXISTS`
    /// above adds new tables by itself).
    private static let migrations: [Int: String] = [
        1: "ALTER TABLE districts ADD COLUMN managed_user INTEGER NOT NULL DEFAULT 0",
        // Every directory directly in a district's upload/ is an epoch. Those that were there
        // before epochs were processed are not processed by themselves (they may be years of
        // uploads): they are left for staff, unrecognised and sealed.
        2: """
            ALTER TABLE inodes ADD COLUMN epoch INTEGER;
            WITH RECURSIVE tree(ino, epoch) AS (
                SELECT i.ino, i.ino FROM inodes i JOIN districts d ON i.parent = d.upload_ino WHERE i.kind = 1
                UNION ALL SELECT c.ino, t.epoch FROM inodes c JOIN tree t ON c.parent = t.ino)
            UPDATE inodes SET epoch = (SELECT epoch FROM tree WHERE tree.ino = inodes.ino)
                WHERE ino IN (SELECT ino FROM tree);
            INSERT INTO epochs(ino, district, name, state, reason, sealed)
                SELECT i.ino, i.district, i.name, 'unrecognised',
                    'in upload/ before this version of epochfs processed epochs: process it with epochfs epochs process, or delete it',
                    CAST(strftime('%s', 'now') AS INTEGER) * 1000000000
                FROM inodes i JOIN districts d ON i.parent = d.upload_ino WHERE i.kind = 1;
            """,
        3: """
            ALTER TABLE districts ADD COLUMN quota_bytes INTEGER;
            ALTER TABLE districts ADD COLUMN quota_files INTEGER;
            """,
    ]

    /// Columns added to a table after the table itself was: each is added by the step from its
    /// version unless the table has it already, as one that the `CREATE … IF NOT EXISTS` above
    /// made in this very upgrade (from a version before the table) does.
    private static let addedColumns: [Int: (table: String, column: String, type: String)] = [
        4: ("epochs", "handed_off", "TEXT"),
    ]

    private static let columns =
        "ino, parent, name, kind, mode, uid, gid, size, atime, mtime, ctime, blob, staged, interrupted, zone, district, subdirs, epoch"
    /// `columns` of the table aliased `i`, for joins.
    static let qualifiedColumns = columns.split(separator: ",").map { "i." + $0.trimmingCharacters(in: .whitespaces) }
        .joined(separator: ", ")

    // The statements of the request path, built once (the statement cache is keyed by text).
    private static let selectInode = "SELECT \(columns) FROM inodes WHERE ino = ?"
    private static let selectChild = "SELECT \(columns) FROM inodes WHERE parent = ? AND name = ?"
    private static let selectChildren = "SELECT \(columns) FROM inodes WHERE parent = ? AND ino > ? ORDER BY ino LIMIT ?"
    private static let insertInode =
        "INSERT INTO inodes(\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    /// Inode numbers are handed out from blocks whose end is recorded before the first number
    /// of a block is used, so that a number is never given twice, across restarts included,
    /// without the per-insert bookkeeping of AUTOINCREMENT.
    private var nextIno: UInt64 = 0
    private var reservedIno: UInt64 = 0
    private static let reservationBlock: UInt64 = 4096

    /// Opens the metadata database, creating the schema and the root directory if new.
    /// `exclusive` keeps the database locked for this connection alone (the daemon's): no
    /// shared-memory index and no file locking on every statement; other processes then
    /// cannot open it until this connection closes.
    public init(path: String, now: Nanoseconds, exclusive: Bool = false) throws {
        database = try Database(path: path, exclusive: exclusive)
        try database.transaction {
            try database.execute(Self.schema)
            let found = try database.first("SELECT value FROM meta WHERE key = 'schema'") { $0.text(0) }
            if let found {
                guard var version = Int(found), version <= Self.schemaVersion else {
                    throw DatabaseError(code: 1, message: "metadata schema \(found) is newer than this epochfs supports (\(Self.schemaVersion)): install the newer epochfs", sql: nil)
                }
                while version < Self.schemaVersion {
                    if let step = Self.migrations[version] { try database.execute(step) }
                    if let added = Self.addedColumns[version], try database.first(
                        "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", .text(added.table), .text(added.column), map: { _ in true }) == nil {
                        try database.execute("ALTER TABLE \(added.table) ADD COLUMN \(added.column) \(added.type)")
                    }
                    version += 1
                }
            }
            try database.execute(Self.lateIndexes)
            try database.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", .text(String(Self.schemaVersion)))
            if try inode(.root) == nil {
                var root = InodeRecord(parent: InodeNumber(rawValue: 0), name: "", kind: .directory, mode: 0o755,
                                       uid: 0, gid: 0, time: now, zone: .root, district: 0)
                root.ino = .root
                try insert(root, explicitIno: true)
            }
            let reserved = try database.first("SELECT value FROM meta WHERE key = 'ino_reserved'") { UInt64($0.text(0)) ?? 0 } ?? 0
            let highest = try database.first("SELECT max(ino) FROM inodes") { UInt64($0.int(0)) } ?? 1
            nextIno = max(reserved, highest) + 1
            reservedIno = nextIno - 1
        }
    }

    /// A fresh inode number; call inside the transaction that uses it.
    private func allocateIno() throws -> InodeNumber {
        if nextIno > reservedIno {
            reservedIno = nextIno + Self.reservationBlock - 1
            try database.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('ino_reserved', ?)", .text(String(reservedIno)))
        }
        defer { nextIno += 1 }
        return InodeNumber(rawValue: nextIno)
    }

    // MARK: Inodes

    static func record(_ row: borrowing Row) -> InodeRecord {
        var record = InodeRecord(
            ino: InodeNumber(row.int(0)),
            parent: row.optionalInt(1).map { InodeNumber($0) },
            name: row.text(2),
            kind: NodeKind(rawValue: row.int(3)) ?? .file,
            mode: UInt32(truncatingIfNeeded: row.int(4)),
            uid: UInt32(truncatingIfNeeded: row.int(5)),
            gid: UInt32(truncatingIfNeeded: row.int(6)),
            size: row.int(7),
            time: row.int(8),
            blob: row.optionalText(11),
            staged: row.int(12) != 0,
            interrupted: row.int(13) != 0,
            zone: Zone(rawValue: row.int(14)) ?? .uploadTree,
            district: row.int(15),
            subdirectories: row.int(16),
            epoch: row.optionalInt(17).map { InodeNumber($0) })
        record.mtime = row.int(9)
        record.ctime = row.int(10)
        return record
    }

    public func inode(_ ino: InodeNumber) throws -> InodeRecord? {
        try database.first(Self.selectInode, ino.sql, map: Self.record)
    }

    public func child(of parent: InodeNumber, named name: String) throws -> InodeRecord? {
        try database.first(Self.selectChild, parent.sql, .text(name), map: Self.record)
    }

    /// Children in inode order, starting after `after`, at most `limit`.
    public func children(of parent: InodeNumber, after: InodeNumber, limit: Int) throws -> [InodeRecord] {
        try database.all(Self.selectChildren, parent.sql, after.sql, .int(Int64(limit)), map: Self.record)
    }

    public func hasChildren(_ ino: InodeNumber) throws -> Bool {
        try database.first("SELECT 1 FROM inodes WHERE parent = ? LIMIT 1", ino.sql) { _ in true } ?? false
    }

    /// Inserts a new inode and returns its number (fresh unless `explicitIno`). A new directory
    /// directly in `upload/` is an epoch: it names itself as its epoch and gets an `epochs` row.
    @discardableResult
    public func insert(_ record: InodeRecord, explicitIno: Bool = false, isEpoch: Bool = false) throws -> InodeNumber {
        let ino = explicitIno ? record.ino : try allocateIno()
        var record = record
        if isEpoch {
            record.epoch = ino
            try insertEpoch(EpochRecord(ino: ino, district: record.district, name: record.name, state: .receiving))
        }
        try database.run(
            Self.insertInode,
            ino.sql,
            record.parent.map { $0.sql } ?? .null,
            .text(record.name), .int(record.kind.rawValue), .int(Int64(record.mode)),
            .int(Int64(record.uid)), .int(Int64(record.gid)), .int(record.size),
            .int(record.atime), .int(record.mtime), .int(record.ctime),
            record.blob.map { .text($0) } ?? .null,
            .int(record.staged ? 1 : 0), .int(record.interrupted ? 1 : 0),
            .int(record.zone.rawValue), .int(record.district), .int(record.subdirectories),
            record.epoch.map { $0.sql } ?? .null)
        if record.kind == .directory, let parent = record.parent {
            try adjustSubdirectories(of: parent, by: 1)
        }
        return ino
    }

    /// Writes back the attributes a client can change (mode, owner, size, times).
    public func updateAttributes(_ record: InodeRecord) throws {
        try database.run(
            "UPDATE inodes SET mode = ?, uid = ?, gid = ?, size = ?, atime = ?, mtime = ?, ctime = ? WHERE ino = ?",
            .int(Int64(record.mode)), .int(Int64(record.uid)), .int(Int64(record.gid)), .int(record.size),
            .int(record.atime), .int(record.mtime), .int(record.ctime), record.ino.sql)
    }

    /// Records where the content now lives, with its size and times.
    public func updateContent(_ record: InodeRecord) throws {
        try database.run(
            "UPDATE inodes SET size = ?, atime = ?, mtime = ?, ctime = ?, blob = ?, staged = ?, interrupted = ? WHERE ino = ?",
            .int(record.size), .int(record.atime), .int(record.mtime), .int(record.ctime),
            record.blob.map { .text($0) } ?? .null,
            .int(record.staged ? 1 : 0), .int(record.interrupted ? 1 : 0), record.ino.sql)
    }

    public func move(_ ino: InodeNumber, from oldParent: InodeNumber, to newParent: InodeNumber, name: String,
                     isDirectory: Bool, ctime: Nanoseconds) throws {
        try database.run("UPDATE inodes SET parent = ?, name = ?, ctime = ? WHERE ino = ?",
                         newParent.sql, .text(name), .int(ctime), ino.sql)
        if isDirectory && oldParent != newParent {
            try adjustSubdirectories(of: oldParent, by: -1)
            try adjustSubdirectories(of: newParent, by: 1)
        }
    }

    /// Detaches an inode from its name but keeps the row: it is still open.
    public func orphan(_ record: InodeRecord) throws {
        try database.run("UPDATE inodes SET parent = NULL WHERE ino = ?", record.ino.sql)
        if record.isDirectory, let parent = record.parent { try adjustSubdirectories(of: parent, by: -1) }
    }

    /// Deletes an inode row; the caller drops the reference to its blob.
    public func delete(_ record: InodeRecord) throws {
        try database.run("DELETE FROM inodes WHERE ino = ?", record.ino.sql)
        if record.isDirectory, let parent = record.parent { try adjustSubdirectories(of: parent, by: -1) }
    }

    public func touch(_ ino: InodeNumber, mtime: Nanoseconds) throws {
        try database.run("UPDATE inodes SET mtime = ?, ctime = ? WHERE ino = ?", .int(mtime), .int(mtime), ino.sql)
    }

    private func adjustSubdirectories(of ino: InodeNumber, by delta: Int64) throws {
        try database.run("UPDATE inodes SET subdirs = max(0, subdirs + ?) WHERE ino = ?", .int(delta), ino.sql)
    }

    public func recountSubdirectories(of ino: InodeNumber) throws {
        try database.run("UPDATE inodes SET subdirs = (SELECT count(*) FROM inodes c WHERE c.parent = ?1 AND c.kind = ?2) WHERE ino = ?1",
                         ino.sql, .int(NodeKind.directory.rawValue))
    }

    public func orphanedInodes() throws -> [InodeRecord] {
        try database.all("SELECT \(Self.columns) FROM inodes WHERE parent IS NULL", map: Self.record)
    }

    public func stagedInodes() throws -> [InodeRecord] {
        try database.all("SELECT \(Self.columns) FROM inodes WHERE staged = 1", map: Self.record)
    }

    /// Every inode below `ino` (not `ino` itself), deepest first.
    public func descendants(of ino: InodeNumber) throws -> [InodeRecord] {
        try database.all("""
            WITH RECURSIVE tree(ino, depth) AS (
                SELECT ino, 1 FROM inodes WHERE parent = ?
                UNION ALL SELECT i.ino, t.depth + 1 FROM inodes i JOIN tree t ON i.parent = t.ino)
            SELECT \(Self.qualifiedColumns)
            FROM tree t JOIN inodes i ON i.ino = t.ino ORDER BY t.depth DESC
            """, ino.sql, map: Self.record)
    }

    /// How many levels of directories lie below the directory `ino` (0: none), counting no
    /// further than `limit` levels (enough to tell whether a tree is too deep).
    public func directoryHeight(below ino: InodeNumber, limit: Int) throws -> Int {
        try database.first("""
            WITH RECURSIVE tree(ino, depth) AS (
                SELECT ino, 1 FROM inodes WHERE parent = ? AND kind = \(NodeKind.directory.rawValue)
                UNION ALL SELECT i.ino, t.depth + 1 FROM inodes i JOIN tree t ON i.parent = t.ino
                    WHERE i.kind = \(NodeKind.directory.rawValue) AND t.depth < ?)
            SELECT COALESCE(MAX(depth), 0) FROM tree
            """, ino.sql, .int(Int64(limit))) { Int($0.int(0)) } ?? 0
    }

    // MARK: Blobs

    /// Adds a reference to a blob; true when the blob is new (its file must be put in place).
    @discardableResult
    public func retainBlob(_ hash: String, size: Int64) throws -> Bool {
        try database.run("DELETE FROM doomed_blobs WHERE hash = ?", .text(hash))
        try database.run("UPDATE blobs SET refs = refs + 1 WHERE hash = ?", .text(hash))
        if database.changes > 0 { return false }
        try database.run("INSERT INTO blobs(hash, size, refs) VALUES (?, ?, 1)", .text(hash), .int(size))
        try database.run("INSERT OR IGNORE INTO unsynced_blobs(hash) VALUES (?)", .text(hash))
        return true
    }

    /// Blobs published since their bytes were last made durable (at most `limit`).
    public func unsyncedBlobs(limit: Int) throws -> [String] {
        try database.all("SELECT hash FROM unsynced_blobs LIMIT ?", .int(Int64(limit))) { $0.text(0) }
    }

    /// Whether `hash` was published since its bytes were last made durable.
    public func isUnsynced(_ hash: String) throws -> Bool {
        try database.first("SELECT 1 FROM unsynced_blobs WHERE hash = ?", .text(hash)) { _ in true } ?? false
    }

    /// `hash`'s bytes were made durable: within the caller's transaction.
    public func markSynced(_ hash: String) throws {
        try database.run("DELETE FROM unsynced_blobs WHERE hash = ?", .text(hash))
    }

    public func forgetUnsynced(_ hashes: [String]) throws {
        try database.transaction {
            for hash in hashes { try markSynced(hash) }
        }
    }

    /// Files whose content is `hash`.
    public func inodes(withBlob hash: String) throws -> [InodeRecord] {
        try database.all("SELECT \(Self.columns) FROM inodes WHERE blob = ?", .text(hash), map: Self.record)
    }

    /// Drops a reference; true when it was the last (the blob is doomed: delete its file).
    @discardableResult
    public func releaseBlob(_ hash: String) throws -> Bool {
        try database.run("UPDATE blobs SET refs = refs - 1 WHERE hash = ?", .text(hash))
        let refs = try database.first("SELECT refs FROM blobs WHERE hash = ?", .text(hash)) { $0.int(0) }
        guard let refs, refs <= 0 else { return false }
        try database.run("DELETE FROM blobs WHERE hash = ?", .text(hash))
        try database.run("INSERT OR IGNORE INTO doomed_blobs(hash) VALUES (?)", .text(hash))
        return true
    }

    public func blobExists(_ hash: String) throws -> Bool {
        try database.first("SELECT 1 FROM blobs WHERE hash = ?", .text(hash)) { _ in true } ?? false
    }

    public func doomedBlobs() throws -> [String] {
        try database.all("SELECT hash FROM doomed_blobs") { $0.text(0) }
    }

    public func forgetDoomed(_ hashes: [String]) throws {
        for hash in hashes { try database.run("DELETE FROM doomed_blobs WHERE hash = ?", .text(hash)) }
    }

    public struct BlobTotals: Sendable { public var count: Int64; public var bytes: Int64 }

    public func blobTotals() throws -> BlobTotals {
        try database.first("SELECT count(*), coalesce(sum(size), 0) FROM blobs") {
            BlobTotals(count: $0.int(0), bytes: $0.int(1))
        } ?? BlobTotals(count: 0, bytes: 0)
    }

    // MARK: Districts

    private static func district(_ row: borrowing Row) -> DistrictRecord {
        DistrictRecord(id: row.int(0), name: row.text(1), uid: UInt32(row.int(2)), gid: UInt32(row.int(3)),
                       rootIno: UInt64(row.int(4)), uploadIno: UInt64(row.int(5)),
                       processedIno: UInt64(row.int(6)), created: row.int(7), managedUser: row.int(8) != 0,
                       quotaBytes: row.optionalInt(9), quotaFiles: row.optionalInt(10))
    }

    private static let districtColumns =
        "id, name, uid, gid, root_ino, upload_ino, processed_ino, created, managed_user, quota_bytes, quota_files"

    public func districts() throws -> [DistrictRecord] {
        try database.all("SELECT \(Self.districtColumns) FROM districts ORDER BY name", map: Self.district)
    }

    public func district(named name: String) throws -> DistrictRecord? {
        try database.first("SELECT \(Self.districtColumns) FROM districts WHERE name = ?", .text(name), map: Self.district)
    }

    public func district(id: Int64) throws -> DistrictRecord? {
        try database.first("SELECT \(Self.districtColumns) FROM districts WHERE id = ?", .int(id), map: Self.district)
    }

    /// Creates a district's row and its three directories; call inside a transaction.
    public func insertDistrict(name: String, uid: UInt32, gid: UInt32, managedUser: Bool = false, now: Nanoseconds) throws -> DistrictRecord {
        try database.run("INSERT INTO districts(name, uid, gid, root_ino, upload_ino, processed_ino, created, managed_user) VALUES (?, ?, ?, 0, 0, 0, ?, ?)",
                         .text(name), .int(Int64(uid)), .int(Int64(gid)), .int(now), .int(managedUser ? 1 : 0))
        let id = database.lastInsertRowID
        let root = try insert(InodeRecord(parent: .root, name: name, kind: .directory, mode: 0o755, uid: 0, gid: 0,
                                          time: now, zone: .districtRoot, district: id))
        let upload = try insert(InodeRecord(parent: root, name: "upload", kind: .directory, mode: 0o750, uid: uid,
                                            gid: gid, time: now, zone: .upload, district: id))
        let processed = try insert(InodeRecord(parent: root, name: "upload-processed", kind: .directory, mode: 0o755,
                                               uid: 0, gid: 0, time: now, zone: .processed, district: id))
        try database.run("UPDATE districts SET root_ino = ?, upload_ino = ?, processed_ino = ? WHERE id = ?",
                         root.sql, upload.sql, processed.sql, .int(id))
        try touch(.root, mtime: now)
        return try district(id: id)!
    }

    public func deleteDistrictRow(_ district: DistrictRecord) throws {
        try database.run("DELETE FROM keys WHERE district = ?", .int(district.id))
        try database.run("DELETE FROM epochs WHERE district = ?", .int(district.id))
        try database.run("DELETE FROM districts WHERE id = ?", .int(district.id))
    }

    /// Sets (or, with nil, lifts) a district's quota.
    public func setQuota(of district: DistrictRecord, bytes: Int64?, files: Int64?) throws {
        try database.run("UPDATE districts SET quota_bytes = ?, quota_files = ? WHERE id = ?",
                         bytes.map { .int($0) } ?? .null, files.map { .int($0) } ?? .null, .int(district.id))
    }

    /// What a district holds below its `upload/`, as its quota counts it.
    public struct UploadUsage: Sendable, Equatable, Codable {
        /// Files and directories.
        public var entries: Int64
        /// The files' sizes added up.
        public var bytes: Int64
        public init(entries: Int64, bytes: Int64) {
            self.entries = entries
            self.bytes = bytes
        }
        public static let zero = UploadUsage(entries: 0, bytes: 0)
    }

    /// Every district's `UploadUsage` (districts holding nothing in `upload/` are left out).
    public func uploadUsage() throws -> [Int64: UploadUsage] {
        var usage: [Int64: UploadUsage] = [:]
        try database.forEach("""
            SELECT district, count(*), coalesce(sum(CASE kind WHEN ?1 THEN size ELSE 0 END), 0)
            FROM inodes WHERE zone = ?2 AND parent IS NOT NULL GROUP BY district
            """, [.int(NodeKind.file.rawValue), .int(Zone.uploadTree.rawValue)]) {
            usage[$0.int(0)] = UploadUsage(entries: $0.int(1), bytes: $0.int(2))
        }
        return usage
    }

    /// The logical size of the files of a district's published epochs in `upload-processed/`
    /// (their inserted logs included). Found through the epochs, by index, not by a walk of
    /// every inode.
    public func processedBytes(district: Int64) throws -> Int64 {
        try database.first("""
            SELECT coalesce(sum(inodes.size), 0) FROM epochs JOIN inodes ON inodes.epoch = epochs.ino
            WHERE epochs.state = ? AND epochs.district = ? AND inodes.kind = ? AND inodes.zone = ? AND inodes.parent IS NOT NULL
            """, .text(EpochState.published.rawValue), .int(district), .int(NodeKind.file.rawValue),
            .int(Zone.processedTree.rawValue)) { $0.int(0) } ?? 0
    }

    /// Files and bytes a district holds (below upload/ and upload-processed/).
    public func districtUsage(_ district: DistrictRecord) throws -> (files: Int64, bytes: Int64) {
        try database.first("SELECT count(*), coalesce(sum(size), 0) FROM inodes WHERE district = ? AND kind = ? AND parent IS NOT NULL",
                           .int(district.id), .int(NodeKind.file.rawValue)) { ($0.int(0), $0.int(1)) } ?? (0, 0)
    }

    /// Bytes of the distinct blobs a district's files name (shared blobs count once per district).
    public func districtStoredBytes(_ district: DistrictRecord) throws -> Int64 {
        try database.first("""
            SELECT coalesce(sum(size), 0) FROM blobs
            WHERE hash IN (SELECT DISTINCT blob FROM inodes WHERE district = ? AND blob IS NOT NULL)
            """, .int(district.id)) { $0.int(0) } ?? 0
    }

    /// How many epochs are in each state: of the district with this id, or of every district.
    public func epochCounts(district: Int64? = nil) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        try database.forEach("SELECT state, count(*) FROM epochs WHERE ?1 IS NULL OR district = ?1 GROUP BY state",
                             [district.map(SQLValue.int) ?? .null]) {
            counts[$0.text(0)] = Int($0.int(1))
        }
        return counts
    }

    // MARK: Keys

    private static let keyColumns = "fingerprint, algorithm, bits, data, comment, added"

    private static func key(_ row: borrowing Row) -> StoredKey {
        StoredKey(fingerprint: row.text(0), algorithm: row.text(1), bits: Int(row.int(2)), data: row.text(3),
                  comment: row.text(4), added: row.int(5))
    }

    /// A district's keys in the order they were added.
    public func keys(of district: DistrictRecord) throws -> [StoredKey] {
        try database.all("SELECT \(Self.keyColumns) FROM keys WHERE district = ? ORDER BY id",
                         .int(district.id), map: Self.key)
    }

    /// Adds a key unless the district has it already; true if it was added.
    public func insertKey(_ key: StoredKey, district: DistrictRecord) throws -> Bool {
        try database.run("INSERT OR IGNORE INTO keys(district, \(Self.keyColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         .int(district.id), .text(key.fingerprint), .text(key.algorithm), .int(Int64(key.bits)),
                         .text(key.data), .text(key.comment), .int(key.added))
        return database.changes > 0
    }

    /// Removes the key with this fingerprint; true if there was one.
    public func deleteKey(fingerprint: String, district: DistrictRecord) throws -> Bool {
        try database.run("DELETE FROM keys WHERE district = ? AND fingerprint = ?", .int(district.id), .text(fingerprint))
        return database.changes > 0
    }

    // MARK: Units of work

    /// Runs `body` as one unit of work: committed if it returns, undone if it throws. A
    /// `durable` one (and every one before it) survives a power cut once this returns.
    public func transaction<T>(durable: Bool = false, _ body: () throws -> T) throws -> T {
        durable ? try database.durableTransaction(body) : try database.transaction(body)
    }

    /// Makes every unit of work so far durable in the database file itself.
    public func checkpoint() throws {
        try database.checkpoint()
    }

    /// Makes every unit of work so far durable in the write-ahead log, without the room a
    /// checkpoint may need (on a full disk, before deleting what gives room back).
    public func syncWAL() throws {
        try database.syncWAL()
    }
}
