import CSQLite
import EpochCore
import Foundation

/// An SQLite failure, with the result code and the library's own message.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public init(code: Int32, message: String, sql: String?) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    public var description: String {
        if let sql { return "SQLite error \(code): \(message) (in: \(sql))" }
        return "SQLite error \(code): \(message)"
    }

    /// The disk or the database is full.
    public var isFull: Bool { code & 0xff == SQLITE_FULL }
}

/// A value bound to, or read from, a statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)
    case blob([UInt8])
}

private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement, owned by its `Database` and reused across calls.
public final class Statement {
    fileprivate let handle: OpaquePointer
    fileprivate unowned let database: Database
    let sql: String

    fileprivate init(database: Database, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw database.error(rc, sql: sql)
        }
        self.handle = stmt
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    fileprivate func bind(_ values: [SQLValue]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, position)
            case .int(let v): rc = sqlite3_bind_int64(handle, position, v)
            case .text(let v): rc = sqlite3_bind_text(handle, position, v, -1, transientDestructor)
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(handle, position, $0.baseAddress, Int32($0.count), transientDestructor) }
            }
            guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
        }
    }

    /// Steps once; true while a row is available.
    fileprivate func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(rc, sql: sql)
        }
    }
}

/// One row of a result, valid only inside the closure that receives it.
public struct Row: ~Copyable {
    fileprivate let handle: OpaquePointer

    public func int(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    public func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : int(column) }
    public func text(_ column: Int32) -> String {
        guard let cString = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: cString)
    }
    public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
}

/// A connection to one SQLite database file. Not thread-safe: its owner serialises access.
public final class Database {
    fileprivate let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    public let path: String

    /// Opens (creating if needed) the database at `path` in WAL mode.
    public init(path: String, readOnly: Bool = false, exclusive: Bool = false) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw DatabaseError(code: rc, message: "\(message): \(path)", sql: nil)
        }
        self.handle = db
        self.path = path
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
        if exclusive {
            try execute("PRAGMA locking_mode=EXCLUSIVE")
            // The daemon's connection: keep the hot part of the tree in memory (64 MiB).
            try execute("PRAGMA cache_size=-65536")
        }
        if !readOnly {
            try execute("PRAGMA journal_mode=WAL")
            try execute("PRAGMA synchronous=NORMAL")
        }
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    fileprivate func error(_ rc: Int32, sql: String?) -> DatabaseError {
        DatabaseError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that return no rows of interest.
    public func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: sql) }
    }

    private func statement(_ sql: String) throws -> Statement {
        if let cached = statements[sql] { return cached }
        let statement = try Statement(database: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs a statement for its effect.
    public func run(_ sql: String, _ values: SQLValue...) throws {
        let statement = try statement(sql)
        try statement.bind(values)
        defer { sqlite3_reset(statement.handle) }
        while try statement.step() {}
    }

    /// Calls `body` for each row.
    public func forEach(_ sql: String, _ values: [SQLValue] = [], _ body: (borrowing Row) throws -> Void) throws {
        let statement = try statement(sql)
        try statement.bind(values)
        defer { sqlite3_reset(statement.handle) }
        while try statement.step() {
            try body(Row(handle: statement.handle))
        }
    }

    /// The first row mapped by `body`, or nil when there is none.
    public func first<T>(_ sql: String, _ values: SQLValue..., map body: (borrowing Row) throws -> T) throws -> T? {
        let statement = try statement(sql)
        try statement.bind(values)
        defer { sqlite3_reset(statement.handle) }
        guard try statement.step() else { return nil }
        return try body(Row(handle: statement.handle))
    }

    /// The rows mapped by `body`.
    public func all<T>(_ sql: String, _ values: SQLValue..., map body: (borrowing Row) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEach(sql, values) { result.append(try body($0)) }
        return result
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` in one IMMEDIATE transaction: committed if it returns, rolled back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try run("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }

    /// Like `transaction`, but the commit (and every commit before it) is durable against a
    /// power cut when it returns: the WAL is synced once, here, instead of on every commit.
    public func durableTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("PRAGMA synchronous=FULL")
        defer { try? execute("PRAGMA synchronous=NORMAL") }
        return try transaction(body)
    }

    /// Copies the whole database, as of now, into a new database file at `path` (SQLite's
    /// online backup, in one step: the owner's serialisation keeps it consistent), and syncs it.
    public func backup(to path: String) throws {
        let target = try Database(path: path)
        guard let backup = sqlite3_backup_init(target.handle, "main", handle, "main") else {
            throw target.error(sqlite3_errcode(target.handle), sql: "backup")
        }
        let rc = sqlite3_backup_step(backup, -1)
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw error(rc, sql: "backup") }
        try target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// Makes every commit so far durable by syncing the WAL file itself: unlike a checkpoint,
    /// it needs no free space (the database file may have to grow to take the WAL's pages),
    /// so it works on a full disk.
    public func syncWAL() throws {
        let fd: Int32
        do {
            fd = try Sys.open(path + "-wal", O_RDONLY)
        } catch let error as SystemError where error.errno == ENOENT {
            return
        }
        defer { Sys.close(fd) }
        try Sys.fdatasync(fd)
    }

    /// Copies the WAL into the database file, syncing both: every commit so far is durable.
    public func checkpoint() throws {
        try execute("PRAGMA wal_checkpoint(PASSIVE)")
    }
}
