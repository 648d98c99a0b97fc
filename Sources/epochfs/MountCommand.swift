import ArgumentParser
import EpochFS
import EpochPipeline
import EpochStore
import Foundation
import FuseBridge
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount the store; returns once the mount is live (or stays in front with --foreground).")

    @Argument(help: "An existing empty directory, root-owned and not below a world-writable one (sshd requires it).")
    var mountpoint: String
    @OptionGroup var store: StoreOptions
    @Flag(help: "Stay in the foreground (for systemd); logs go to stderr.")
    var foreground = false
    @Option(help: "Group (name or gid) whose members may list and read every district's tree (default: the configuration's staff_group, else root).")
    var staffGroup: String?
    @Option(help: "Seconds the kernel may cache names and attributes.")
    var cacheTimeout: Double = 3600
    @Option(help: "Worker threads serving requests (1: single-threaded loop).")
    var threads: Int = 8
    @Option(help: "Seconds an epoch must be quiet before it seals (default: the configuration's settle_seconds, else 300).")
    var settleSeconds: Int64?
    @Option(help: "Seconds an epoch may be blocked (an interrupted file, a temporary name) before it is stalled and staff are told (default: the configuration's stall_seconds, else 21600).")
    var stallSeconds: Int64?
    @Option(help: "Directory of the operator's integration profiles (default: the configuration's profiles_directory, else /etc/epochfs/profiles).")
    var profilesDirectory: String?
    @Option(help: "Program that receives staff events as JSON on stdin (default: the configuration's notify_command).")
    var notifyCommand: String?
    @Option(help: "Threads processing sealed epochs, one district each at a time (default: the configuration's processing_threads, else 2).")
    var processingThreads: Int?
    @Option(help: "Seconds validation of one epoch may take before it stops and the epoch is published as failed (default: the configuration's validation_timeout_seconds, else 1800).")
    var validationTimeoutSeconds: Double?
    @Option(help: "Write Prometheus metrics to this file every 15 s, for the node exporter's textfile collector (default: the configuration's metrics_file).")
    var metricsFile: String?
    @Option(help: "The largest file a district may have, e.g. 16G (default: the configuration's max_file_size, else 16G); EFBIG beyond.")
    var maxFileSize: QuotaLimitArgument?
    @Option(help: "How deep below upload/ a district's directories may go (default: the configuration's max_depth, else 16).")
    var maxDepth: Int?
    @Option(help: "Files one district may hold open at once (default: the configuration's max_open_files, else 1024); EMFILE beyond.")
    var maxOpenFiles: Int?
    @Option(help: "What one district's published epochs may hold in upload-processed/, e.g. 256G (default: the configuration's max_processed_bytes, else 256G); an epoch beyond is held.")
    var maxProcessedBytes: QuotaLimitArgument?
    @Option(help: "The web console's unix user, which may send web requests on the control socket (default: the configuration's web_user, else epochfs-web; if there is no such user, only root may use the socket).")
    var webUser: String?
    @Flag(help: "Do not use FUSE passthrough even where the kernel offers it: reads go through the daemon and writes through the writeback cache (see docs/performance.md).")
    var noPassthrough = false
    @Flag(help: .hidden) var daemonChild = false

    func validate() throws {
        if let processingThreads, processingThreads < 1 {
            throw ValidationError("--processing-threads must be at least 1")
        }
        if let validationTimeoutSeconds, !(validationTimeoutSeconds > 0 && validationTimeoutSeconds.isFinite) {
            throw ValidationError("--validation-timeout-seconds must be a number of seconds above 0")
        }
    }

    func run() throws {
        try requireRoot("epochfs mount")
        let mountpoint = URL(fileURLWithPath: self.mountpoint).standardizedFileURL.path
        let store = self.store.resolved()
        try clearDeadMount(mountpoint)
        guard (try? FileManager.default.attributesOfItem(atPath: mountpoint)[.type] as? FileAttributeType) == .typeDirectory else {
            throw CommandError("mount point \(mountpoint) is not a directory: create it (mkdir -p \(mountpoint)) first")
        }
        if foreground {
            try serve(mountpoint: mountpoint, store: store)
        } else {
            try startDaemon(mountpoint: mountpoint, store: store)
        }
    }

    /// A crashed daemon leaves its mount behind ("Transport endpoint is not connected").
    private func clearDeadMount(_ mountpoint: String) throws {
        guard MountTable.epochfsMount(at: mountpoint) != nil else { return }
        // statfs always reaches the daemon (stat may be answered from the kernel's cache).
        if (try? Sys.filesystemStatus(mountpoint)) != nil {
            throw CommandError("\(mountpoint) is already mounted by a running epochfs: unmount it first (fusermount3 -u \(mountpoint))")
        }
        guard errno == ENOTCONN || errno == ECONNABORTED else { return }
        if umount2(mountpoint, Int32(MNT_DETACH)) != 0 {
            throw CommandError("\(mountpoint) holds a dead epochfs mount that cannot be cleared (\(String(cString: strerror(errno)))): run umount -l \(mountpoint)")
        }
    }

    /// Starts `epochfs mount --foreground` in the background and waits until its mount is live.
    private func startDaemon(mountpoint: String, store: String) throws {
        try Sys.mkdir(store, 0o711)
        let paths = StorePaths(root: store)
        let log = try Sys.open(paths.daemonLog, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { Sys.close(log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var arguments = ["mount", mountpoint, "--store", store, "--foreground", "--daemon-child",
                         "--cache-timeout", String(cacheTimeout), "--threads", String(threads)]
        if let staffGroup { arguments += ["--staff-group", staffGroup] }
        if let settleSeconds { arguments += ["--settle-seconds", String(settleSeconds)] }
        if let stallSeconds { arguments += ["--stall-seconds", String(stallSeconds)] }
        if let profilesDirectory { arguments += ["--profiles-directory", profilesDirectory] }
        if let notifyCommand { arguments += ["--notify-command", notifyCommand] }
        if let processingThreads { arguments += ["--processing-threads", String(processingThreads)] }
        if let validationTimeoutSeconds { arguments += ["--validation-timeout-seconds", String(validationTimeoutSeconds)] }
        if let metricsFile { arguments += ["--metrics-file", metricsFile] }
        if let maxFileSize { arguments += ["--max-file-size", String(maxFileSize.limit.value ?? .max)] }
        if let maxDepth { arguments += ["--max-depth", String(maxDepth)] }
        if let maxOpenFiles { arguments += ["--max-open-files", String(maxOpenFiles)] }
        if let maxProcessedBytes { arguments += ["--max-processed-bytes", String(maxProcessedBytes.limit.value ?? .max)] }
        if let webUser { arguments += ["--web-user", webUser] }
        if noPassthrough { arguments.append("--no-passthrough") }
        process.arguments = arguments
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(fileDescriptor: log, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: log, closeOnDealloc: false)
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if MountTable.epochfsMount(at: mountpoint) != nil {
                print("mounted \(mountpoint) (store \(store), daemon pid \(process.processIdentifier), log \(paths.daemonLog))")
                return
            }
            if !process.isRunning {
                let tail = (try? String(contentsOfFile: paths.daemonLog, encoding: .utf8))?
                    .split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
                throw CommandError("the epochfs daemon exited before mounting:\n\(tail)")
            }
            usleep(20_000)
        }
        throw CommandError("the mount did not appear within 60 s; see \(paths.daemonLog)")
    }

    /// Serves the mount in this process until SIGINT/SIGTERM or an external unmount.
    private func serve(mountpoint: String, store: String) throws {
        if daemonChild { _ = setsid() }
        // A command line that goes away mid-answer, or a notify command that exits without
        // reading its input, must cost a write error, not the daemon (and every district's mount).
        signal(SIGPIPE, SIG_IGN)
        let logger = makeLogger()
        let descriptors = raiseDescriptorLimit(logger)
        let paths = StorePaths(root: store)
        guard let lock = try DaemonLock(paths: paths) else {
            throw CommandError("another epochfs daemon is serving \(store): unmount it first, or use another --store")
        }
        let configuration = Configuration.load()
        let staffGID = try (staffGroup ?? configuration.staffGroup).map(groupID) ?? 0
        let keysGroup = keysGroupID()
        if keysGroup == nil {
            logger.warning("no group '\(configuration.keysGroup)': only root can read the districts' keys, so sshd's AuthorizedKeysCommand cannot (run mount-scripts/install.sh)")
        }
        var limits = configuration.limits
        if let maxFileSize { limits.maxFileSize = maxFileSize.limit.value ?? .max }
        if let maxDepth { limits.maxDepth = maxDepth }
        if let maxOpenFiles { limits.maxOpenFiles = maxOpenFiles }
        if let maxProcessedBytes { limits.maxProcessedBytes = maxProcessedBytes.limit.value ?? .max }
        guard limits.maxDepth >= 1, limits.maxOpenFiles >= 1, limits.maxFileSize >= 0 else {
            throw CommandError("max_depth and max_open_files must be at least 1 (an epoch is depth 1, and a file must open); max_file_size a size")
        }
        if let descriptors, descriptors < 4 * limits.maxOpenFiles {
            logger.warning("the daemon's descriptor limit leaves room for fewer than four districts at their max_open_files: raise LimitNOFILE or lower max_open_files",
                           metadata: ["limit": "\(descriptors)", "max_open_files": "\(limits.maxOpenFiles)"])
        }
        let fs = try FileSystem(storeRoot: store, staffGID: staffGID, keysGroup: keysGroup, limits: limits, logger: logger,
                                exclusiveDatabase: true)
        let session = try FuseSession(fs: fs, mountpoint: mountpoint, cacheTimeout: cacheTimeout,
                                      threads: threads, passthrough: !noPassthrough, logger: logger)
        let administration = Administration(fs)
        let webUserName = webUser ?? configuration.webUser
        let web = ControlAccess.WebUser(named: webUserName)
        if web == nil {
            logger.info("no user '\(webUserName)': only root may use the control socket (mount-scripts/install.sh creates the web console's user)")
        }
        let control = try ControlServer(path: paths.controlSocket, administration: administration,
                                        access: ControlAccess(webUser: web), logger: logger)
        try control.start()
        let syncer = BlobSyncer(administration: administration, metricsFile: metricsFile ?? configuration.metricsFile)
        syncer.start()
        var settings = configuration.pipeline
        if let settleSeconds { settings.settleSeconds = settleSeconds }
        if let stallSeconds { settings.stallSeconds = stallSeconds }
        if let profilesDirectory { settings.profilesDirectory = profilesDirectory }
        if let notifyCommand { settings.notifyCommand = [notifyCommand] }
        if let processingThreads { settings.processingThreads = processingThreads }
        if let validationTimeoutSeconds { settings.validationTimeoutSeconds = validationTimeoutSeconds }
        let pipeline = try EpochPipeline(fs: fs, settings: settings, workRoot: store + "/work", logger: logger)
        pipeline.start()
        let pid = getpid()
        try session.start { kill(pid, SIGTERM) }
        logger.notice("mounted", metadata: ["mountpoint": "\(mountpoint)", "store": "\(store)", "staff_gid": "\(staffGID)"])
        ServiceNotification.send("READY=1\nMAINPID=\(pid)")

        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGHUP)
        var received: Int32 = 0
        repeat {
            sigwait(&signals, &received)
        } while received == SIGHUP  // reserved for reloading configuration
        logger.notice("unmounting", metadata: ["signal": "\(received)"])
        ServiceNotification.send("STOPPING=1")
        // Make everything durable before waiting for the request threads: chrooted sessions
        // may keep the detached mount alive, and a supervisor may then kill this process.
        control.stop()
        pipeline.stop()
        syncer.stop()
        try? fs.syncMetadata()
        session.stop()
        withExtendedLifetime(lock) {}
        logger.notice("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }
}

/// The daemon holds a descriptor per open file of every district: it runs with the hard
/// limit it is given, not the soft one (1,024 under systemd and most shells). Each district is
/// held to its own budget (`DistrictLimits.maxOpenFiles`) below that. Returns the limit the
/// daemon then runs with (nil if it cannot be read).
func raiseDescriptorLimit(_ logger: Logger) -> Int? {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
    let soft = limit.rlim_cur
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.warning("could not raise the descriptor limit", metadata: ["soft": "\(soft)", "hard": "\(limit.rlim_max)"])
            limit.rlim_cur = soft
        }
    }
    logger.notice("descriptor limit", metadata: ["limit": "\(limit.rlim_cur)", "was": "\(soft)"])
    return Int(clamping: limit.rlim_cur)
}
