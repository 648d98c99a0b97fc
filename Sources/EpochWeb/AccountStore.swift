import Foundation
import HummingbirdBcrypt
import SQLiteDatabase
import Synchronization

/// An account as the pages see it.
public struct Account: Sendable, Equatable {
    public let id: Int64
    public let email: String
    public let role: AccountRole
    public let timeZone: String
}

/// A signed-in request's session.
public struct ActiveSession: Sendable {
    public let account: Account
    /// What every state-changing form of this session must carry back.
    public let formToken: String
}

/// One sign-in attempt, as the account page lists it.
public struct SignInRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case succeeded, wrongPassword = "wrong-password", refused
    }
    public let time: Int64
    public let address: String
    public let outcome: Outcome
}

/// The console's accounts, invitations, sessions and sign-ins: a SQLite database of its own,
/// owned and readable by the web user alone. One connection, serialised by a mutex; bcrypt runs
/// outside it, so a slow hash holds up nobody else's request.
public final class AccountStore: Sendable {
    private let database: Mutex<Database>
    private let bcryptCost: UInt8
    private let now: @Sendable () -> Int64
    public let throttle: SignInThrottle
    /// Verified against when the e-mail address is unknown, so that a sign-in takes as long
    /// for an address that has no account as for one that has.
    private let decoyHash: String

    /// - Parameters:
    ///   - bcryptCost: 12 in service; tests lower it to stay fast.
    ///   - now: Unix seconds; tests move it.
    public init(path: String, bcryptCost: UInt8 = 12, throttle: SignInThrottle = SignInThrottle(),
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) throws {
        let database = try Database(path: path)
        try Self.migrate(database)
        self.database = Mutex(database)
        self.bcryptCost = bcryptCost
        self.now = now
        self.throttle = throttle
        self.decoyHash = Bcrypt.hash(Secret.make(), cost: bcryptCost)
    }

    private static func migrate(_ database: Database) throws {
        let version = try database.first("PRAGMA user_version") { $0.int(0) } ?? 0
        guard version < 1 else { return }
        try database.transaction {
            try database.execute("""
                CREATE TABLE accounts(
                    id INTEGER PRIMARY KEY,
                    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                    district TEXT,
                    staff INTEGER NOT NULL,
                    password_hash TEXT,
                    time_zone TEXT NOT NULL DEFAULT 'UTC',
                    created INTEGER NOT NULL,
                    CHECK ((district IS NULL) = (staff = 1)));
                CREATE TABLE invitations(
                    id INTEGER PRIMARY KEY,
                    account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    token_digest TEXT NOT NULL UNIQUE,
                    created INTEGER NOT NULL,
                    used INTEGER);
                CREATE TABLE sessions(
                    id INTEGER PRIMARY KEY,
                    account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                    token_digest TEXT NOT NULL UNIQUE,
                    created INTEGER NOT NULL,
                    last_seen INTEGER NOT NULL);
                CREATE TABLE sign_ins(
                    id INTEGER PRIMARY KEY,
                    email TEXT NOT NULL COLLATE NOCASE,
                    account INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
                    time INTEGER NOT NULL,
                    address TEXT NOT NULL,
                    outcome TEXT NOT NULL);
                CREATE INDEX sign_ins_by_email ON sign_ins(email, time);
                CREATE INDEX sign_ins_by_address ON sign_ins(address, time);
                CREATE INDEX sessions_by_account ON sessions(account);
                PRAGMA user_version = 1;
                """)
        }
    }

    // MARK: Invitations

    /// Makes an invitation for `email` (creating its account, or for an existing account a new
    /// password: a forgotten one needs this) and returns its secret. Earlier unused invitations
    /// of the account stop working.
    public func invite(email: String, role: AccountRole) throws -> String {
        if let problem = AccountRules.emailProblem(email) { throw AccountError(problem) }
        let token = Secret.make()
        let time = now()
        try database.withLock { db in
            try db.transaction {
                let existing = try db.first("SELECT id, district, staff FROM accounts WHERE email = ?", .text(email)) {
                    (id: $0.int(0), role: $0.int(2) == 1 ? AccountRole.staff : .district($0.text(1)))
                }
                let account: Int64
                if let existing {
                    guard existing.role == role else {
                        throw AccountError("\(email) already has an account for \(existing.role), not \(role)")
                    }
                    account = existing.id
                    try db.run("DELETE FROM invitations WHERE account = ? AND used IS NULL", .int(account))
                } else {
                    try db.run("INSERT INTO accounts(email, district, staff, created) VALUES (?, ?, ?, ?)",
                               .text(email), role.district.map(SQLValue.text) ?? .null, .int(role == .staff ? 1 : 0), .int(time))
                    account = db.lastInsertRowID
                }
                try db.run("INSERT INTO invitations(account, token_digest, created) VALUES (?, ?, ?)",
                           .int(account), .text(Secret.digest(token)), .int(time))
            }
        }
        return token
    }

    /// The account an invitation is for, while the invitation can still be used.
    public func invitation(_ token: String) throws -> Account? {
        let time = now()
        return try database.withLock { db in
            try db.first("""
                SELECT a.id, a.email, a.district, a.staff, a.time_zone, i.created, i.used
                FROM invitations i JOIN accounts a ON a.id = i.account WHERE i.token_digest = ?
                """, .text(Secret.digest(token))) { row -> Account? in
                guard AccountRules.invitationIsUsable(created: row.int(5), used: row.optionalInt(6), now: time) else { return nil }
                return Self.account(row)
            } ?? nil
        }
    }

    /// Sets the password an invitation was for and uses the invitation up. Every session the
    /// account had ends: whoever knew the old password is out.
    public func acceptInvitation(_ token: String, password: String, confirmation: String) throws -> Account {
        if let problem = AccountRules.passwordProblem(password, confirmation: confirmation) { throw AccountError(problem) }
        guard let invited = try invitation(token) else { throw Self.unusableInvitation }
        let hash = Bcrypt.hash(password, cost: bcryptCost)
        let time = now()
        try database.withLock { db in
            try db.transaction {
                // Used once: of two requests racing with the same link, the second changes no row.
                try db.run("UPDATE invitations SET used = ? WHERE token_digest = ? AND used IS NULL",
                           .int(time), .text(Secret.digest(token)))
                guard db.changes == 1 else { throw Self.unusableInvitation }
                try db.run("UPDATE accounts SET password_hash = ? WHERE id = ?", .text(hash), .int(invited.id))
                try db.run("DELETE FROM sessions WHERE account = ?", .int(invited.id))
            }
        }
        return invited
    }

    static let unusableInvitation = AccountError(
        "This invitation link has expired or has been used. Ask your operator for a new one.")

    // MARK: Signing in

    public enum SignInResult: Sendable {
        /// The new session's secret, for the cookie.
        case signedIn(session: String, account: Account)
        case wrongCredentials
        /// Too many recent failures for this account or from this address: try after this time.
        case refusedUntil(Int64)
    }

    /// Checks a password and, when it is right, starts a new session (never one the browser
    /// brought along: a session id planted before sign-in is worth nothing after it). An attempt
    /// counts as a failure from the moment it is let in until its password proves right: guesses
    /// sent at once meet the same limit as guesses sent in turn.
    public func signIn(email: String, password: String, address: String) throws -> SignInResult {
        // No account has such an address (an invitation refuses it): nothing to check, and
        // nothing worth a row of the store's disk.
        guard AccountRules.emailProblem(email) == nil else { return .wrongCredentials }
        let time = now()
        let (stored, verdict, attempt) = try database.withLock { db in
            let stored = try db.first("""
                SELECT id, email, district, staff, time_zone, password_hash FROM accounts WHERE email = ?
                """, .text(email)) { (account: Self.account($0), hash: $0.optionalText(5)) }
            let since = time - throttle.window
            let accountFailures = try db.all("""
                SELECT time FROM sign_ins WHERE email = ? AND outcome = 'wrong-password' AND time > ?
                """, .text(email), .int(since)) { $0.int(0) }
            let addressFailures = try db.all("""
                SELECT time FROM sign_ins WHERE address = ? AND outcome = 'wrong-password' AND time > ?
                """, .text(address), .int(since)) { $0.int(0) }
            let verdict = throttle.verdict(accountFailures: accountFailures, addressFailures: addressFailures, now: time)
            if verdict == .allowed {
                try Self.insertSignIn(db, email: email, account: stored?.account.id, address: address, outcome: .wrongPassword, time: time)
            } else if let account = stored?.account.id, try db.first("""
                SELECT 1 FROM sign_ins WHERE account = ? AND outcome = 'refused' AND time > ?
                """, .int(account), .int(since), map: { _ in true }) == nil {
                // A refusal costs its sender nothing: the account page shows one per window, not
                // one row per request of a flood (and an address that has no account, none).
                try Self.insertSignIn(db, email: email, account: account, address: address, outcome: .refused, time: time)
            }
            return (stored, verdict, db.lastInsertRowID)
        }
        if case .refusedUntil(let until) = verdict { return .refusedUntil(until) }
        let right = Bcrypt.verify(password, hash: stored?.hash ?? decoyHash) && stored?.hash != nil
        guard right, let account = stored?.account else { return .wrongCredentials }
        let session = Secret.make()
        try database.withLock { db in
            try db.transaction {
                try Self.insertSession(db, account: account.id, secret: session, time: time)
                try db.run("UPDATE sign_ins SET outcome = ? WHERE id = ?", .text(SignInRecord.Outcome.succeeded.rawValue), .int(attempt))
            }
        }
        return .signedIn(session: session, account: account)
    }

    /// A new session, stored as the digest of its secret.
    private static func insertSession(_ db: Database, account: Int64, secret: String, time: Int64) throws {
        try db.run("INSERT INTO sessions(account, token_digest, created, last_seen) VALUES (?, ?, ?, ?)",
                   .int(account), .text(Secret.digest(secret)), .int(time), .int(time))
    }

    private static func insertSignIn(_ db: Database, email: String, account: Int64?, address: String,
                                     outcome: SignInRecord.Outcome, time: Int64) throws {
        try db.run("INSERT INTO sign_ins(email, account, time, address, outcome) VALUES (?, ?, ?, ?, ?)",
                   .text(email), account.map(SQLValue.int) ?? .null, .int(time), .text(address), .text(outcome.rawValue))
    }

    /// The session a cookie names, while it lasts; using it keeps it alive (up to its lifetime).
    public func session(_ token: String) throws -> ActiveSession? {
        let time = now()
        let digest = Secret.digest(token)
        return try database.withLock { db in
            let found = try db.first("""
                SELECT a.id, a.email, a.district, a.staff, a.time_zone, s.created, s.last_seen
                FROM sessions s JOIN accounts a ON a.id = s.account WHERE s.token_digest = ?
                """, .text(digest)) { (account: Self.account($0), created: $0.int(5), lastSeen: $0.int(6)) }
            guard let found else { return nil }
            guard time < AccountRules.sessionExpiry(created: found.created, lastSeen: found.lastSeen) else {
                try db.run("DELETE FROM sessions WHERE token_digest = ?", .text(digest))
                return nil
            }
            if time > found.lastSeen + 60 {
                try db.run("UPDATE sessions SET last_seen = ? WHERE token_digest = ?", .int(time), .text(digest))
            }
            return ActiveSession(account: found.account, formToken: Secret.formToken(forSession: token))
        }
    }

    public func signOut(_ token: String) throws {
        try database.withLock { db in
            try db.run("DELETE FROM sessions WHERE token_digest = ?", .text(Secret.digest(token)))
        }
    }

    /// Ends every session of the account, the one asking included.
    public func signOutEverywhere(account: Int64) throws {
        try database.withLock { db in try db.run("DELETE FROM sessions WHERE account = ?", .int(account)) }
    }

    // MARK: The account page

    /// Changes the password when the current one is right; every session of the account ends
    /// and the returned one (for the browser that asked) starts.
    public func changePassword(account: Account, current: String, new: String, confirmation: String) throws -> String {
        let hash = try database.withLock { db in
            try db.first("SELECT password_hash FROM accounts WHERE id = ?", .int(account.id)) { $0.optionalText(0) } ?? nil
        }
        guard let hash, Bcrypt.verify(current, hash: hash) else { throw AccountError("The current password is not right.") }
        if let problem = AccountRules.passwordProblem(new, confirmation: confirmation) { throw AccountError(problem) }
        let newHash = Bcrypt.hash(new, cost: bcryptCost)
        let session = Secret.make()
        let time = now()
        try database.withLock { db in
            try db.transaction {
                try db.run("UPDATE accounts SET password_hash = ? WHERE id = ?", .text(newHash), .int(account.id))
                try db.run("DELETE FROM sessions WHERE account = ?", .int(account.id))
                try Self.insertSession(db, account: account.id, secret: session, time: time)
            }
        }
        return session
    }

    public func setTimeZone(account: Int64, to identifier: String) throws {
        guard TimeZone(identifier: identifier) != nil else { throw AccountError("'\(identifier)' is not a time zone.") }
        try database.withLock { db in
            try db.run("UPDATE accounts SET time_zone = ? WHERE id = ?", .text(identifier), .int(account))
        }
    }

    /// The account's latest sign-in attempts, newest first.
    public func recentSignIns(account: Int64, limit: Int = 20) throws -> [SignInRecord] {
        try database.withLock { db in
            try db.all("SELECT time, address, outcome FROM sign_ins WHERE account = ? ORDER BY time DESC, id DESC LIMIT ?",
                       .int(account), .int(Int64(limit))) {
                SignInRecord(time: $0.int(0), address: $0.text(1), outcome: SignInRecord.Outcome(rawValue: $0.text(2)) ?? .refused)
            }
        }
    }

    /// What is stored as the account's password (for tests: never the password itself).
    func storedPasswordHash(email: String) throws -> String? {
        try database.withLock { db in
            try db.first("SELECT password_hash FROM accounts WHERE email = ?", .text(email)) { $0.optionalText(0) } ?? nil
        }
    }

    /// How many sign-in attempts are kept (for tests).
    func signInRecordCount() throws -> Int {
        try database.withLock { db in try db.first("SELECT count(*) FROM sign_ins") { Int($0.int(0)) } ?? 0 }
    }

    private static func account(_ row: borrowing Row) -> Account {
        Account(id: row.int(0), email: row.text(1), role: row.int(3) == 1 ? .staff : .district(row.text(2)), timeZone: row.text(4))
    }
}

/// Where the console keeps its state: a directory of the store that only the web user can
/// open, holding its accounts database (and SQLite's WAL and shared-memory files beside it).
public struct WebPaths: Sendable {
    public let directory: String
    public init(store: String) { directory = store + "/web" }
    public var accounts: String { directory + "/accounts.db" }
}
