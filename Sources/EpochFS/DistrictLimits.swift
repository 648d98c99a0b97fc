/// The bounds every district meets whatever its clients send, so that no district can grow
/// what the daemon holds, walks or hashes without limit. Each is a key of `epochfs.conf`;
/// `docs/architecture.md`, "Limits", lists them with every other limit a district meets.
/// The defaults are far above what a nightly roster (megabytes to a few gigabytes) needs.
public struct DistrictLimits: Sendable, Equatable {
    /// The largest a file may grow, by write or truncate (`max_file_size`): EFBIG beyond it.
    /// Without it a district could `ftruncate` a file to terabytes of holes, which its close
    /// would hash byte by byte and copy-on-write, the hand-off and recovery would write out.
    public var maxFileSize: Int64 = 16 << 30
    /// How deep below `upload/` a directory may be (`max_depth`; an epoch is depth 1):
    /// mkdir and rename past it are ENAMETOOLONG. The sealer walks an epoch's whole tree.
    public var maxDepth = 16
    /// How many files a district's own processes may hold open at once (`max_open_files`):
    /// EMFILE beyond, for that district alone. The daemon holds a descriptor per open file.
    public var maxOpenFiles = 1024
    /// What a district's published epochs in `upload-processed/` may hold, their files'
    /// logical sizes added up (`max_processed_bytes`). The quota bounds `upload/`, but an epoch
    /// leaves it when published, and a district cannot delete its results itself: without this
    /// bound one that sent set after set (failing ones, say) could fill the shared disk before
    /// retention prunes them. An epoch that would take its district past it is held, not
    /// processed; its uploads then count against the quota while it waits.
    public var maxProcessedBytes: Int64 = 256 << 30

    public init() {}
}
