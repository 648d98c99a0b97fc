import Ingest

/// How the pipeline decides and acts, read from the daemon's configuration.
public struct PipelineSettings: Sendable {
    /// Seconds an epoch must be quiet (no change, no open writer) before it seals.
    public var settleSeconds: Int64 = 300
    /// Per-district settle periods (`settle_seconds.<district>` in the configuration).
    public var settleSecondsByDistrict: [String: Int64] = [:]
    /// An epoch that cannot seal for this long (an interrupted file, a temporary name) is stalled.
    public var stallSeconds: Int64 = 6 * 3600
    /// How long a set whose own manifest names files that have not arrived waits for them.
    public var manifestWaitSeconds: Int64 = 2 * 3600
    /// Names of marker files that seal an epoch once closed cleanly.
    public var markers: Set<String> = FileRole.defaultMarkers
    /// A marker seals only once it is the epoch's latest file and nothing changed for this
    /// long: a client's next request after a close (the next file, a SETSTAT of times) comes
    /// within milliseconds, and must not find the epoch sealed under it.
    public var markerQuietMilliseconds: Int64 = 500
    /// Operators' profiles (`*.json`); the built-in ones apply where none replaces them.
    public var profilesDirectory = "/etc/epochfs/profiles"
    /// Receives each staff event as JSON on its standard input (optional).
    public var notifyCommand: [String]?
    /// Threads processing sealed epochs: districts take turns on them, and one district has
    /// at most one epoch being processed, so this many districts are served at once.
    public var processingThreads = 2
    /// Validation of one epoch stops at this limit and the epoch is published as failed
    /// (`processing.timeout`). A real roster never comes near it: `bench/validation-bench.sh`
    /// validated 1.98 GB of OneRoster (11.2 million rows) in 13.6–16.4 s on one core, 150 MB/s
    /// (docs/performance.md), so 30 minutes is about a hundred times what a 2 GB set takes; it
    /// is there so that one district's set cannot hold a processing thread for hours.
    public var validationTimeoutSeconds: Double = 1800
    /// How strictly sets are validated where their profile does not say (`strictness`:
    /// `strict`, `standard` or `lenient`; docs/profiles.md, "Tolerance").
    public var strictness: Strictness = .standard

    public init() {}

    public func settle(for district: String) -> Int64 {
        settleSecondsByDistrict[district] ?? settleSeconds
    }
}
