import ArgumentParser
import EpochFS
import EpochPipeline
import EpochStore
import Foundation
import Ingest
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct EpochFSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epochfs",
        abstract: "A filesystem for districts' SFTP drop boxes: one mount serves every district's tree.",
        subcommands: [MountCommand.self, DistrictCommand.self, KeysCommand.self, EpochsCommand.self, ProfilesCommand.self, StatsCommand.self,
                      FsckCommand.self, GCCommand.self, BackupCommand.self,
                      AuthorizedKeysCommand.self, HostKeyCommand.self, WebCommand.self])
}

/// Where the store lives: `--store`, then `EPOCHFS_STORE`, then the configuration file, then
/// `/var/lib/epochfs`.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $EPOCHFS_STORE, the configuration file, or /var/lib/epochfs).")
    var store: String?

    func resolved() -> String {
        let configured = store
            ?? ProcessInfo.processInfo.environment["EPOCHFS_STORE"]
            ?? Configuration.load().store
            ?? "/var/lib/epochfs"
        return URL(fileURLWithPath: configured).standardizedFileURL.path
    }
}

/// `/etc/epochfs/epochfs.conf` (or `$EPOCHFS_CONFIG`): `key = value` lines, `#` comments.
struct Configuration {
    var store: String?
    var staffGroup: String?
    /// The group of sshd's `AuthorizedKeysCommandUser`: it may read the districts' keys.
    var keysGroup = "epochfs-keys"
    /// The unix user the web console runs as: it alone may open the console's accounts, and it
    /// may send web requests on the control socket.
    var webUser = "epochfs-web"
    /// The console's address as people reach it, for invitation links.
    var webURL = "http://127.0.0.1:8480"
    /// The group sshd's `Match Group` block chroots; `district add --create-user` puts users in it.
    var districtsGroup = "epochfs-districts"
    /// How the epoch pipeline seals and processes (settle_seconds, settle_seconds.<district>,
    /// stall_seconds, manifest_wait_seconds, markers, profiles_directory, notify_command,
    /// processing_threads, validation_timeout_seconds).
    var pipeline = PipelineSettings()
    /// Where the daemon writes its Prometheus metrics (none by default).
    var metricsFile: String?
    /// What each district may grow to (max_file_size, max_depth, max_open_files,
    /// max_processed_bytes).
    var limits = DistrictLimits()

    static var path: String {
        ProcessInfo.processInfo.environment["EPOCHFS_CONFIG"] ?? "/etc/epochfs/epochfs.conf"
    }

    static func load() -> Configuration {
        var configuration = Configuration()
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return configuration }
        for line in text.split(separator: "\n") {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = content.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "store": configuration.store = parts[1]
            case "staff_group": configuration.staffGroup = parts[1]
            case "keys_group": configuration.keysGroup = parts[1]
            case "web_user": configuration.webUser = parts[1]
            case "web_url": configuration.webURL = parts[1]
            case "districts_group": configuration.districtsGroup = parts[1]
            case "settle_seconds": configuration.pipeline.settleSeconds = Int64(parts[1]) ?? configuration.pipeline.settleSeconds
            case "stall_seconds": configuration.pipeline.stallSeconds = Int64(parts[1]) ?? configuration.pipeline.stallSeconds
            case "manifest_wait_seconds":
                configuration.pipeline.manifestWaitSeconds = Int64(parts[1]) ?? configuration.pipeline.manifestWaitSeconds
            case "markers":
                configuration.pipeline.markers = Set(parts[1].split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init))
            case "profiles_directory": configuration.pipeline.profilesDirectory = parts[1]
            case "metrics_file": configuration.metricsFile = parts[1]
            case "max_file_size":
                if let size = QuotaLimitArgument(argument: parts[1]) { configuration.limits.maxFileSize = size.limit.value ?? .max }
            case "max_depth": configuration.limits.maxDepth = Int(parts[1]) ?? configuration.limits.maxDepth
            case "max_open_files": configuration.limits.maxOpenFiles = Int(parts[1]) ?? configuration.limits.maxOpenFiles
            case "max_processed_bytes":
                if let size = QuotaLimitArgument(argument: parts[1]) { configuration.limits.maxProcessedBytes = size.limit.value ?? .max }
            case "strictness":
                if let strictness = Strictness(rawValue: parts[1]) { configuration.pipeline.strictness = strictness }
            case "notify_command":
                configuration.pipeline.notifyCommand = parts[1].split(separator: " ").map(String.init)
            case "processing_threads":
                if let threads = Int(parts[1]), threads >= 1 { configuration.pipeline.processingThreads = threads }
            case "validation_timeout_seconds":
                if let seconds = Double(parts[1]), seconds > 0, seconds.isFinite {
                    configuration.pipeline.validationTimeoutSeconds = seconds
                }
            case let key where key.hasPrefix("settle_seconds."):
                if let seconds = Int64(parts[1]) {
                    configuration.pipeline.settleSecondsByDistrict[String(key.dropFirst("settle_seconds.".count))] = seconds
                }
            default: continue
            }
        }
        return configuration
    }
}

/// An error for the operator: what is wrong and what to do. Printed without a stack of causes.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func makeLogger(_ label: String = "epochfs") -> Logger {
    LoggingSystem.bootstrap { PrintableLogHandler(label: $0) }
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["EPOCHFS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

func requireRoot(_ what: String) throws {
    guard geteuid() == 0 else { throw CommandError("\(what) must run as root (it mounts filesystems and owns the store)") }
}

func blockShutdownSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
    pthread_sigmask(SIG_BLOCK, &set, nil)
}

/// Resolves a group name or numeric gid.
/// The key group's id, or nil while it does not exist (then only root reads the keys).
func keysGroupID() -> gid_t? {
    getgrnam(Configuration.load().keysGroup)?.pointee.gr_gid
}

func groupID(_ group: String) throws -> gid_t {
    if let gid = gid_t(group) { return gid }
    guard let entry = getgrnam(group) else {
        throw CommandError("no group '\(group)': create it (groupadd \(group)) or pass a numeric gid")
    }
    return entry.pointee.gr_gid
}
