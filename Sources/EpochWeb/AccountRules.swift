import Crypto
import Foundation

/// Who an account is: an administrator of one district, or a member of staff (every district).
public enum AccountRole: Sendable, Equatable, CustomStringConvertible {
    case district(String)
    case staff

    public var district: String? {
        if case .district(let name) = self { return name }
        return nil
    }

    public var description: String {
        switch self {
        case .district(let name): "district \(name)"
        case .staff: "staff"
        }
    }
}

/// A refusal the person (or the operator) can act on: what is wrong, in their words.
public struct AccountError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The secrets the console hands out: invitation links and session cookies. Only their SHA-256
/// is stored, so a copy of the database lets nobody in.
public enum Secret {
    /// 32 random bytes, base64url without padding (43 characters, safe in a URL and a cookie).
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// What the database keeps of a secret.
    public static func digest(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The CSRF token of a session: derived from its cookie, so it needs no column and the
    /// database (which holds only the cookie's digest) cannot give it away.
    public static func formToken(forSession secret: String) -> String {
        digest("csrf:" + secret)
    }

    /// Compares in time that depends only on the lengths, not on where they first differ.
    public static func matches(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        let a = Array(given.utf8), b = Array(expected.utf8)
        guard a.count == b.count, !b.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// The console's rules about accounts: pure functions of what the store holds and the time.
public enum AccountRules {
    /// An invitation link works once, within three days of being made.
    public static let invitationLifetime: Int64 = 3 * 24 * 3600
    /// A session ends after 12 hours unused, and a week after sign-in whatever happens.
    public static let sessionIdleLimit: Int64 = 12 * 3600
    public static let sessionLifetime: Int64 = 7 * 24 * 3600
    public static let minimumPasswordLength = 12
    /// bcrypt reads no further than 72 bytes: a longer password would be silently cut.
    public static let maximumPasswordBytes = 72

    public static func invitationIsUsable(created: Int64, used: Int64?, now: Int64) -> Bool {
        used == nil && now >= created && now < created + invitationLifetime
    }

    public static func sessionExpiry(created: Int64, lastSeen: Int64) -> Int64 {
        min(created + sessionLifetime, lastSeen + sessionIdleLimit)
    }

    /// Why a new password is refused, or nil when it is acceptable.
    public static func passwordProblem(_ password: String, confirmation: String) -> String? {
        if password != confirmation { return "The two passwords differ." }
        if password.count < minimumPasswordLength {
            return "A password needs at least \(minimumPasswordLength) characters."
        }
        if password.utf8.count > maximumPasswordBytes {
            return "A password may have at most \(maximumPasswordBytes) bytes (bcrypt reads no further)."
        }
        return nil
    }

    public static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" }), email.count <= 254 else {
            return "'\(email)' is not an e-mail address"
        }
        return nil
    }
}

/// Whether a sign-in may be tried now, from the recent failures for the same e-mail address and
/// from the same network address. Failures slow an account down (doubling waits from the third
/// on) and refuse an address that fails too often, whichever accounts it tries.
public struct SignInThrottle: Sendable, Equatable {
    /// Failures older than this are forgotten.
    public var window: Int64 = 15 * 60
    /// Failures for one account that cost nothing; each one after them doubles the wait.
    public var freeAccountFailures = 3
    public var firstWait: Int64 = 15
    /// Failures from one address within the window after which it is refused until they age out.
    public var addressFailureLimit = 20

    public init() {}

    public enum Verdict: Sendable, Equatable {
        case allowed
        /// Refused until this time (Unix seconds).
        case refusedUntil(Int64)
    }

    /// `accountFailures` and `addressFailures`: the times of failed sign-ins in the window.
    public func verdict(accountFailures: [Int64], addressFailures: [Int64], now: Int64) -> Verdict {
        var until: Int64 = 0
        let account = accountFailures.filter { $0 > now - window }
        if account.count >= freeAccountFailures, let last = account.max() {
            let doublings = min(account.count - freeAccountFailures, 16)
            until = last + min(firstWait << doublings, window)
        }
        let address = addressFailures.filter { $0 > now - window }.sorted()
        if address.count >= addressFailureLimit {
            // Until enough of them age out of the window to bring the count under the limit.
            until = max(until, address[address.count - addressFailureLimit] + window)
        }
        return until > now ? .refusedUntil(until) : .allowed
    }
}
