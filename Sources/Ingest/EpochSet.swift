#if canImport(Glibc)
import Glibc
#endif

/// One file of an epoch, as processing reads it (the store gives the path of the blob).
public struct SetFile: Sendable, Equatable {
    /// Relative to the epoch directory, "/"-separated, e.g. `users.csv` or `sub/x.csv`.
    public var path: String
    /// Absolute path of the bytes to read (a blob file, read-only).
    public var location: String
    public var size: Int64

    public init(path: String, location: String, size: Int64) {
        self.path = path
        self.location = location
        self.size = size
    }

    /// The last component of `path`.
    var name: Substring {
        path.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(path)
    }
}

/// What a set of files is, as far as the profiles can tell.
public enum Recognition: Sendable {
    case recognised(Profile)
    /// A sentence for staff saying why no profile fits, naming the files (never their contents).
    case unrecognised(reason: String)
}

/// Tells which profile a set of files is, from file names and the manifest alone.
public enum Recogniser {
    /// Profiles with a manifest rule are tried first, in order, then those recognised by file
    /// names. A set that only a single `.zip` makes up is unrecognised: extract it with
    /// `ZipSet` and recognise the extracted files.
    public static func recognise(_ files: [SetFile], profiles: [Profile],
                                 markers: Set<String> = FileRole.defaultMarkers) -> Recognition {
        recognition(files, profiles: profiles, markers: markers).recognition
    }

    /// The recognition, with the manifest that decided it. Each manifest file is read once
    /// for all the profiles that read it alike (OneRoster 1.1 and 1.2 differ only in the
    /// values they want): the sealer does this at every look at an epoch being uploaded.
    static func recognition(_ files: [SetFile], profiles: [Profile],
                            markers: Set<String>) -> (recognition: Recognition, manifest: Manifest?) {
        let inventory = SetInventory(files, markers: markers)
        if ZipSet.holdsSet(files, markers: markers) != nil {
            return (.unrecognised(reason: "the set is one zip archive: extract it, then recognise its files"), nil)
        }
        var manifestFindings: [String] = []
        // By file and by what of the rule the reading depends on; nil: it cannot be read.
        var read: [[String]: Manifest?] = [:]
        for profile in profiles {
            guard let rule = profile.recognition.manifest,
                  let file = inventory.data.first(where: { names($0.name, rule.file, equalIn: profile) }) else { continue }
            let key = [file.path, rule.filePrefix] + rule.header
            let manifest = read[key] ?? (try? Manifest.read(file, rule: rule))
            read[key] = .some(manifest)
            guard let manifest else {
                manifestFindings.append("\(file.path) cannot be read")
                continue
            }
            if let oversized = manifest.oversized {
                manifestFindings.append("\(file.path) is not a manifest: \(oversized), where a manifest has a few dozen rows")
                continue
            }
            guard manifest.headerMatches else {
                manifestFindings.append("\(file.path) does not have the header \(rule.header.joined(separator: ","))")
                continue
            }
            let differing = rule.values.keys.sorted().filter { manifest.properties[$0] != rule.values[$0] }
            if differing.isEmpty { return (.recognised(profile), manifest) }
            // Property values of a manifest are settings, not student data: staff need to see them.
            let found = differing.map { "\($0) is \(manifest.properties[$0].map { "`\($0)`" } ?? "missing")" }
            manifestFindings.append("\(file.path): \(found.joined(separator: ", ")), not what \(profile.name) needs")
        }
        if !manifestFindings.isEmpty {
            return (.unrecognised(reason: "no profile accepts the manifest (" + unique(manifestFindings).joined(separator: "; ")
                                  + "): another version of the format?; files: " + list(inventory.data)), nil)
        }
        for profile in profiles {
            guard let fileNames = profile.recognition.fileNames else { continue }
            let excluded = (profile.recognition.withoutFiles ?? []).filter { name in
                inventory.data.contains { names($0.name, name, equalIn: profile) }
            }
            guard excluded.isEmpty else { continue }
            let matched = inventory.data.filter { file in fileNames.contains { names(file.name, $0, equalIn: profile) } }
            guard !matched.isEmpty else { continue }
            // Files that only a manifest profile knows (users.csv, orgs.csv) mean the set is that
            // format with its manifest missing, even if it also has a file this profile knows.
            let foreign = inventory.data.filter { file in
                !matched.contains(file) && profiles.contains { other in
                    other.recognition.manifest != nil && other.files.contains { names(file.name, $0.fileName, equalIn: other) }
                }
            }
            if foreign.isEmpty { return (.recognised(profile), nil) }
        }
        if let reason = missingManifest(inventory, profiles: profiles) {
            return (.unrecognised(reason: reason), nil)
        }
        let nameProfiles = profiles.filter { $0.recognition.fileNames != nil }
        let expected = nameProfiles.map { "\($0.name) (\(($0.recognition.fileNames ?? []).joined(separator: ", ")))" }
        return (.unrecognised(reason: "no manifest.csv and none of the file names of " + expected.joined(separator: " or ")
                              + "; files: " + list(inventory.data)), nil)
    }

    /// Files that the set's own manifest names (mode bulk/delta) but that are not among `files` yet:
    /// an epoch whose manifest lists missing files waits before sealing, unless its marker says the
    /// upload is done. Empty when no profile's manifest is present or nothing is missing.
    public static func awaitedFiles(_ files: [SetFile], profiles: [Profile],
                                    markers: Set<String> = FileRole.defaultMarkers) -> [String] {
        // The manifest recognition read, not read again.
        guard case (.recognised(let profile), let manifest?) = recognition(files, profiles: profiles, markers: markers),
              let rule = profile.recognition.manifest, manifest.oversized == nil else {
            return []
        }
        let inventory = SetInventory(files, markers: markers)
        var awaited: [String] = []
        for spec in profile.files {
            // An empty mode is absent; one that is not a mode cannot be used whether the file comes or not.
            guard let value = manifest.modes[spec.name], let mode = Manifest.reading(value, rule: rule).mode,
                  mode != Manifest.absent else { continue }
            if !inventory.data.contains(where: { names($0.name, spec.fileName, equalIn: profile) }) {
                awaited.append(spec.fileName)
            }
        }
        return awaited
    }

    /// Why a set that has files of manifest profiles, but none of their manifests, is left for
    /// staff: the profiles it is nearest (those that know the most of its files), and what their
    /// manifest must hold. nil when no manifest profile knows any of its files.
    private static func missingManifest(_ inventory: SetInventory, profiles: [Profile]) -> String? {
        let candidates = profiles.compactMap { profile -> (profile: Profile, rule: ManifestRule, known: [SetFile])? in
            guard let rule = profile.recognition.manifest else { return nil }
            let known = inventory.data.filter { file in profile.files.contains { names(file.name, $0.fileName, equalIn: profile) } }
            return known.isEmpty ? nil : (profile, rule, known)
        }
        guard let most = candidates.map(\.known.count).max() else { return nil }
        let nearest = candidates.filter { $0.known.count == most }
        // Profiles that differ only in the values of their manifest (OneRoster 1.1 and 1.2) are
        // described together: `oneroster.version 1.1 or 1.2`.
        var groups: [(rule: ManifestRule, values: [String: [String]], names: [String])] = []
        for (profile, rule, _) in nearest {
            if let index = groups.firstIndex(where: { $0.rule.file == rule.file && $0.rule.header == rule.header
                                                       && Set($0.values.keys) == Set(rule.values.keys) }) {
                for (property, value) in rule.values where !(groups[index].values[property] ?? []).contains(value) {
                    groups[index].values[property, default: []].append(value)
                }
                groups[index].names.append(profile.name)
            } else {
                groups.append((rule, rule.values.mapValues { [$0] }, [profile.name]))
            }
        }
        let needs = groups.map { group in
            let values = group.values.keys.sorted().map { "\($0) \(group.values[$0]!.joined(separator: " or "))" }
            return "a \(group.names.joined(separator: " or ")) set needs \(group.rule.file) with the header "
                + group.rule.header.joined(separator: ",") + (values.isEmpty ? "" : " and " + values.joined(separator: " and "))
        }
        let known = inventory.data.filter { file in nearest.contains { $0.known.contains(file) } }
        let others = inventory.data.filter { !known.contains($0) }
        let notes = unique(nearest.compactMap(\.rule.whenMissing))
        return "looks like \(nearest.map(\.profile.name).joined(separator: " or ")) (\(list(known)) "
            + (nearest.count == 1 ? "are its files" : "are their files")
            + ") but has no \(unique(nearest.map(\.rule.file)).joined(separator: " or ")); "
            + needs.joined(separator: "; or ")
            + (notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")")
            + (others.isEmpty ? "" : "; other files: " + list(others))
    }

    static func names(_ a: Substring, _ b: String, equalIn profile: Profile) -> Bool {
        profile.caseSensitiveNames ? a == b : a.lowercased() == b.lowercased()
    }

    private static func list(_ files: [SetFile]) -> String {
        files.isEmpty ? "none" : files.map(\.path).joined(separator: ", ")
    }

    private static func unique(_ texts: [String]) -> [String] {
        var seen = Set<String>()
        return texts.filter { seen.insert($0).inserted }
    }
}

/// The files of a set sorted by what their names make them: data at the top level, and the
/// rest, which is never read as data.
struct SetInventory {
    var data: [SetFile] = []
    var strays: [SetFile] = []
    var temporaries: [SetFile] = []
    /// Files in sub-folders: formats keep their files at the top level.
    var nested: [SetFile] = []

    /// `markers`: the marker names the store is configured with (`markers` in `epochfs.conf`).
    init(_ files: [SetFile], markers: Set<String> = FileRole.defaultMarkers) {
        for file in files {
            if file.path.contains("/") {
                nested.append(file)
                continue
            }
            switch FileRole.of(file.path, markers: markers) {
            case .data: data.append(file)
            case .stray: strays.append(file)
            // A marker seals the epoch; the log lists it apart, it is neither data nor a problem.
            case .marker: break
            case .temporary: temporaries.append(file)
            }
        }
    }
}

/// A manifest file read: its properties and the mode of each file it names.
struct Manifest {
    static let absent = "absent"

    /// How the value of a `file.<name>` row reads as a mode.
    enum ModeReading: Equatable {
        /// One of the rule's modes, as written.
        case exact(String)
        /// One of the rule's modes in another case or with spaces around it (`Bulk`, ` delta`):
        /// it can mean nothing else, so it is taken.
        case loose(String)
        /// No value (`file.scoreScales,`): exporters write it for a file they do not send, so it
        /// is taken as `absent`.
        case empty
        /// Not one of the rule's modes.
        case invalid

        /// The mode it is taken as; nil when it is not one.
        var mode: String? {
            switch self {
            case .exact(let mode), .loose(let mode): mode
            case .empty: Manifest.absent
            case .invalid: nil
            }
        }
    }

    static func reading(_ value: String, rule: ManifestRule) -> ModeReading {
        if rule.modes.contains(value) { return .exact(value) }
        var trimmed = Substring(value)
        while trimmed.first?.isWhitespace == true { trimmed.removeFirst() }
        while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
        if trimmed.isEmpty { return .empty }
        let matching = rule.modes.filter { $0.lowercased() == trimmed.lowercased() }
        return matching.count == 1 ? .loose(matching[0]) : .invalid
    }

    var headerMatches = false
    /// Property → value, the first row of each property.
    var properties: [String: String] = [:]
    /// Role → mode, from the rows whose property starts with the rule's `filePrefix`.
    var modes: [String: String] = [:]
    /// Line of each property's row, for problems.
    var lines: [String: Int] = [:]
    var rows = 0
    /// Problems found while reading (CSV problems, repeated properties).
    var problems = ProblemLog()
    /// Why the file is not a manifest: it is larger, or has more rows, than a manifest can
    /// (a fatal problem says so too). nil when it was read to its end.
    var oversized: String?

    /// A manifest is a few dozen short rows: a file larger than this, or of more rows, is not a
    /// manifest, and is not read on. The daemon reads the manifest of an epoch still being
    /// uploaded at every look at it, so what it reads must be small whatever the file is.
    static let maximumBytes = 1 << 20
    static let maximumRows = 10_000

    /// Thrown from the reading to stop it at the row past `maximumRows`.
    private struct TooManyRows: Error {
        let line: Int
    }

    static func read(_ file: SetFile, rule: ManifestRule) throws -> Manifest {
        let fd = open(file.location, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CSVReadError(file: file.path, errno: errno) }
        defer { close(fd) }
        var manifest = Manifest()
        var problems = ProblemLog()
        var first = true
        let reader = CSVReader(file: file.path, fd: fd, chunkSize: 64 << 10, maxRecordBytes: 1 << 20, maxBytes: maximumBytes)
        do {
            let read = try reader.read(problems: &problems) { record, problems in
                if first {
                    first = false
                    manifest.headerMatches = record.count == rule.header.count
                        && (0..<record.count).allSatisfy { record.string($0) == rule.header[$0] }
                    return
                }
                manifest.rows += 1
                if manifest.rows > maximumRows { throw TooManyRows(line: record.line) }
                guard record.count >= 2 else { return }
                let property = record.string(0)
                let value = record.string(1)
                if let earlier = manifest.lines[property] {
                    // Named by its line, not quoted: a file sent as the manifest by mistake holds rows.
                    problems.add(Problem(file: file.path, line: record.line, column: 1, code: "manifest.repeated-property", severity: .warning,
                                         message: "the property of line \(earlier) is given again: the first row counts"))
                    return
                }
                manifest.properties[property] = value
                manifest.lines[property] = record.line
                if property.hasPrefix(rule.filePrefix) {
                    manifest.modes[String(property.dropFirst(rule.filePrefix.count))] = value
                }
            }
            // The reader has reported it: it stopped one byte past the bound.
            if read > maximumBytes { manifest.oversized = "larger than \(maximumBytes >> 20) MiB" }
        } catch let stop as TooManyRows {
            problems.add(Problem(file: file.path, line: stop.line, column: 0, code: "manifest.too-many-rows", severity: .fatal,
                                 message: "more than \(maximumRows) rows, where a manifest has a few dozen: not read past this row"))
            manifest.oversized = "more than \(maximumRows) rows"
        }
        manifest.problems = problems
        return manifest
    }
}
