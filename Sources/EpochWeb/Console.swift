import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore

/// What a request carries through the console's middleware: who is asking (the session its
/// cookie names, if any) and the form it posted (parsed once, by the guard that checks its token).
public struct ConsoleContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address; the proxy's `X-Forwarded-For` when the console trusts a proxy.
    public var address: String
    public var session: ActiveSession?
    /// The session cookie's secret, for signing out.
    var sessionSecret: String?
    /// The pre-session token of the sign-in and invitation forms (a double-submit cookie).
    var preSessionToken: String?
    var form: [String: String] = [:]

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        address = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// A request from `address` that no channel brought (the tests' requests).
    init(address: String, logger: Logger) {
        struct Source: RequestContextSource { let logger: Logger }
        coreContext = .init(source: Source(logger: logger))
        self.address = address
    }

    /// The token this request's forms must carry back.
    var formToken: String? { session?.formToken ?? preSessionToken }
}

/// How the console is served.
public struct ConsoleSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8480
    /// Marks cookies `Secure`: set when browsers reach the console over TLS (a proxy in front).
    public var secureCookies = false
    /// Takes the client's address from the last `X-Forwarded-For` entry of requests from
    /// loopback (the proxy in front), for the per-address sign-in limit.
    public var trustForwardedFor = false

    public init() {}
}

/// The district console: the router, its middleware and its pages. Holds no rule of its own:
/// accounts are `AccountStore`'s, and what districts own comes from the daemon.
public struct Console: Sendable {
    let store: AccountStore
    let settings: ConsoleSettings
    let library: MustacheLibrary

    /// The cookies' names. Over TLS they carry the `__Host-` prefix, which browsers take only
    /// from this host itself, `Secure`, for the whole path and without a domain: a sibling
    /// subdomain (same site to `SameSite`) cannot plant one, such as a form cookie of its
    /// choosing for a sign-in of its choosing.
    var sessionCookie: String { settings.secureCookies ? "__Host-epochfs_session" : "epochfs_session" }
    var formCookie: String { settings.secureCookies ? "__Host-epochfs_form" : "epochfs_form" }

    public init(store: AccountStore, settings: ConsoleSettings) throws {
        self.store = store
        self.settings = settings
        var library = MustacheLibrary()
        for (name, text) in Templates.all { try library.register(text, named: name) }
        self.library = library
    }

    /// The application, ready to `runService()`. `onListening` gets the address it bound.
    public func application(logger: Logger, onListening: @escaping @Sendable (String) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                let address = channel.localAddress
                await onListening("http://\(address?.ipAddress ?? settings.host):\(address?.port ?? settings.port)")
            },
            logger: logger)
    }

    func router() -> Router<ConsoleContext> {
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: ContentSecurityMiddleware(contentSecurityPolicy: [
            .defaultSrc(.none), .styleSrc(.self), .imgSrc(.self), .formAction(.self),
            .frameAncestors(.none), .baseURI(.none),
        ]))
        router.add(middleware: HeadersMiddleware())
        router.add(middleware: NotFoundPage(console: self))
        router.add(middleware: SessionMiddleware(console: self))
        router.add(middleware: FormGuard(console: self))

        router.get("/console.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: Templates.styleSheet)))
        }
        router.get("/") { _, context in try home(context) }
        router.get("/sign-in") { request, context in signInPage(request, context) }
        router.post("/sign-in") { _, context in try signIn(context) }
        router.post("/sign-out") { _, context in try signOut(context) }
        router.get("/invitation/:token") { _, context in try invitationPage(context) }
        router.post("/invitation/:token") { _, context in try acceptInvitation(context) }
        router.get("/account") { request, context in try accountPage(request, context) }
        router.post("/account/password") { request, context in try changePassword(request, context) }
        router.post("/account/time-zone") { request, context in try setTimeZone(request, context) }
        router.post("/account/sign-out-everywhere") { _, context in try signOutEverywhere(context) }
        return router
    }

    // MARK: Handlers

    func home(_ context: ConsoleContext) throws -> Response {
        guard let session = context.session else { return .redirect(to: "/sign-in", type: .found) }
        let heading = session.account.role.district.map { "District \($0)" } ?? "Staff"
        return page("home", HomeView(signedIn: SignedInView(session), heading: heading, email: session.account.email))
    }

    func signInPage(_ request: Request, _ context: ConsoleContext) -> Response {
        if context.session != nil { return .redirect(to: "/", type: .found) }
        let notice = request.uri.queryParameters["done"].flatMap { Notices.text[String($0)] }
        return page("sign-in", SignInView(formToken: context.formToken ?? "", email: "", notice: notice, problem: nil),
                    context: context)
    }

    func signIn(_ context: ConsoleContext) throws -> Response {
        let email = (context.form["email"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = context.form["password"] ?? ""
        let problem: String
        let status: HTTPResponse.Status
        switch try store.signIn(email: email, password: password, address: context.address) {
        case .signedIn(let secret, let account):
            context.logger.info("signed in", metadata: ["web.account": "\(account.email)", "web.address": "\(context.address)"])
            var response = Response.redirect(to: "/", type: .normal)
            response.setCookie(cookie(sessionCookie, secret))
            response.setCookie(expired(formCookie))
            return response
        case .wrongCredentials:
            context.logger.notice("sign-in failed", metadata: ["web.email": "\(email)", "web.address": "\(context.address)"])
            problem = "The e-mail address or the password is not right."
            status = .unauthorized
        case .refusedUntil(let until):
            let seconds = max(1, until - Int64(Date().timeIntervalSince1970))
            problem = "Too many failed sign-ins. Try again in \(seconds) seconds."
            status = .tooManyRequests
        }
        return page("sign-in", SignInView(formToken: context.formToken ?? "", email: email, notice: nil, problem: problem),
                    status: status, context: context)
    }

    func signOut(_ context: ConsoleContext) throws -> Response {
        if let secret = context.sessionSecret { try store.signOut(secret) }
        var response = Response.redirect(to: "/sign-in?done=signed-out", type: .normal)
        response.setCookie(expired(sessionCookie))
        return response
    }

    func invitationPage(_ context: ConsoleContext) throws -> Response {
        let token = context.parameters.get("token") ?? ""
        guard let account = try store.invitation(token) else {
            return page("message", MessageView.invitationUnusable(context.session), status: .gone)
        }
        return page("invitation", InvitationView(account: account, token: token, formToken: context.formToken ?? "", problem: nil),
                    context: context)
    }

    func acceptInvitation(_ context: ConsoleContext) throws -> Response {
        let token = context.parameters.get("token") ?? ""
        do {
            _ = try store.acceptInvitation(token, password: context.form["password"] ?? "",
                                           confirmation: context.form["confirmation"] ?? "")
        } catch let error as AccountError {
            guard let account = try store.invitation(token) else {
                return page("message", MessageView.invitationUnusable(nil), status: .gone)
            }
            return page("invitation", InvitationView(account: account, token: token, formToken: context.formToken ?? "",
                                                     problem: error.description), status: .badRequest, context: context)
        }
        // The invitation ended every session of the account, this browser's included.
        var response = Response.redirect(to: "/sign-in?done=password-set", type: .normal)
        response.setCookie(expired(sessionCookie))
        return response
    }

    func accountPage(_ request: Request, _ context: ConsoleContext, problem: String? = nil,
                     status: HTTPResponse.Status = .ok) throws -> Response {
        guard let session = context.session else { return .redirect(to: "/sign-in", type: .found) }
        let notice = request.uri.queryParameters["done"].flatMap { Notices.text[String($0)] }
        let signIns = try store.recentSignIns(account: session.account.id)
        return page("account", AccountView(session: session, signIns: signIns, notice: problem == nil ? notice : nil, problem: problem),
                    status: status)
    }

    func changePassword(_ request: Request, _ context: ConsoleContext) throws -> Response {
        guard let session = context.session else { return .redirect(to: "/sign-in", type: .found) }
        do {
            let secret = try store.changePassword(account: session.account, current: context.form["current"] ?? "",
                                                  new: context.form["password"] ?? "",
                                                  confirmation: context.form["confirmation"] ?? "")
            var response = Response.redirect(to: "/account?done=password-changed", type: .normal)
            response.setCookie(cookie(sessionCookie, secret))
            return response
        } catch let error as AccountError {
            return try accountPage(request, context, problem: error.description, status: .badRequest)
        }
    }

    func setTimeZone(_ request: Request, _ context: ConsoleContext) throws -> Response {
        guard let session = context.session else { return .redirect(to: "/sign-in", type: .found) }
        do {
            try store.setTimeZone(account: session.account.id, to: context.form["zone"] ?? "")
        } catch let error as AccountError {
            return try accountPage(request, context, problem: error.description, status: .badRequest)
        }
        return .redirect(to: "/account?done=time-zone", type: .normal)
    }

    func signOutEverywhere(_ context: ConsoleContext) throws -> Response {
        guard let session = context.session else { return .redirect(to: "/sign-in", type: .found) }
        try store.signOutEverywhere(account: session.account.id)
        var response = Response.redirect(to: "/sign-in?done=signed-out-everywhere", type: .normal)
        response.setCookie(expired(sessionCookie))
        return response
    }

    // MARK: Rendering and cookies

    /// A page; with `context`, also the pre-session form cookie when the browser has none yet.
    func page(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok, context: ConsoleContext? = nil) -> Response {
        let html = library.render(view, withTemplate: template) ?? ""
        var response = Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: html)))
        if let context, context.session == nil, let token = context.preSessionToken {
            response.setCookie(cookie(formCookie, token))
        }
        return response
    }

    func cookie(_ name: String, _ value: String) -> Cookie {
        Cookie(name: name, value: value, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .strict)
    }

    func expired(_ name: String) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: settings.secureCookies, httpOnly: true, sameSite: .strict)
    }
}

/// What a redirect's `?done=` says on the next page: fixed texts, so no link can put words there.
enum Notices {
    static let text = [
        "password-set": "Your password is set. Sign in with it.",
        "signed-out": "You have signed out.",
        "signed-out-everywhere": "Every session of your account has ended.",
        "password-changed": "Your password is changed; every other browser is signed out.",
        "time-zone": "Your time zone is saved.",
    ]
}

/// Headers every answer carries besides the content-security policy.
struct HeadersMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// A page for what does not exist (another district's, later, too: its existence is never
/// revealed), instead of an empty 404.
struct NotFoundPage: RouterMiddleware {
    let console: Console

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return console.page("message", MessageView.notFound(context.session), status: .notFound)
        }
    }
}

/// Finds the session the cookie names (an unknown or expired one is no session) and the
/// pre-session form token, making one when the browser has none.
struct SessionMiddleware: RouterMiddleware {
    let console: Console

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var context = context
        if console.settings.trustForwardedFor, context.address == "127.0.0.1" || context.address == "::1",
           let forwarded = request.headers[.init("X-Forwarded-For")!]?.split(separator: ",").last {
            context.address = forwarded.trimmingCharacters(in: .whitespaces)
        }
        if let secret = request.cookies[console.sessionCookie]?.value, !secret.isEmpty,
           let session = try console.store.session(secret) {
            context.session = session
            context.sessionSecret = secret
        } else {
            let brought = request.cookies[console.formCookie]?.value ?? ""
            context.preSessionToken = brought.count == 43 ? brought : Secret.make()
        }
        return try await next(request, context)
    }
}

/// Every POST carries the token of the page it came from: the session's, or before sign-in the
/// one in the form cookie. A POST without the right one changes nothing and gets a 403.
struct FormGuard: RouterMiddleware {
    let console: Console
    static let largestForm = 64 * 1024

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        guard request.method == .post else { return try await next(request, context) }
        var request = request
        var context = context
        let body = try await request.collectBody(upTo: Self.largestForm)
        context.form = Self.fields(String(buffer: body))
        let expected = context.session?.formToken
            ?? request.cookies[console.formCookie]?.value ?? ""
        guard Secret.matches(context.form["csrf"], expected) else {
            context.logger.notice("form refused: no valid CSRF token", metadata: ["web.path": "\(request.uri.path)", "web.address": "\(context.address)"])
            return console.page("message", MessageView.refused(context.session), status: .forbidden)
        }
        return try await next(request, context)
    }

    /// `application/x-www-form-urlencoded`: `+` is a space, the rest percent-encoded.
    static func fields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first else { continue }
            fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
