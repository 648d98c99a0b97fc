import Foundation

/// What the templates read. Plain values: Mustache escapes them all.
struct SignedInView {
    let formToken: String
    init(_ session: ActiveSession) { formToken = session.formToken }
}

struct MessageView {
    let signedIn: SignedInView?
    let heading: String
    let paragraphs: [String]
    let linkTarget: String
    let linkText: String

    static func invitationUnusable(_ session: ActiveSession?) -> MessageView {
        MessageView(signedIn: session.map(SignedInView.init), heading: "This link no longer works",
                    paragraphs: ["An invitation link works once, for three days. Ask your operator for a new one."],
                    linkTarget: "/sign-in", linkText: "Sign in")
    }

    static func refused(_ session: ActiveSession?) -> MessageView {
        MessageView(signedIn: session.map(SignedInView.init), heading: "That form was refused",
                    paragraphs: ["It did not carry this page's security token: it may be from an old page or from another site. "
                                 + "Open the page again and send the form from there."],
                    linkTarget: "/", linkText: "Back to the console")
    }

    static func notFound(_ session: ActiveSession?) -> MessageView {
        MessageView(signedIn: session.map(SignedInView.init), heading: "Not found", paragraphs: ["There is no such page."],
                    linkTarget: "/", linkText: "Back to the console")
    }
}

struct SignInView {
    let formToken: String
    let email: String
    let notice: String?
    let problem: String?
}

struct InvitationView {
    let email: String
    let roleDescription: String
    let token: String
    let formToken: String
    let minimumLength = AccountRules.minimumPasswordLength
    let problem: String?

    init(account: Account, token: String, formToken: String, problem: String?) {
        email = account.email
        roleDescription = describe(account.role)
        self.token = token
        self.formToken = formToken
        self.problem = problem
    }
}

struct HomeView {
    let signedIn: SignedInView
    let heading: String
    let email: String
}

struct AccountView {
    struct SignIn {
        let utc: String
        let local: String
        let address: String
        let outcome: String
    }
    struct Zone {
        let name: String
        let selected: Bool
    }

    let signedIn: SignedInView
    let formToken: String
    let email: String
    let roleDescription: String
    let timeZone: String
    let signIns: [SignIn]
    let hasSignIns: Bool
    let zones: [Zone]
    let minimumLength = AccountRules.minimumPasswordLength
    let notice: String?
    let problem: String?

    init(session: ActiveSession, signIns records: [SignInRecord], notice: String?, problem: String?) {
        let account = session.account
        signedIn = SignedInView(session)
        formToken = session.formToken
        email = account.email
        roleDescription = describe(account.role)
        timeZone = account.timeZone
        let local = TimeZone(identifier: account.timeZone) ?? TimeZone(secondsFromGMT: 0)!
        signIns = records.map {
            SignIn(utc: formatTime($0.time, in: nil), local: formatTime($0.time, in: local), address: $0.address,
                   outcome: outcomeText($0.outcome))
        }
        hasSignIns = !records.isEmpty
        var names = TimeZone.knownTimeZoneIdentifiers.sorted()
        if !names.contains("UTC") { names.insert("UTC", at: 0) }
        zones = names.map { Zone(name: $0, selected: $0 == account.timeZone) }
        self.notice = notice
        self.problem = problem
    }
}

func describe(_ role: AccountRole) -> String {
    switch role {
    case .district(let name): "administrator of district \(name)"
    case .staff: "staff"
    }
}

func outcomeText(_ outcome: SignInRecord.Outcome) -> String {
    switch outcome {
    case .succeeded: "signed in"
    case .wrongPassword: "wrong password"
    case .refused: "refused: too many failures"
    }
}

/// `2026-12-08 01:02:03 UTC` (no zone), or in `zone` with its abbreviation (`2026-12-07 19:02:03 CST`).
func formatTime(_ seconds: Int64, in zone: TimeZone?) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = zone ?? TimeZone(secondsFromGMT: 0)
    // Foundation would call UTC "GMT": name it as the page's column does.
    formatter.dateFormat = zone == nil ? "yyyy-MM-dd HH:mm:ss 'UTC'" : "yyyy-MM-dd HH:mm:ss zzz"
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}
