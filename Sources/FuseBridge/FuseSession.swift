import CFuse
import EpochCore
import EpochFS
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A mount failure, phrased for the operator.
public struct MountError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Owns one libfuse session: mounts it, runs its loop on a thread of its own, tells the
/// kernel about changes the daemon makes, and unmounts.
public final class FuseSession: KernelNotifier, @unchecked Sendable {
    // @unchecked: `session` is written once in init and read-only afterwards; libfuse's
    // notify functions are safe to call from any thread.
    private let session: OpaquePointer
    private let adapter: FuseAdapter
    public let mountpoint: String
    private let logger: Logger
    private var thread: pthread_t?
    private let threads: Int

    public init(fs: FileSystem, mountpoint: String, cacheTimeout: Double = 3600, threads: Int = 8,
                passthrough: Bool = true, logger: Logger) throws {
        self.adapter = FuseAdapter(fs: fs, logger: logger, cacheTimeout: cacheTimeout, passthrough: passthrough)
        self.mountpoint = mountpoint
        self.logger = logger
        self.threads = threads
        let options = "allow_other,default_permissions,fsname=epochfs,subtype=epochfs"
        var ops = FuseAdapter.operations()
        var cArgs = ["epochfs", "-o", options].map { (argument: String) -> UnsafeMutablePointer<CChar>? in strdup(argument) }
        defer { cArgs.forEach { free($0) } }
        let userdata = Unmanaged.passUnretained(adapter).toOpaque()
        let created = cArgs.withUnsafeMutableBufferPointer { argv in
            cfuse_session_new(Int32(argv.count), argv.baseAddress, &ops, userdata)
        }
        guard let created else {
            throw MountError("libfuse could not create a session (is the fuse3 package installed and /dev/fuse present?)")
        }
        guard fuse_session_mount(created, mountpoint) == 0 else {
            fuse_session_destroy(created)
            throw MountError("cannot mount on \(mountpoint): it must be an existing, empty directory and this must run as root")
        }
        self.session = created
        adapter.deviceFD.store(fuse_session_fd(created), ordering: .relaxed)
        fs.notifier = self
        Self.tuneBackingDevice(mountpoint: mountpoint, logger: logger)
    }

    deinit {
        fuse_session_destroy(session)
    }

    /// Starts serving requests on a new thread; `onExit` runs there when the loop ends
    /// (after an unmount, from here or from `fusermount3 -u`).
    public func start(onExit: @escaping @Sendable () -> Void) throws {
        final class Context: @unchecked Sendable {
            let session: OpaquePointer
            let threads: Int
            let onExit: @Sendable () -> Void
            init(_ session: OpaquePointer, _ threads: Int, _ onExit: @escaping @Sendable () -> Void) {
                self.session = session
                self.threads = threads
                self.onExit = onExit
            }
        }
        let context = Unmanaged.passRetained(Context(session, threads, onExit)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            _ = context.threads > 1
                ? cfuse_session_loop_mt(context.session, UInt32(context.threads), 0)
                : fuse_session_loop(context.session)
            context.onExit()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            throw MountError("cannot start the request thread: \(String(cString: strerror(rc)))")
        }
        thread = tid
    }

    /// Detaches the mount (the loop then ends) and waits for the loop thread.
    public func stop() {
        if umount2(mountpoint, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            logger.warning("unmount failed", metadata: ["mountpoint": "\(mountpoint)", "errno": "\(errno)"])
        }
        fuse_session_exit(session)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        fuse_session_unmount(session)
    }

    public func invalidateEntry(parent: InodeNumber, name: String) {
        let rc = fuse_lowlevel_notify_inval_entry(session, fuse_ino_t(parent.rawValue), name, name.utf8.count)
        if rc != 0 && rc != -ENOENT { logger.debug("inval_entry failed", metadata: ["errno": "\(-rc)"]) }
    }

    public func invalidateInode(_ ino: InodeNumber) {
        let rc = fuse_lowlevel_notify_inval_inode(session, fuse_ino_t(ino.rawValue), 0, 0)
        if rc != 0 && rc != -ENOENT { logger.debug("inval_inode failed", metadata: ["errno": "\(-rc)"]) }
    }

    /// A FUSE mount starts with a tight dirty-page limit and small readahead; lift them.
    static func tuneBackingDevice(mountpoint: String, logger: Logger) {
        guard let device = MountTable.device(of: mountpoint) else { return }
        let bdi = "/sys/class/bdi/\(device)"
        for (file, value) in [("max_ratio", "40"), ("strict_limit", "0"), ("read_ahead_kb", "1024")] {
            let path = "\(bdi)/\(file)"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                try value.write(toFile: path, atomically: false, encoding: .ascii)
            } catch {
                logger.debug("could not tune the mount's backing device", metadata: ["path": "\(path)"])
            }
        }
    }
}

/// Reads `/proc/self/mountinfo`.
public enum MountTable {
    public struct Entry: Sendable {
        public var device: String
        public var mountpoint: String
        public var fsType: String
    }

    public static func entries() -> [Entry] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 7, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { return nil }
            return Entry(device: String(fields[2]), mountpoint: unescape(String(fields[4])), fsType: String(fields[dash + 1]))
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ field: String) -> String {
        field.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
            .replacingOccurrences(of: "\\012", with: "\n").replacingOccurrences(of: "\\134", with: "\\")
    }

    public static func device(of mountpoint: String) -> String? {
        entries().last { $0.mountpoint == mountpoint }?.device
    }

    public static func epochfsMount(at mountpoint: String) -> Entry? {
        entries().last { $0.mountpoint == mountpoint && $0.fsType == "fuse.epochfs" }
    }
}
