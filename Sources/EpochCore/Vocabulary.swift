// The words every layer speaks: inode numbers, times, zones. No I/O, no SQL, no FUSE.

/// An inode number: SQLite rowid, FUSE node id and `st_ino` at once. Never reused.
public struct InodeNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: Int64) { self.rawValue = UInt64(value) }

    /// The mount's root directory (FUSE_ROOT_ID).
    public static let root = InodeNumber(rawValue: 1)
    public var description: String { String(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Where in the tree an inode lives; it decides who may change it.
public enum Zone: Int64, Sendable {
    /// `/`, the list of districts.
    case root = 0
    /// `/<district>/`, the sshd chroot.
    case districtRoot = 1
    /// `/<district>/upload/` itself.
    case upload = 2
    /// Anything below `upload/`: the district's own files.
    case uploadTree = 3
    /// `/<district>/upload-processed/` itself.
    case processed = 4
    /// Anything below `upload-processed/`.
    case processedTree = 5
}

/// Nanoseconds since the Unix epoch.
public typealias Nanoseconds = Int64

extension InodeNumber: Codable {
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(UInt64.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
