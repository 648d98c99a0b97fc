#if canImport(Glibc)
import Glibc
#endif
import EpochStore

/// Where the filesystem and the pipeline read the time. In service it is the system's clock;
/// a test gives one it moves itself, so that rules of minutes and hours (settling, stalling,
/// waiting for a manifest's files) are tested in milliseconds, without sleeping.
/// (Not `Clock`: the standard library has a protocol of that name.)
public struct WallClock: Sendable {
    /// Nanoseconds since the Unix epoch.
    public var now: @Sendable () -> Nanoseconds

    public init(now: @escaping @Sendable () -> Nanoseconds) {
        self.now = now
    }

    /// CLOCK_REALTIME.
    public static let system = WallClock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
