/// The names publishing gives: the files it inserts into an epoch, and where a received file
/// that has one of their names goes. The processor writes these names into processing.json
/// and SHA256SUMS before `FileSystem.publishEpoch` makes them true, so both ask this type.
public struct PublishedLayout: Sendable, Equatable {
    /// processing.json, for programs.
    public static let resultName = "processing.json"
    /// The `sha256sum -c` list of the received files.
    public static let checksumsName = "SHA256SUMS"

    /// The log a person reads; its name shows the outcome in a plain `ls`.
    public static func logName(outcome: String) -> String { "processing-\(outcome).log" }

    /// Every name publishing may insert, whatever the outcome (reprocessing removes these).
    public static let insertedNames: Set<String> = Set(["succeeded", "failed", "superseded"].map(logName) + [resultName, checksumsName])

    /// The names one publishing inserts.
    public static func inserted(outcome: String) -> [String] { [logName(outcome: outcome), resultName, checksumsName] }

    /// The names being inserted.
    public let inserting: Set<String>
    /// The names directly in the epoch directory before publishing.
    public let topLevel: Set<String>

    public init(inserting: some Sequence<String>, topLevel: Set<String>) {
        self.inserting = Set(inserting)
        self.topLevel = topLevel
    }

    /// The name a received file directly in the epoch has once published: its own, or, when
    /// publishing inserts a file of that name, `NAME.received` (`NAME.received.2`, … if that
    /// is taken too). The received bytes are kept, never overwritten.
    public func publishedName(of name: String) -> String {
        inserting.contains(name) ? Self.asideName(for: name, taken: topLevel) : name
    }

    /// The same for a path relative to the epoch (only the top level holds inserted files).
    public func publishedPath(_ path: String) -> String {
        path.contains("/") ? path : publishedName(of: path)
    }

    /// `NAME.received`, or `NAME.received.2`, … if that is taken too.
    public static func asideName(for name: String, taken: Set<String>) -> String {
        var aside = name + ".received"
        var n = 1
        while taken.contains(aside) {
            n += 1
            aside = "\(name).received.\(n)"
        }
        return aside
    }
}
