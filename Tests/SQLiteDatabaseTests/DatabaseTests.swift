import SQLiteDatabase
import TestSupport
import Testing

private struct Abort: Error, Equatable {}

@Suite struct DatabaseTests {
    private func withTable<T>(_ body: (Database, String) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/test.db"
            let db = try Database(path: path)
            try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, value INTEGER)")
            return try body(db, path)
        }
    }

    private func count(_ db: Database) throws -> Int64 {
        try db.first("SELECT count(*) FROM t") { $0.int(0) } ?? -1
    }

    @Test func opensInWALModeWithForeignKeys() throws {
        try withTable { db, _ throws in
            #expect(try db.first("PRAGMA journal_mode") { $0.text(0) } == "wal")
            #expect(try db.first("PRAGMA foreign_keys") { $0.int(0) } == 1)
            #expect(try db.first("PRAGMA synchronous") { $0.int(0) } == 1)
        }
    }

    @Test func transactionCommitsWhatItsBodyDid() throws {
        try withTable { db, path throws in
            let id = try db.transaction { () -> Int64 in
                try db.run("INSERT INTO t(name, value) VALUES (?, ?)", .text("a"), .int(7))
                return db.lastInsertRowID
            }
            #expect(id == 1)
            let other = try Database(path: path)
            #expect(try other.first("SELECT name, value FROM t WHERE id = ?", .int(id)) { "\($0.text(0))=\($0.int(1))" } == "a=7")
        }
    }

    @Test func transactionRollsBackAndRethrowsWhenBodyThrows() throws {
        try withTable { db, path throws in
            #expect(throws: Abort()) {
                try db.transaction {
                    try db.run("INSERT INTO t(name) VALUES (?)", .text("lost"))
                    #expect(try count(db) == 1)
                    throw Abort()
                }
            }
            #expect(try count(db) == 0)
            #expect(try Database(path: path).first("SELECT count(*) FROM t") { $0.int(0) } == 0)
            try db.transaction { try db.run("INSERT INTO t(name) VALUES (?)", .text("kept")) }
            #expect(try db.all("SELECT name FROM t") { $0.text(0) } == ["kept"])
        }
    }

    @Test func failedStatementInsideTransactionRollsBackEarlierStatements() throws {
        try withTable { db, _ throws in
            try db.run("INSERT INTO t(name) VALUES ('x')")
            let error = try #require(throws: DatabaseError.self) {
                try db.transaction {
                    try db.run("INSERT INTO t(name) VALUES ('y')")
                    try db.run("INSERT INTO t(name) VALUES ('x')")
                }
            }
            #expect(error.code & 0xff == 19)
            #expect(try db.all("SELECT name FROM t ORDER BY name") { $0.text(0) } == ["x"])
        }
    }

    @Test func transactionsDoNotNest() throws {
        try withTable { db, _ throws in
            let error = try #require(throws: DatabaseError.self) {
                try db.transaction {
                    try db.run("INSERT INTO t(name) VALUES ('outer')")
                    try db.transaction { try db.run("INSERT INTO t(name) VALUES ('inner')") }
                }
            }
            #expect(error.message.contains("within a transaction"))
            #expect(try count(db) == 0)
        }
    }

    @Test func durableTransactionCommitsAndRestoresNormalSync() throws {
        try withTable { db, path throws in
            let syncInside = try db.durableTransaction { () -> Int64? in
                try db.run("INSERT INTO t(name) VALUES ('durable')")
                return try db.first("PRAGMA synchronous") { $0.int(0) }
            }
            #expect(syncInside == 2)
            #expect(try db.first("PRAGMA synchronous") { $0.int(0) } == 1)
            #expect(try Database(path: path).first("SELECT name FROM t") { $0.text(0) } == "durable")
        }
    }

    @Test func reusedStatementBindsFreshValuesEachTime() throws {
        try withTable { db, _ throws in
            for i in 0..<500 {
                try db.run("INSERT INTO t(name, value) VALUES (?, ?)", .text("n\(i)"), .int(Int64(i)))
            }
            #expect(try count(db) == 500)
            #expect(try db.first("SELECT sum(value) FROM t") { $0.int(0) } == 499 * 500 / 2)
            for i in [0, 250, 499] {
                #expect(try db.first("SELECT value FROM t WHERE name = ?", .text("n\(i)")) { $0.int(0) } == Int64(i))
            }
            #expect(try db.first("SELECT value FROM t WHERE name = ?", .text("missing")) { $0.int(0) } == nil)
        }
    }

    @Test func reusedStatementDoesNotKeepEarlierBindings() throws {
        try withTable { db, _ throws in
            let first = try db.first("SELECT ?1, ?2", .int(1), .int(2)) { [$0.optionalInt(0), $0.optionalInt(1)] }
            #expect(first == [1, 2])
            let second = try db.first("SELECT ?1, ?2", .int(3)) { [$0.optionalInt(0), $0.optionalInt(1)] }
            #expect(second == [3, nil])
        }
    }

    @Test func firstResetsItsStatementSoTheTableIsNotLocked() throws {
        try withTable { db, _ throws in
            for name in ["a", "b", "c"] { try db.run("INSERT INTO t(name) VALUES (?)", .text(name)) }
            #expect(try db.first("SELECT name FROM t ORDER BY id") { $0.text(0) } == "a")
            #expect(try db.first("SELECT name FROM t ORDER BY id") { $0.text(0) } == "a")
            try db.execute("DROP TABLE t")
            #expect(try db.first("SELECT count(*) FROM sqlite_master WHERE name = 't'") { $0.int(0) } == 0)
        }
    }

    @Test func forEachStartsOverAfterItsBodyThrew() throws {
        try withTable { db, _ throws in
            for name in ["a", "b", "c"] { try db.run("INSERT INTO t(name) VALUES (?)", .text(name)) }
            var seen: [String] = []
            #expect(throws: Abort()) {
                try db.forEach("SELECT name FROM t ORDER BY id") { row in
                    seen.append(row.text(0))
                    if seen.count == 2 { throw Abort() }
                }
            }
            #expect(seen == ["a", "b"])
            #expect(try db.all("SELECT name FROM t ORDER BY id") { $0.text(0) } == ["a", "b", "c"])
        }
    }

    @Test func rowAccessorsReadNullsAndText() throws {
        try withTable { db, _ throws in
            try db.run("INSERT INTO t(name, value) VALUES (?, ?)", .null, .int(-5))
            let row = try db.first("SELECT name, value FROM t") { row in
                (row.isNull(0), row.optionalText(0), row.text(0), row.optionalInt(1))
            }
            #expect(row?.0 == true)
            #expect(row?.1 == nil)
            #expect(row?.2 == "")
            #expect(row?.3 == -5)
        }
    }

    @Test func changesCountsTheLastStatementsRows() throws {
        try withTable { db, _ throws in
            for name in ["a", "b", "c"] { try db.run("INSERT INTO t(name, value) VALUES (?, 0)", .text(name)) }
            try db.run("UPDATE t SET value = 1 WHERE name != ?", .text("b"))
            #expect(db.changes == 2)
            try db.run("UPDATE t SET value = 1 WHERE name = ?", .text("none"))
            #expect(db.changes == 0)
        }
    }

    @Test func syntaxErrorCarriesCodeMessageAndSQL() throws {
        try withTable { db, _ throws in
            let error = try #require(throws: DatabaseError.self) { try db.run("SELEC 1") }
            #expect(error.code == 1)
            #expect(error.message.contains("syntax error"))
            #expect(error.sql == "SELEC 1")
            #expect(error.description == "SQLite error 1: \(error.message) (in: SELEC 1)")
            #expect(!error.isFull)
        }
    }

    @Test func constraintViolationReportsTheExtendedCode() throws {
        try withTable { db, _ throws in
            try db.run("INSERT INTO t(name) VALUES (?)", .text("dup"))
            let error = try #require(throws: DatabaseError.self) {
                try db.run("INSERT INTO t(name) VALUES (?)", .text("dup"))
            }
            #expect(error.code == 2067)
            #expect(error.message.contains("UNIQUE constraint failed: t.name"))
            #expect(error.sql == "INSERT INTO t(name) VALUES (?)")
            #expect(try count(db) == 1)
        }
    }

    @Test func openFailureNamesThePath() throws {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/missing/directory/test.db"
            let error = try #require(throws: DatabaseError.self) { try Database(path: path) }
            #expect(error.code == 14)
            #expect(error.message.contains(path))
            #expect(error.sql == nil)
            #expect(!error.description.contains("(in:"))
        }
    }

    @Test func readOnlyConnectionRefusesWrites() throws {
        try withTable { db, path throws in
            try db.run("INSERT INTO t(name) VALUES ('a')")
            let reader = try Database(path: path, readOnly: true)
            #expect(try reader.first("SELECT name FROM t") { $0.text(0) } == "a")
            let error = try #require(throws: DatabaseError.self) { try reader.run("INSERT INTO t(name) VALUES ('b')") }
            #expect(error.code & 0xff == 8)
        }
    }

    @Test func isFullRecognisesFullCodesOnly() {
        #expect(DatabaseError(code: 13, message: "full", sql: nil).isFull)
        #expect(DatabaseError(code: 13 | (1 << 8), message: "full", sql: nil).isFull)
        #expect(!DatabaseError(code: 19, message: "constraint", sql: nil).isFull)
        #expect(!DatabaseError(code: 10, message: "io", sql: nil).isFull)
    }
}
