import SQLiteDatabase
/// The `epochs` table, and the inodes of an epoch.
extension MetadataStore {
    private static let epochColumns =
        "ino, district, name, state, reason, sealed, published, profile, outcome, result, released, withdrawn, attempts, handed_off"
    /// The same columns with processing.json left out (NULL in its place), for listings.
    private static let epochColumnsWithoutResult =
        "ino, district, name, state, reason, sealed, published, profile, outcome, NULL, released, withdrawn, attempts, NULL"

    private static func epoch(_ row: borrowing Row) -> EpochRecord {
        EpochRecord(
            ino: InodeNumber(row.int(0)), district: row.int(1), name: row.text(2),
            state: EpochState(rawValue: row.text(3)) ?? .receiving, reason: row.text(4),
            sealed: row.optionalInt(5), published: row.optionalInt(6), profile: row.optionalText(7),
            outcome: row.optionalText(8), result: row.optionalText(9), released: row.int(10) != 0,
            withdrawn: row.int(11) != 0, attempts: Int(row.int(12)), handedOff: row.optionalText(13))
    }

    public func insertEpoch(_ epoch: EpochRecord) throws {
        try database.run("INSERT INTO epochs(\(Self.epochColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         epoch.ino.sql, .int(epoch.district), .text(epoch.name), .text(epoch.state.rawValue),
                         .text(epoch.reason), epoch.sealed.map { .int($0) } ?? .null,
                         epoch.published.map { .int($0) } ?? .null, epoch.profile.map { .text($0) } ?? .null,
                         epoch.outcome.map { .text($0) } ?? .null, epoch.result.map { .text($0) } ?? .null,
                         .int(epoch.released ? 1 : 0), .int(epoch.withdrawn ? 1 : 0), .int(Int64(epoch.attempts)),
                         epoch.handedOff.map { .text($0) } ?? .null)
    }

    /// Writes back every column of an existing epoch row.
    public func updateEpoch(_ epoch: EpochRecord) throws {
        try database.run("""
            UPDATE epochs SET district = ?, name = ?, state = ?, reason = ?, sealed = ?, published = ?,
                profile = ?, outcome = ?, result = ?, released = ?, withdrawn = ?, attempts = ?, handed_off = ? WHERE ino = ?
            """,
            .int(epoch.district), .text(epoch.name), .text(epoch.state.rawValue), .text(epoch.reason),
            epoch.sealed.map { .int($0) } ?? .null, epoch.published.map { .int($0) } ?? .null,
            epoch.profile.map { .text($0) } ?? .null, epoch.outcome.map { .text($0) } ?? .null,
            epoch.result.map { .text($0) } ?? .null, .int(epoch.released ? 1 : 0), .int(epoch.withdrawn ? 1 : 0),
            .int(Int64(epoch.attempts)), epoch.handedOff.map { .text($0) } ?? .null, epoch.ino.sql)
    }

    public func deleteEpoch(_ ino: InodeNumber) throws {
        try database.run("DELETE FROM epochs WHERE ino = ?", ino.sql)
    }

    public func epoch(_ ino: InodeNumber) throws -> EpochRecord? {
        try database.first("SELECT \(Self.epochColumns) FROM epochs WHERE ino = ?", ino.sql, map: Self.epoch)
    }

    /// Epochs, optionally of one district, in some states and of one name, by district and
    /// name. `withResults: false` leaves out processing.json (for listings: it can be large).
    public func epochs(district: Int64? = nil, states: [EpochState]? = nil, named name: String? = nil,
                       withResults: Bool = true) throws -> [EpochRecord] {
        var conditions: [String] = []
        var values: [SQLValue] = []
        if let district {
            conditions.append("district = ?")
            values.append(.int(district))
        }
        if let states {
            conditions.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
            values += states.map { .text($0.rawValue) }
        }
        if let name {
            conditions.append("name = ?")
            values.append(.text(name))
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        var found: [EpochRecord] = []
        let columns = withResults ? Self.epochColumns : Self.epochColumnsWithoutResult
        try database.forEach("SELECT \(columns) FROM epochs\(filter) ORDER BY district, name", values) {
            found.append(Self.epoch($0))
        }
        return found
    }

    /// Sets the epoch of `ino` and everything below it (a directory moved into, out of or
    /// between epochs).
    public func setEpoch(_ epoch: InodeNumber?, ofTreeAt ino: InodeNumber) throws {
        try database.run("""
            WITH RECURSIVE tree(ino) AS (
                SELECT ?1 UNION ALL SELECT i.ino FROM inodes i JOIN tree t ON i.parent = t.ino)
            UPDATE inodes SET epoch = ?2 WHERE ino IN (SELECT ino FROM tree)
            """, ino.sql, epoch.map { $0.sql } ?? .null)
    }

    /// Every named inode of an epoch (the epoch directory included) with its path relative
    /// to the epoch directory ("" for the directory itself), parents before children.
    public func epochTree(_ epoch: InodeNumber) throws -> [(path: String, record: InodeRecord)] {
        let qualified = Self.qualifiedColumns
        return try database.all("""
            WITH RECURSIVE tree(ino, path, depth) AS (
                SELECT ?1, '', 0
                UNION ALL SELECT i.ino, CASE t.path WHEN '' THEN i.name ELSE t.path || '/' || i.name END, t.depth + 1
                FROM inodes i JOIN tree t ON i.parent = t.ino)
            SELECT \(qualified), t.path FROM tree t JOIN inodes i ON i.ino = t.ino ORDER BY t.depth, t.path
            """, epoch.sql) { row in (row.text(18), Self.record(row)) }
    }

    /// When something in an epoch last changed, as its inodes record it: the latest ctime among
    /// them (a client can set an mtime, never a ctime; a removal touches the directory it was
    /// in). nil for an epoch that has no inodes.
    public func lastChange(ofEpoch epoch: InodeNumber) throws -> Nanoseconds? {
        try database.first("SELECT max(ctime) FROM inodes WHERE epoch = ?", epoch.sql) { $0.optionalInt(0) } ?? nil
    }

    /// Moves every inode of an epoch into another zone (publishing moves it to upload-processed).
    public func setZone(_ zone: Zone, ofEpoch epoch: InodeNumber) throws {
        try database.run("UPDATE inodes SET zone = ? WHERE epoch = ?", .int(zone.rawValue), epoch.sql)
    }
}
