@testable import EpochWeb
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import TestSupport
import Testing

/// The console's router answering requests in memory: the middleware and handlers as they run
/// in service, without a socket.
private struct Browser {
    let responder: RouterResponder<ConsoleContext>
    let store: AccountStore
    var cookies: [String: String] = [:]
    /// The peer's address, and what a proxy in front would put in `X-Forwarded-For`.
    var address = "192.0.2.10"
    var forwardedFor: String?

    init(store: AccountStore, settings: ConsoleSettings = ConsoleSettings()) throws {
        self.store = store
        responder = try Console(store: store, settings: settings).router().buildResponder()
    }

    struct Answer {
        let status: HTTPResponse.Status
        let location: String?
        let body: String
    }

    /// Sends a request with the cookies kept so far, and keeps those the answer sets.
    mutating func send(_ method: HTTPRequest.Method, _ path: String, form: [String: String]? = nil) async throws -> Answer {
        var headers = HTTPFields()
        if !cookies.isEmpty {
            headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
        }
        if let forwardedFor { headers[HTTPField.Name("X-Forwarded-For")!] = forwardedFor }
        var body = ByteBuffer()
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            body = ByteBuffer(string: form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
                .joined(separator: "&"))
        }
        let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "127.0.0.1", path: path, headerFields: headers),
                              body: RequestBody(buffer: body))
        let response = try await responder.respond(to: request, context: ConsoleContext(address: address, logger: Logger(label: "test")))
        for field in response.headers[values: .setCookie] {
            guard let pair = field.split(separator: ";").first?.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false),
                  pair.count == 2 else { continue }
            if field.contains("Max-Age=0") { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = String(pair[1]) }
        }
        let collected = Collected()
        try await response.body.write(Collector(collected: collected))
        return Answer(status: response.status, location: response.headers[.location], body: String(buffer: collected.buffer))
    }

    /// The value of the page's `csrf` field.
    static func formToken(_ page: String) -> String? {
        guard let range = page.range(of: #"name="csrf" value=""#) else { return nil }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// What a response body wrote.
private final class Collected {
    var buffer = ByteBuffer()
}

private struct Collector: ResponseBodyWriter {
    let collected: Collected
    mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        collected.buffer.writeBuffer(&buffer)
    }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

@Suite struct ConsoleTests {
    private let password = "correct horse battery"

    private func withBrowser(settings: ConsoleSettings = ConsoleSettings(), _ body: (inout Browser) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("epochfs-console-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var browser = try Browser(store: try AccountStore(path: dir + "/accounts.db", bcryptCost: 4), settings: settings)
        let token = try browser.store.invite(email: "admin@lincoln.example", role: .district("lincoln"))
        _ = try browser.store.acceptInvitation(token, password: password, confirmation: password)
        try await body(&browser)
    }

    private func signIn(_ browser: inout Browser) async throws {
        let page = try await browser.send(.get, "/sign-in")
        let answer = try await browser.send(.post, "/sign-in", form: [
            "csrf": try #require(Browser.formToken(page.body)), "email": "admin@lincoln.example", "password": password,
        ])
        #expect(answer.status == .seeOther && answer.location == "/")
    }

    @Test func aPostWithoutThePagesTokenIsRefusedAndChangesNothing() async throws {
        try await withBrowser { browser in
            try await signIn(&browser)
            let session = try #require(browser.cookies["epochfs_session"])
            for form in [[:], ["csrf": ""], ["csrf": String(repeating: "0", count: 64)]] {
                let answer = try await browser.send(.post, "/account/sign-out-everywhere", form: form)
                #expect(answer.status == .forbidden)
                #expect(answer.body.contains("That form was refused"))
            }
            #expect(try browser.store.session(session) != nil)
            // The page's own token works.
            let account = try await browser.send(.get, "/account")
            let answer = try await browser.send(.post, "/account/sign-out-everywhere", form: ["csrf": try #require(Browser.formToken(account.body))])
            #expect(answer.status == .seeOther)
            #expect(try browser.store.session(session) == nil)
        }
    }

    @Test func signInWithoutTheFormCookiesTokenIsRefused() async throws {
        try await withBrowser { browser in
            let answer = try await browser.send(.post, "/sign-in", form: ["email": "admin@lincoln.example", "password": password])
            #expect(answer.status == .forbidden)
            #expect(browser.cookies["epochfs_session"] == nil)
        }
    }

    @Test func aSessionIdSetBeforeSignInIsNotTheOneAfter() async throws {
        try await withBrowser { browser in
            browser.cookies["epochfs_session"] = "chosen-by-an-attacker"
            try await signIn(&browser)
            #expect(browser.cookies["epochfs_session"] != "chosen-by-an-attacker")
            #expect(try browser.store.session("chosen-by-an-attacker") == nil)
        }
    }

    @Test func afterSignOutTheOldCookieOpensNothing() async throws {
        try await withBrowser { browser in
            try await signIn(&browser)
            let old = try #require(browser.cookies["epochfs_session"])
            let home = try await browser.send(.get, "/")
            #expect(home.body.contains("District lincoln"))
            let out = try await browser.send(.post, "/sign-out", form: ["csrf": try #require(Browser.formToken(home.body))])
            #expect(out.status == .seeOther && browser.cookies["epochfs_session"] == nil)
            browser.cookies["epochfs_session"] = old
            let again = try await browser.send(.get, "/account")
            #expect(again.status == .found && again.location == "/sign-in")
        }
    }

    @Test func behindAProxyTheClientsAddressIsTheLastForwardedOneAndOnlyThen() async throws {
        var trusting = ConsoleSettings()
        trusting.trustForwardedFor = true
        try await withBrowser(settings: trusting) { browser in
            browser.address = "127.0.0.1"
            browser.forwardedFor = "10.9.9.9, 198.51.100.23"
            try await signIn(&browser)
            #expect(try browser.store.recentSignIns(account: 1).first?.address == "198.51.100.23")
        }
        try await withBrowser { browser in
            browser.forwardedFor = "198.51.100.23"
            try await signIn(&browser)
            #expect(try browser.store.recentSignIns(account: 1).first?.address == "192.0.2.10")
        }
        try await withBrowser(settings: trusting) { browser in
            browser.forwardedFor = "198.51.100.23"
            try await signIn(&browser)
            #expect(try browser.store.recentSignIns(account: 1).first?.address == "192.0.2.10",
                    "only a proxy on loopback is believed")
        }
    }

    @Test func aTimeZoneThatIsNoneIsRefusedOnTheAccountPage() async throws {
        try await withBrowser { browser in
            try await signIn(&browser)
            let account = try await browser.send(.get, "/account")
            let answer = try await browser.send(.post, "/account/time-zone", form: [
                "csrf": try #require(Browser.formToken(account.body)), "zone": "Mars/Olympus_Mons",
            ])
            #expect(answer.status == .badRequest)
            #expect(answer.body.contains("is not a time zone") && answer.body.contains("Recent sign-ins"))
        }
    }

    @Test func overTLSTheCookiesAreTheHostsOwnAndOnePlantedBesideThemOpensNothing() async throws {
        var secure = ConsoleSettings()
        secure.secureCookies = true
        try await withBrowser(settings: secure) { browser in
            let page = try await browser.send(.get, "/sign-in")
            let token = try #require(Browser.formToken(page.body))
            // A sibling subdomain may set a cookie of the plain name, not one named __Host-.
            browser.cookies = ["epochfs_form": token]
            let planted = try await browser.send(.post, "/sign-in", form: [
                "csrf": token, "email": "admin@lincoln.example", "password": password,
            ])
            #expect(planted.status == .forbidden && browser.cookies["epochfs_session"] == nil
                    && browser.cookies["__Host-epochfs_session"] == nil)
            browser.cookies = [:]
            try await signIn(&browser)
            #expect(browser.cookies["__Host-epochfs_session"] != nil && browser.cookies["epochfs_session"] == nil)
            let headers = try await browser.responder.respond(
                to: Request(head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/sign-in"), body: RequestBody(buffer: ByteBuffer())),
                context: ConsoleContext(address: "192.0.2.10", logger: Logger(label: "test"))).headers
            let cookie = try #require(headers[.setCookie])
            #expect(cookie.hasPrefix("__Host-epochfs_form=") && cookie.contains("Secure") && cookie.contains("Path=/")
                    && !cookie.contains("Domain"))
        }
    }

    @Test func pagesCarryTheSecurityHeaders() async throws {
        try await withBrowser { browser in
            let headers = try await browser.responder.respond(
                to: Request(head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/sign-in"), body: RequestBody(buffer: ByteBuffer())),
                context: ConsoleContext(address: "192.0.2.10", logger: Logger(label: "test"))).headers
            #expect(headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(headers[.setCookie]?.contains("HttpOnly") == true)
            #expect(headers[.setCookie]?.contains("SameSite=Strict") == true)
            let missing = try await browser.send(.get, "/districts/adams")
            #expect(missing.status == .notFound && missing.body.contains("Not found"))
        }
    }
}
