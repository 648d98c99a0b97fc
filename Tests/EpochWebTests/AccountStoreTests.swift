@testable import EpochWeb
import Foundation
import Synchronization
import TestSupport
import Testing

/// A clock the tests move.
final class TestClock: Sendable {
    private let seconds = Mutex<Int64>(1_800_000_000)
    var now: Int64 { seconds.withLock { $0 } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
}

private let password = "correct horse battery"

@Suite struct AccountStoreTests {
    /// A store in a fresh directory, with a fast bcrypt cost and a clock the test moves.
    private func withStore<T>(_ body: (AccountStore, TestClock) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let clock = TestClock()
            let store = try AccountStore(path: dir + "/accounts.db", bcryptCost: 4, now: { clock.now })
            return try body(store, clock)
        }
    }

    /// An account with `password` set, through its invitation.
    private func invited(_ store: AccountStore, _ email: String = "admin@lincoln.example") throws -> Account {
        let token = try store.invite(email: email, role: .district("lincoln"))
        return try store.acceptInvitation(token, password: password, confirmation: password)
    }

    private func session(_ result: AccountStore.SignInResult) -> String? {
        if case .signedIn(let session, _) = result { return session }
        return nil
    }

    @Test func anInvitationWorksOnce() throws {
        try withStore { store, _ in
            let token = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            #expect(try store.invitation(token)?.email == "admin@lincoln.example")
            _ = try store.acceptInvitation(token, password: password, confirmation: password)
            #expect(try store.invitation(token) == nil)
            #expect(throws: AccountStore.unusableInvitation) {
                try store.acceptInvitation(token, password: "another long password", confirmation: "another long password")
            }
            #expect(session(try store.signIn(email: "admin@lincoln.example", password: password, address: "192.0.2.1")) != nil)
        }
    }

    @Test func anInvitationExpiresAfterItsLifetime() throws {
        try withStore { store, clock in
            let token = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            clock.advance(AccountRules.invitationLifetime - 1)
            #expect(try store.invitation(token) != nil)
            clock.advance(1)
            #expect(try store.invitation(token) == nil)
            #expect(throws: AccountStore.unusableInvitation) { try store.acceptInvitation(token, password: password, confirmation: password) }
        }
    }

    @Test func aNewInvitationReplacesTheOldOneAndAForgottenPasswordWithIt() throws {
        try withStore { store, _ in
            let account = try invited(store)
            let first = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            let second = try store.invite(email: "ADMIN@lincoln.example", role: .district("lincoln"))
            #expect(try store.invitation(first) == nil)
            let signedIn = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            _ = try store.acceptInvitation(second, password: "a brand new password", confirmation: "a brand new password")
            #expect(try store.session(signedIn) == nil, "a new password ends the sessions of the old one")
            #expect(session(try store.signIn(email: account.email, password: "a brand new password", address: "192.0.2.1")) != nil)
        }
    }

    @Test func anInvitationForAnotherRoleOfTheSameAddressIsRefused() throws {
        try withStore { store, _ in
            _ = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            #expect(throws: AccountError.self) { try store.invite(email: "admin@lincoln.example", role: .district("adams")) }
            #expect(throws: AccountError.self) { try store.invite(email: "admin@lincoln.example", role: .staff) }
            #expect(throws: AccountError.self) { try store.invite(email: "not an address", role: .staff) }
        }
    }

    @Test func passwordsAreStoredAsBcryptHashesOnly() throws {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/accounts.db"
            let store = try AccountStore(path: path, bcryptCost: 4)
            let token = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            _ = try store.acceptInvitation(token, password: password, confirmation: password)
            let hash = try #require(try store.storedPasswordHash(email: "admin@lincoln.example"))
            #expect(hash.hasPrefix("$2b$04$") && hash.count == 60)
            #expect(!hash.contains(password))
            // Neither the password nor the invitation's secret is anywhere in the files.
            for file in [path, path + "-wal"] {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(!text.contains(password))
                #expect(!text.contains(token))
            }
        }
    }

    @Test func weakOrMismatchedPasswordsAreRefused() throws {
        try withStore { store, _ in
            let token = try store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
            #expect(throws: AccountError.self) { try store.acceptInvitation(token, password: "short", confirmation: "short") }
            #expect(throws: AccountError.self) { try store.acceptInvitation(token, password: password, confirmation: password + "!") }
            let tooLong = String(repeating: "é", count: 40)
            #expect(throws: AccountError.self) { try store.acceptInvitation(token, password: tooLong, confirmation: tooLong) }
            #expect(try store.invitation(token) != nil, "a refused password leaves the invitation usable")
        }
    }

    @Test func aSessionEndsWhenIdleAndAfterItsLifetime() throws {
        try withStore { store, clock in
            let account = try invited(store)
            let idle = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            clock.advance(AccountRules.sessionIdleLimit - 10)
            #expect(try store.session(idle) != nil)
            clock.advance(AccountRules.sessionIdleLimit - 10)
            #expect(try store.session(idle) != nil, "use keeps a session alive")
            clock.advance(AccountRules.sessionIdleLimit)
            #expect(try store.session(idle) == nil)

            let busy = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            for _ in 0..<20 {
                clock.advance(AccountRules.sessionLifetime / 20)
                _ = try store.session(busy)
            }
            #expect(try store.session(busy) == nil, "however busy, a session ends a lifetime after sign-in")
        }
    }

    @Test func signingOutEndsTheSessionAndEverywhereEndsThemAll() throws {
        try withStore { store, _ in
            let account = try invited(store)
            let a = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            let b = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.2")))
            #expect(a != b)
            try store.signOut(a)
            #expect(try store.session(a) == nil)
            #expect(try store.session(b) != nil)
            let c = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.3")))
            try store.signOutEverywhere(account: account.id)
            #expect(try store.session(b) == nil)
            #expect(try store.session(c) == nil)
        }
    }

    @Test func changingThePasswordNeedsTheCurrentOneAndEndsOtherSessions() throws {
        try withStore { store, _ in
            let account = try invited(store)
            let other = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            #expect(throws: AccountError.self) {
                try store.changePassword(account: account, current: "wrong password!", new: "a brand new password", confirmation: "a brand new password")
            }
            let fresh = try store.changePassword(account: account, current: password, new: "a brand new password", confirmation: "a brand new password")
            #expect(try store.session(other) == nil)
            #expect(try store.session(fresh)?.account.id == account.id)
            #expect(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")) == nil)
        }
    }

    @Test func eachSessionHasItsOwnFormTokenAndNoOtherIsAccepted() throws {
        try withStore { store, _ in
            let account = try invited(store)
            let a = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            let b = try #require(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")))
            let tokenA = try #require(try store.session(a)?.formToken)
            let tokenB = try #require(try store.session(b)?.formToken)
            #expect(tokenA != tokenB)
            #expect(Secret.matches(tokenA, tokenA))
            #expect(!Secret.matches(tokenB, tokenA))
            #expect(!Secret.matches(nil, tokenA))
            #expect(!Secret.matches("", tokenA))
            #expect(!Secret.matches(String(tokenA.dropLast()), tokenA))
            #expect(!Secret.matches("", ""), "an empty expected token (no cookie) accepts nothing")
        }
    }

    @Test func repeatedWrongPasswordsSlowTheAccountDown() throws {
        try withStore { store, clock in
            let account = try invited(store)
            for _ in 0..<3 {
                guard case .wrongCredentials = try store.signIn(email: account.email, password: "wrong password!", address: "192.0.2.1") else {
                    Issue.record("a wrong password must be refused as such"); return
                }
            }
            // The fourth try is refused before the password is even looked at, the right one too.
            guard case .refusedUntil(let until) = try store.signIn(email: account.email, password: password, address: "198.51.100.7") else {
                Issue.record("the account must be slowed down after three failures"); return
            }
            #expect(until == clock.now + 15)
            clock.advance(15)
            #expect(session(try store.signIn(email: account.email, password: password, address: "198.51.100.7")) != nil)
            let outcomes = try store.recentSignIns(account: account.id).map(\.outcome)
            #expect(outcomes == [.succeeded, .refused, .wrongPassword, .wrongPassword, .wrongPassword])
        }
    }

    /// Guesses sent at once must not all be checked before the first failure is counted: each
    /// attempt counts as a failure from the moment it is allowed until its password proves right.
    @Test func guessesSentAtOnceAreSlowedDownLikeGuessesInTurn() throws {
        try withTemporaryDirectory { dir throws in
            // A slow hash, as in service: every guess is still being checked when the last is let in.
            let store = try AccountStore(path: dir + "/accounts.db", bcryptCost: 10, now: { 1_800_000_000 })
            let account = try invited(store)
            let checked = Mutex(0)
            let start = DispatchSemaphore(value: 0)
            let finished = DispatchGroup()
            let guesses = 12
            for index in 0..<guesses {
                finished.enter()
                Thread {
                    start.wait()
                    if case .wrongCredentials? = try? store.signIn(email: account.email, password: "guess number \(index)",
                                                                   address: "192.0.2.1") {
                        checked.withLock { $0 += 1 }
                    }
                    finished.leave()
                }.start()
            }
            for _ in 0..<guesses { start.signal() }
            finished.wait()
            #expect(checked.withLock { $0 } == SignInThrottle().freeAccountFailures)
        }
    }

    /// Refused attempts cost the sender nothing: they must not cost the store's disk a row each.
    @Test func aFloodOfRefusedSignInsKeepsARowPerAccountNotPerRequest() throws {
        try withStore { store, _ in
            let account = try invited(store)
            for _ in 0..<3 { _ = try store.signIn(email: account.email, password: "wrong password!", address: "192.0.2.1") }
            for index in 0..<100 { _ = try store.signIn(email: account.email, password: password, address: "198.51.100.\(index)") }
            #expect(try store.recentSignIns(account: account.id, limit: 1000).map(\.outcome)
                    == [.refused, .wrongPassword, .wrongPassword, .wrongPassword])
            for index in 0..<SignInThrottle().addressFailureLimit {
                _ = try store.signIn(email: "nobody\(index)@example.org", password: "guess guess guess", address: "203.0.113.9")
            }
            for index in 0..<100 {
                _ = try store.signIn(email: "someone\(index)@example.org", password: "guess guess guess", address: "203.0.113.9")
                _ = try store.signIn(email: String(repeating: "x", count: 60_000), password: "guess guess guess", address: "192.0.2.\(index)")
            }
            #expect(try store.signInRecordCount() == 4 + SignInThrottle().addressFailureLimit)
        }
    }

    @Test func anAddressThatFailsTooOftenIsRefusedWhateverAccountItTries() throws {
        try withStore { store, clock in
            let account = try invited(store)
            for index in 0..<SignInThrottle().addressFailureLimit {
                _ = try store.signIn(email: "nobody\(index)@example.org", password: "guess guess guess", address: "203.0.113.9")
            }
            guard case .refusedUntil = try store.signIn(email: account.email, password: password, address: "203.0.113.9") else {
                Issue.record("the address must be refused"); return
            }
            #expect(session(try store.signIn(email: account.email, password: password, address: "192.0.2.1")) != nil,
                    "another address is not held up")
            clock.advance(SignInThrottle().window)
            #expect(session(try store.signIn(email: account.email, password: password, address: "203.0.113.9")) != nil)
        }
    }
}

@Suite struct SignInThrottleTests {
    let throttle = SignInThrottle()

    @Test func waitsDoubleFromTheThirdFailureAndStopAtTheWindow() {
        let now: Int64 = 10_000
        #expect(throttle.verdict(accountFailures: [now - 3, now - 2], addressFailures: [], now: now) == .allowed)
        #expect(throttle.verdict(accountFailures: [now - 3, now - 2, now - 1], addressFailures: [], now: now) == .refusedUntil(now - 1 + 15))
        #expect(throttle.verdict(accountFailures: [now - 4, now - 3, now - 2, now - 1], addressFailures: [], now: now) == .refusedUntil(now - 1 + 30))
        let many = (1...12).map { now - Int64($0) }
        #expect(throttle.verdict(accountFailures: many, addressFailures: [], now: now) == .refusedUntil(now - 1 + throttle.window))
    }

    @Test func failuresOlderThanTheWindowAreForgotten() {
        let now: Int64 = 10_000
        let old = [now - throttle.window - 3, now - throttle.window - 2, now - throttle.window - 1]
        #expect(throttle.verdict(accountFailures: old, addressFailures: old, now: now) == .allowed)
    }
}

@Suite struct FormFieldsTests {
    @Test func decodesPlusAndPercentEncoding() {
        let fields = FormGuard.fields("email=a%2Bb%40example.org&password=two+words%26more&csrf=&empty")
        #expect(fields == ["email": "a+b@example.org", "password": "two words&more", "csrf": "", "empty": ""])
    }
}
