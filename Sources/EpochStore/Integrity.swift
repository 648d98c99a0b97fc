import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// One thing `epochfs fsck` found, with what it affects and whether it was repaired.
public struct IntegrityFinding: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Stable and machine-readable: `blob.corrupt`, `blob.missing`, `blob.size`, `blob.refs`,
    /// `blob.unlisted`, `blob.temporary`, `blob.dangling`, `staging.orphan`, `staging.missing`.
    public var code: String
    public var message: String
    /// The blob (hash) or staging file (inode number) concerned.
    public var subject: String
    /// The files it affects, as `/<district>/upload…/path` (at most 20 listed).
    public var affected: [String]
    /// `--repair` can fix it without guessing.
    public var repairable: Bool
    public var repaired = false

    public var description: String {
        var text = "\(code): \(subject): \(message)"
        if !affected.isEmpty { text += "; affects " + affected.joined(separator: ", ") }
        if repaired { text += " (repaired)" } else if !repairable { text += " (cannot be repaired: restore these files)" }
        return text
    }
}

/// The metadata side of an integrity check: what the database says should be on disk. Taken
/// in one go by whoever owns the database (the daemon while mounted), then checked against
/// the files without holding anything.
public struct IntegritySnapshot: Sendable, Codable {
    public struct Blob: Sendable, Codable {
        public var hash: String
        public var size: Int64
        public var refs: Int64
    }

    public var blobs: [Blob]
    /// Files naming each blob, counted from the inodes.
    public var references: [String: Int64]
    /// Blobs whose last reference went, waiting for the reclaim pass.
    public var doomed: [String]
    /// Inodes whose content is their staging file.
    public var staged: [UInt64]

    public init(_ metadata: MetadataStore) throws {
        let db = metadata.database
        var blobs: [Blob] = []
        try db.forEach("SELECT hash, size, refs FROM blobs") { blobs.append(Blob(hash: $0.text(0), size: $0.int(1), refs: $0.int(2))) }
        var references: [String: Int64] = [:]
        try db.forEach("SELECT blob, count(*) FROM inodes WHERE blob IS NOT NULL GROUP BY blob") { references[$0.text(0)] = $0.int(1) }
        self.blobs = blobs
        self.references = references
        self.doomed = try metadata.doomedBlobs()
        self.staged = try metadata.stagedInodes().map(\.ino.rawValue)
    }
}

/// Checks that every blob's bytes still hash to its name and that the metadata and the blob
/// store agree; repairs what can be repaired without guessing.
public struct IntegrityCheck {
    public let blobs: BlobStore

    public init(blobs: BlobStore) {
        self.blobs = blobs
    }

    /// Progress of the hashing: bytes done of the total.
    public typealias Progress = (_ done: Int64, _ total: Int64) -> Void

    /// Compares the snapshot with the files. `live`: the store is being served, so staging
    /// files come and go and are not checked. Affected paths are filled in by `describe`.
    public func check(_ snapshot: IntegritySnapshot, live: Bool, progress: Progress = { _, _ in }) throws -> [IntegrityFinding] {
        var findings: [IntegrityFinding] = []
        let doomed = Set(snapshot.doomed)
        let listed = Dictionary(snapshot.blobs.map { ($0.hash, $0) }, uniquingKeysWith: { a, _ in a })

        // The files in the blob store.
        var onDisk: [String: Int64] = [:]
        for shard in try Sys.listDirectory(blobs.blobsDirectory) {
            for name in try Sys.listDirectory(blobs.blobsDirectory + "/" + shard) {
                let path = blobs.blobsDirectory + "/" + shard + "/" + name
                guard let status = try Sys.status(path) else { continue }
                if name.hasSuffix(".new") {
                    findings.append(IntegrityFinding(code: "blob.temporary", message: "an unfinished write of a blob the daemon inserts",
                                                     subject: shard + "/" + name, affected: [], repairable: true))
                    continue
                }
                onDisk[name] = Int64(status.st_size)
            }
        }

        // Every listed blob: present, the right size, its bytes matching its name.
        let total = snapshot.blobs.reduce(Int64(0)) { $0 + $1.size }
        var done: Int64 = 0
        for blob in snapshot.blobs.sorted(by: { $0.hash < $1.hash }) {
            defer {
                done += blob.size
                progress(done, total)
            }
            guard let size = onDisk[blob.hash] else {
                findings.append(IntegrityFinding(code: "blob.missing", message: "the blob's file is gone", subject: blob.hash,
                                                 affected: [], repairable: false))
                continue
            }
            if !(try blobs.verify(blob.hash)) {
                findings.append(IntegrityFinding(code: "blob.corrupt", message: "the blob's bytes no longer hash to its name",
                                                 subject: blob.hash, affected: [], repairable: false))
                continue
            }
            if size != blob.size {
                findings.append(IntegrityFinding(code: "blob.size", message: "recorded as \(blob.size) bytes, the (intact) file has \(size)",
                                                 subject: blob.hash, affected: [], repairable: true))
            }
            let counted = snapshot.references[blob.hash] ?? 0
            if counted != blob.refs && !(counted == 0 && doomed.contains(blob.hash)) {
                findings.append(IntegrityFinding(code: "blob.refs", message: "reference count \(blob.refs), but \(counted) files name it",
                                                 subject: blob.hash, affected: [], repairable: true))
            }
        }
        // Files nothing lists (a crash between writing and committing, or a lost reclaim).
        for (hash, _) in onDisk where listed[hash] == nil && snapshot.references[hash] == nil && !doomed.contains(hash) {
            findings.append(IntegrityFinding(code: "blob.unlisted", message: "a blob file no metadata names", subject: hash,
                                             affected: [], repairable: true))
        }
        // Files naming a blob the table does not list.
        for (hash, _) in snapshot.references where listed[hash] == nil {
            let intact = try onDisk[hash] != nil && blobs.verify(hash)
            findings.append(IntegrityFinding(
                code: "blob.dangling",
                message: intact ? "files name a blob that is on disk and intact but not listed" : "files name a blob that does not exist",
                subject: hash, affected: [], repairable: intact))
        }
        if !live {
            let staged = Set(snapshot.staged.map(InodeNumber.init(rawValue:)))
            let files = Set(try blobs.stagingFiles())
            for ino in files.subtracting(staged) {
                findings.append(IntegrityFinding(code: "staging.orphan", message: "a staging file no file names", subject: "staging/\(ino)",
                                                 affected: [], repairable: true))
            }
            for ino in staged.subtracting(files) {
                findings.append(IntegrityFinding(code: "staging.missing", message: "an upload's staging file is gone",
                                                 subject: "staging/\(ino)", affected: [], repairable: false))
            }
        }
        return findings
    }

    /// Fills in the files each finding affects.
    public static func describe(_ findings: inout [IntegrityFinding], _ metadata: MetadataStore) throws {
        for index in findings.indices {
            let finding = findings[index]
            var inodes: [InodeRecord] = []
            if finding.code.hasPrefix("blob.") {
                inodes = try metadata.inodes(withBlob: finding.subject)
            } else if finding.code == "staging.missing", let ino = UInt64(finding.subject.dropFirst("staging/".count)) {
                inodes = try metadata.inode(InodeNumber(rawValue: ino)).map { [$0] } ?? []
            }
            findings[index].affected = try inodes.prefix(20).map { try metadata.path(of: $0) }
            if inodes.count > 20 { findings[index].affected.append("and \(inodes.count - 20) more") }
        }
    }

    /// Repairs what can be repaired without guessing (the store must not be served).
    public func repair(_ findings: inout [IntegrityFinding], _ metadata: MetadataStore) throws {
        let db = metadata.database
        for index in findings.indices where findings[index].repairable {
            let subject = findings[index].subject
            switch findings[index].code {
            case "blob.temporary":
                try Sys.unlink(blobs.blobsDirectory + "/" + subject)
            case "blob.unlisted":
                try blobs.removeBlob(subject)
            case "blob.size":
                let size = try Sys.status(blobs.blobPath(subject)).map { Int64($0.st_size) } ?? 0
                try db.run("UPDATE blobs SET size = ? WHERE hash = ?", .int(size), .text(subject))
            case "blob.refs":
                let counted = try db.first("SELECT count(*) FROM inodes WHERE blob = ?", .text(subject)) { $0.int(0) } ?? 0
                try db.transaction {
                    try db.run("UPDATE blobs SET refs = ? WHERE hash = ?", .int(counted), .text(subject))
                    if counted == 0 {
                        try db.run("DELETE FROM blobs WHERE hash = ?", .text(subject))
                        try db.run("INSERT OR IGNORE INTO doomed_blobs(hash) VALUES (?)", .text(subject))
                    }
                }
            case "blob.dangling":
                let counted = try db.first("SELECT count(*) FROM inodes WHERE blob = ?", .text(subject)) { $0.int(0) } ?? 0
                let size = try Sys.status(blobs.blobPath(subject)).map { Int64($0.st_size) } ?? 0
                try db.run("INSERT INTO blobs(hash, size, refs) VALUES (?, ?, ?)", .text(subject), .int(size), .int(counted))
            case "staging.orphan":
                if let ino = UInt64(subject.dropFirst("staging/".count)) { try blobs.removeStaging(InodeNumber(rawValue: ino)) }
            default:
                continue
            }
            findings[index].repaired = true
        }
    }
}

extension MetadataStore {
    /// `/<district>/…/name` of an inode, as the mount shows it (`(unlinked)` for a file whose
    /// name is gone).
    public func path(of record: InodeRecord) throws -> String {
        var names: [String] = []
        var current: InodeRecord? = record
        while let node = current, node.ino != .root {
            guard let parent = node.parent else { return "(unlinked) " + names.reversed().joined(separator: "/") }
            names.append(node.name)
            current = try inode(parent)
        }
        return "/" + names.reversed().joined(separator: "/")
    }
}
