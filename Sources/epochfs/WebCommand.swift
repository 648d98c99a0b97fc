import ArgumentParser
import EpochFS
import EpochStore
import EpochWeb
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct WebCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "The district console: serve it, invite people to it.",
        subcommands: [Serve.self, Invite.self])

    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the console (as the web user, never as root).",
            discussion: """
                Runs as the web user (web_user in the configuration, default epochfs-web), which alone \
                can open <store>/web/; refuses to run as root. Listens on loopback by default: put a \
                TLS proxy in front (docs/operations.md) and pass --secure-cookies.
                """)
        @Option(help: "Where to listen, HOST:PORT.") var listen = "127.0.0.1:8480"
        @Flag(help: "Mark cookies Secure: browsers reach the console over TLS (through a proxy).") var secureCookies = false
        @Flag(help: "Take the client's address from X-Forwarded-For on requests from loopback (a proxy in front).")
        var trustForwardedFor = false
        @OptionGroup var store: StoreOptions

        func run() throws {
            guard geteuid() != 0 else {
                throw CommandError("web serve never runs as root: run it as \(Configuration.load().webUser) "
                                   + "(systemctl start epochfs-web, or runuser -u \(Configuration.load().webUser) -- epochfs web serve)")
            }
            var settings = ConsoleSettings()
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
                throw CommandError("--listen takes HOST:PORT, e.g. 127.0.0.1:8480 (not '\(listen)')")
            }
            settings.host = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            settings.port = port
            settings.secureCookies = secureCookies
            settings.trustForwardedFor = trustForwardedFor
            let paths = WebPaths(store: store.resolved())
            guard access(paths.directory, R_OK | W_OK | X_OK) == 0 else {
                throw CommandError("cannot open \(paths.directory) (\(String(cString: strerror(errno)))): it must be the web user's "
                                   + "(mount-scripts/install.sh makes it, and so does epochfs web invite)")
            }
            let console = try Console(store: AccountStore(path: paths.accounts), settings: settings)
            let logger = makeLogger("epochfs-web")
            // main.swift blocked the shutdown signals for the mount's sigwait; the server's own
            // signal handling needs them, in the threads it is about to start.
            var signals = sigset_t()
            sigemptyset(&signals)
            for signal in [SIGINT, SIGTERM] { sigaddset(&signals, signal) }
            pthread_sigmask(SIG_UNBLOCK, &signals, nil)
            try runBlocking {
                try await console.application(logger: logger) { address in
                    print("epochfs web: listening on \(address)")
                    fflush(nil)
                }.runService()
            }
        }
    }

    struct Invite: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invite someone to the console; prints a one-time link as the last line.",
            discussion: """
                epochfs web invite DISTRICT EMAIL, or epochfs web invite --staff EMAIL. The link sets the \
                account's password; it works once, for three days. Inviting an existing account again is \
                how a forgotten password is replaced. Run as root (it then works as the web user) or as \
                the web user.
                """)
        @Flag(help: "Invite a member of staff instead of a district's administrator.") var staff = false
        @Argument(help: "DISTRICT EMAIL, or EMAIL with --staff.") var arguments: [String]
        @Option(help: "The console's address as people reach it (default: web_url in the configuration, or http://127.0.0.1:8480).")
        var baseURL: String?
        @OptionGroup var store: StoreOptions

        func validate() throws {
            guard arguments.count == (staff ? 1 : 2) else {
                throw ValidationError(staff ? "--staff takes one EMAIL" : "give DISTRICT EMAIL (or --staff EMAIL)")
            }
        }

        func run() throws {
            let configuration = Configuration.load()
            let store = self.store.resolved()
            let role: AccountRole = staff ? .staff : .district(arguments[0])
            let email = arguments[arguments.count - 1]
            if let problem = AccountRules.emailProblem(email) { throw CommandError(problem) }
            if case .district(let name) = role { try requireDistrict(name, store: store) }
            let paths = WebPaths(store: store)
            if geteuid() == 0 {
                try UnixAccounts.prepareWebDirectory(paths.directory, for: configuration.webUser)
                // Everything the database makes (its WAL and shared-memory files too) must be the
                // web user's: it opens the database as that user, not as root.
                try UnixAccounts.becomeUser(configuration.webUser)
            }
            let accounts = try AccountStore(path: paths.accounts)
            let token: String
            do {
                token = try accounts.invite(email: email, role: role)
            } catch let error as AccountError {
                throw CommandError(error.description)
            }
            var base = baseURL ?? configuration.webURL
            while base.hasSuffix("/") { base.removeLast() }
            print("Invitation for \(email) (\(role)); it works once, until \(formatUTC(Int64(Date().timeIntervalSince1970) + AccountRules.invitationLifetime)):")
            print("\(base)/invitation/\(token)")
        }

        /// Districts are the daemon's (or the store's): an invitation names one that exists.
        private func requireDistrict(_ name: String, store: String) throws {
            guard FileManager.default.fileExists(atPath: StorePaths(root: store).metadata) else {
                throw CommandError("no store at \(store): mount one first (epochfs mount) or pass --store")
            }
            let response = try perform(.listDistricts, store: store, logger: makeLogger())
            guard response.ok, let districts = response.districts else { throw CommandError(response.message) }
            guard districts.contains(where: { $0.district.name == name }) else {
                throw CommandError("no district '\(name)': add it first (epochfs district add \(name)) or invite --staff")
            }
        }
    }
}

private func formatUTC(_ seconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// Runs async work from a synchronous command, waiting for it to finish.
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let outcome = OutcomeBox()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { outcome.set(error) }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}

private final class OutcomeBox: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    func set(_ error: any Error) { stored.withLock { $0 = error } }
    var error: (any Error)? { stored.withLock { $0 } }
}
