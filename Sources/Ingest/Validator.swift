#if canImport(Glibc)
import Glibc
#endif

/// What validation found in one file of a set.
public struct FileReport: Sendable, Codable, Equatable {
    public var path: String
    public var size: Int64
    /// The profile's file name it matched, e.g. `users`; nil for a file that is not used.
    public var role: String?
    /// `bulk`, `delta` or `absent` as the OneRoster manifest gives it; nil otherwise.
    public var mode: String?
    /// Data rows (the header excluded); accepted + rejected == rows.
    public var rows: Int
    public var accepted: Int
    public var rejected: Int
    /// Accepted rows with at least one warning.
    public var warned: Int

    public init(path: String, size: Int64, role: String? = nil, mode: String? = nil, rows: Int = 0, accepted: Int = 0,
                rejected: Int = 0, warned: Int = 0) {
        self.path = path
        self.size = size
        self.role = role
        self.mode = mode
        self.rows = rows
        self.accepted = accepted
        self.rejected = rejected
        self.warned = warned
    }
}

/// What validation found in a set.
public struct ValidationReport: Sendable {
    public var profile: String
    public var problems: ProblemLog
    /// Every file given, in the order given.
    public var files: [FileReport]
    /// Any file in delta mode (OneRoster); Clever sets are bulk.
    public var isDelta: Bool
    /// Any fatal problem: the set must not be handed off.
    public var fatal: Bool
    /// Validation ran past its time limit and stopped (a fatal `processing.timeout` says where):
    /// the counts and problems are of what was read before.
    public var timedOut = false
    /// Role → mode, as the manifest gives them (empty without one, or without file rows).
    public var modes: [String: String] = [:]

    public init(profile: String, problems: ProblemLog, files: [FileReport], isDelta: Bool) {
        self.profile = profile
        self.problems = problems
        self.files = files
        self.isDelta = isDelta
        self.fatal = problems.fatals > 0
    }

    /// Adds problems found outside validation (extracting a zip, a mass drop) and updates `fatal`.
    public mutating func add(_ more: [Problem]) {
        for problem in more { problems.add(problem) }
        fatal = problems.fatals > 0
    }
}

/// Checks a recognised set against its profile, streaming each file once.
public enum Validator {
    /// Reads each used file once, in an order where a referenced file comes before the files
    /// that reference it, so references are looked up in the id sets already built; memory
    /// holds those id sets and no more. Throws only when a file cannot be opened or read.
    ///
    /// With a `timeLimit`, validation that is still running when it passes stops where it is
    /// (the clock is read before each file and every `ValidationRun.deadlineStride` records)
    /// and reports a fatal `processing.timeout` there: it runs in the daemon, so a set that
    /// takes too long must end by itself.
    ///
    /// `strictness` is the store's (`epochfs.conf`); a profile's own takes precedence. A
    /// two-digit year is read in the hundred years that end `twoDigitYearsAhead` years after
    /// the current one (in 2026: 1937–2036).
    public static func validate(_ files: [SetFile], profile: Profile, timeLimit: Duration? = nil,
                                strictness: Strictness = .standard,
                                markers: Set<String> = FileRole.defaultMarkers) throws -> ValidationReport {
        var run = ValidationRun(profile: profile, files: files,
                                deadline: timeLimit.map { .init(instant: .now + $0, limit: $0) },
                                tolerance: profile.tolerance(storeStrictness: strictness),
                                lastTwoDigitYear: currentYear() + twoDigitYearsAhead, markers: markers)
        try run.perform()
        var report = ValidationReport(profile: profile.name, problems: run.log, files: run.reports,
                                      isDelta: run.modes.values.contains("delta"))
        report.timedOut = run.timedOut
        report.modes = run.modes
        return report
    }

    /// How far past the current year a two-digit year may reach: far enough for the end of a
    /// school year or a term planned ahead, near enough for the birth year of the oldest staff.
    public static let twoDigitYearsAhead = 10

    private static func currentYear() -> Int {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        return Int(parts.tm_year) + 1900
    }

    /// Mass-drop check against the row counts (by role) of the district's previous processed epoch of the same profile.
    /// A file is compared when it was read in full (present, not delta, not fatal) and its previous count
    /// is at least the rule's `minimumPreviousRows`; accepted rows are compared.
    public static func massDrops(_ report: ValidationReport, previousRows: [String: Int], profile: Profile) -> [Problem] {
        var problems: [Problem] = []
        for rule in profile.massDrop {
            guard let previous = previousRows[rule.file], previous >= rule.minimumPreviousRows, previous > 0,
                  let file = report.files.first(where: { $0.role == rule.file }), file.mode != "delta", file.mode != Manifest.absent
            else { continue }
            if Double(file.accepted) < rule.minimumRatio * Double(previous) {
                let percent = Int((rule.minimumRatio * 100).rounded())
                problems.append(Problem(file: file.path, line: 0, column: 0, code: "set.mass-drop", severity: .warning,
                                        message: "\(file.accepted) rows accepted where the previous epoch had \(previous): below \(percent)%, "
                                            + "so the set is held for review"))
            }
        }
        return problems
    }
}

/// One validation of a set: the problems, the reports and the id sets, built file by file.
struct ValidationRun {
    let profile: Profile
    let files: [SetFile]
    let deadline: Deadline?
    /// What is done with each deviation from the format.
    let tolerance: Tolerance
    /// The last year a two-digit year can mean.
    let lastTwoDigitYear: Int
    /// The marker names the store is configured with: they seal an epoch, and are not data.
    let markers: Set<String>
    /// Set when the deadline passed and validation stopped.
    var timedOut = false
    var log = ProblemLog()
    var reports: [FileReport]
    /// Role → mode, from the manifest (empty without one).
    var modes: [String: String] = [:]
    /// Role → index into `files` of the file used for it.
    var used: [String: Int] = [:]
    /// Id sets, one per keyed role, indexed like `profile.files`.
    var keys: [KeySet]
    /// Roles whose file has been read and whose id set can be trusted for lookups.
    var complete: Set<String> = []
    /// Roles whose file had a fatal problem: references into it are not checked.
    var failed: Set<String> = []
    /// References that could not be resolved when read (to a later row of the same file, or to
    /// a file read later in a cycle), by target role.
    var pending: [String: [PendingReference]] = [:]
    /// The lines of each file rejected when a reference was resolved after it: a row can wait
    /// for two files, and is rejected once.
    private var lateRejected: [Int: Set<Int>] = [:]

    /// When validation must stop, and the limit it came from (for the message).
    struct Deadline {
        var instant: ContinuousClock.Instant
        var limit: Duration

        /// Throws `Passed` once the deadline has passed.
        func check(file: String, line: Int) throws(Passed) {
            if ContinuousClock.now >= instant { throw Passed(file: file, line: line) }
        }

        struct Passed: Error {
            var file: String
            var line: Int
        }
    }

    /// Records read between two looks at the clock: a look costs tens of nanoseconds, a
    /// record about a microsecond, and even records of the 16 MiB the reader allows are read
    /// in well under a second each, far below any useful limit.
    static let deadlineStride = 64

    init(profile: Profile, files: [SetFile], deadline: Deadline?, tolerance: Tolerance, lastTwoDigitYear: Int,
         markers: Set<String>) {
        self.profile = profile
        self.files = files
        self.deadline = deadline
        self.tolerance = tolerance
        self.lastTwoDigitYear = lastTwoDigitYear
        self.markers = markers
        reports = files.map { FileReport(path: $0.path, size: $0.size) }
        keys = Array(repeating: KeySet(), count: profile.files.count)
    }

    mutating func perform() throws {
        let inventory = SetInventory(files, markers: markers)
        reportIgnored(inventory)
        let manifest = try readManifest(inventory)
        assignRoles(inventory, manifest: manifest)
        do {
            for role in readingOrder() {
                try check(role: role)
            }
        } catch let passed as Deadline.Passed {
            timedOut = true
            let seconds = deadline.map { Double($0.limit.components.seconds) + Double($0.limit.components.attoseconds) / 1e18 } ?? 0
            let limit = seconds == seconds.rounded() ? String(Int64(seconds)) : String(seconds)
            log.add(Problem(file: passed.file, line: passed.line, column: 0, code: "processing.timeout", severity: .fatal,
                            message: "checking the set took longer than the time limit of \(limit) s and stopped here: "
                                + "this line and what follows were not checked, so the set cannot be used "
                                + "(the counts are of the rows before). If it happens again, contact support: the set "
                                + "may be far larger than usual."))
        }
    }

    // MARK: The set

    private mutating func reportIgnored(_ inventory: SetInventory) {
        for file in inventory.strays {
            log.add(Problem(file: file.path, line: 0, column: 0, code: "file.stray", severity: .warning,
                            message: "operating-system or editor litter, not data: ignored"))
        }
        for file in inventory.temporaries {
            log.add(Problem(file: file.path, line: 0, column: 0, code: "file.temporary", severity: .warning,
                            message: "a temporary upload name (an unfinished transfer?): ignored"))
        }
        var folders = Set<Substring>()
        for file in inventory.nested {
            let folder = file.path.split(separator: "/").first ?? ""
            guard folders.insert(folder).inserted else { continue }
            log.add(Problem(file: String(folder) + "/", line: 0, column: 0, code: "file.nested", severity: .warning,
                            message: "a folder inside the set: files of a set are at its top level, so the folder is not used"))
        }
    }

    /// Reads the manifest the profile needs, reporting what is wrong with it; nil without a manifest rule.
    private mutating func readManifest(_ inventory: SetInventory) throws -> Manifest? {
        guard let rule = profile.recognition.manifest else { return nil }
        guard let file = inventory.data.first(where: { Recogniser.names($0.name, rule.file, equalIn: profile) }) else {
            log.add(Problem(file: rule.file, line: 0, column: 0, code: "manifest.missing", severity: .fatal,
                            message: "the profile \(profile.name) needs \(rule.file), and the set has none"))
            return nil
        }
        let manifest = try Manifest.read(file, rule: rule)
        if let index = files.firstIndex(of: file) { reports[index].rows = manifest.rows }
        for problem in manifest.problems.problems { log.add(problem) }
        // Its problems say why; the rows read are not a manifest's.
        guard manifest.oversized == nil else { return nil }
        guard manifest.headerMatches else {
            log.add(Problem(file: file.path, line: 1, column: 0, code: "manifest.header", severity: .fatal,
                            message: "the header must be exactly \(rule.header.joined(separator: ","))"))
            return nil
        }
        for (property, value) in rule.values.sorted(by: { $0.key < $1.key }) where manifest.properties[property] != value {
            log.add(Problem(file: file.path, line: manifest.lines[property] ?? 0, column: 2, code: "manifest.version", severity: .fatal,
                            message: "\(property) must be \(value) for the profile \(profile.name)"))
        }
        for (role, mode) in manifest.modes.sorted(by: { $0.key < $1.key }) {
            let line = manifest.lines[rule.filePrefix + role] ?? 0
            guard profile.file(named: role) != nil else {
                log.add(Problem(file: file.path, line: line, column: 1, code: "manifest.unknown-file", severity: .warning,
                                message: "names a file `\(role)` that the profile \(profile.name) does not know: ignored"))
                continue
            }
            switch Manifest.reading(mode, rule: rule) {
            case .exact(let exact):
                modes[role] = exact
            case .loose(let taken):
                log.add(Problem(file: file.path, line: line, column: 2, code: "manifest.mode-spelling", severity: .warning,
                                message: "the mode of `\(role)` is written `\(mode)`: read as \(taken)"))
                modes[role] = taken
            case .empty:
                log.add(Problem(file: file.path, line: line, column: 2, code: "manifest.empty-mode", severity: .warning,
                                message: "`\(rule.filePrefix)\(role)` has no value: read as \(Manifest.absent) (the file is not part of the set)"))
                modes[role] = Manifest.absent
            case .invalid:
                log.add(Problem(file: file.path, line: line, column: 2, code: "manifest.invalid-mode", severity: .fatal,
                                message: "the mode of `\(role)` must be one of \(rule.modes.joined(separator: ", "))"))
            }
        }
        return manifest
    }

    /// Decides which file is used for which role, and reports the files that are not used.
    private mutating func assignRoles(_ inventory: SetInventory, manifest: Manifest?) {
        let manifestFile = profile.recognition.manifest?.file
        for file in inventory.data {
            guard let index = files.firstIndex(of: file) else { continue }
            if let manifestFile, Recogniser.names(file.name, manifestFile, equalIn: profile) { continue }
            guard let spec = profile.files.first(where: { Recogniser.names(file.name, $0.fileName, equalIn: profile) }) else {
                let lookalike = profile.files.first { $0.fileName.lowercased() == file.name.lowercased() }
                let hint = lookalike.map { ": named like \($0.fileName) but in another case, which this profile does not accept" } ?? ""
                log.add(Problem(file: file.path, line: 0, column: 0, code: "file.unknown", severity: .warning,
                                message: "not a file of the profile \(profile.name)\(hint); ignored"))
                continue
            }
            if file.name != spec.fileName {
                log.add(Problem(file: file.path, line: 0, column: 0, code: "file.name-case", severity: .warning,
                                message: "named in another case than \(spec.fileName); accepted"))
            }
            if let other = used[spec.name] {
                log.add(Problem(file: file.path, line: 0, column: 0, code: "file.duplicate-role", severity: .fatal,
                                message: "a second file for \(spec.fileName) (the first is \(files[other].path)): which one to use is unclear"))
                continue
            }
            if manifest != nil {
                guard let mode = modes[spec.name] else {
                    log.add(Problem(file: file.path, line: 0, column: 0, code: "manifest.unlisted-file", severity: .warning,
                                    message: "the manifest does not give a mode for `\(spec.name)`: the file is not used"))
                    continue
                }
                reports[index].mode = mode
                if mode == Manifest.absent {
                    reports[index].role = spec.name
                    log.add(Problem(file: file.path, line: 0, column: 0, code: "manifest.absent-file-present", severity: .warning,
                                    message: "the manifest says `\(spec.name)` is absent: the file is not used"))
                    continue
                }
            }
            reports[index].role = spec.name
            used[spec.name] = index
        }
        // The uploader's marker may have sealed the set without them: a file the set needs
        // makes it unusable, any other is left out.
        for (role, mode) in modes.sorted(by: { $0.key < $1.key }) where mode != Manifest.absent && used[role] == nil {
            guard let spec = profile.file(named: role) else { continue }
            let said = "the manifest says `\(role)` is \(mode), and the set has no \(spec.fileName)"
            if spec.required {
                log.add(Problem(file: spec.fileName, line: 0, column: 0, code: "manifest.missing-file", severity: .fatal,
                                message: "\(said): the set cannot be used without it"))
            } else {
                log.add(Problem(file: spec.fileName, line: 0, column: 0, code: "manifest.missing-file", severity: .warning,
                                message: "\(said): the set is used without it"))
            }
        }
    }

    /// The used roles, each after the roles it references (cycles broken where they close).
    private func readingOrder() -> [String] {
        var order: [String] = []
        var visiting = Set<String>()
        func visit(_ role: String) {
            guard used[role] != nil, !order.contains(role), !visiting.contains(role), let spec = profile.file(named: role) else { return }
            visiting.insert(role)
            for column in spec.columns {
                if let target = column.references, target != role { visit(target) }
            }
            visiting.remove(role)
            order.append(role)
        }
        for spec in profile.files { visit(spec.name) }
        return order
    }

    /// Whether references to `role` can be checked: its file is in the set in full. A delta
    /// file holds changes only, and a file not in the set may be in an earlier epoch.
    func isCheckable(_ role: String) -> Bool {
        used[role] != nil && modes[role] != "delta"
    }

    // MARK: One file

    private mutating func check(role: String) throws {
        guard let index = used[role], let specIndex = profile.files.firstIndex(where: { $0.name == role }) else { return }
        let file = files[index]
        let deadline = self.deadline
        try deadline?.check(file: file.path, line: 0)
        let fd = open(file.location, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CSVReadError(file: file.path, errno: errno) }
        defer { close(fd) }
        let fatalsBefore = log.fatals
        var checker = FileChecker(run: self, specIndex: specIndex, fileIndex: index)
        // The id sets are moved out for the reading and back after it: mutated in place, never copied.
        var keys = self.keys
        self.keys = []
        var sinceLook = 0
        var stopped: Deadline.Passed?
        do {
            try CSVReader(file: file.path, fd: fd).read(problems: &log) { record, log in
                if let deadline {
                    sinceLook += 1
                    if sinceLook == Self.deadlineStride {
                        sinceLook = 0
                        try deadline.check(file: file.path, line: record.line)
                    }
                }
                checker.check(record, log: &log, keys: &keys)
            }
        } catch let passed as Deadline.Passed {
            stopped = passed
        }
        // A fatal before any record is the reader's: it said why it read nothing.
        if stopped == nil { checker.finish(log: &log, readerStopped: log.fatals > fatalsBefore) }
        reports[index].rows = checker.rows
        reports[index].accepted = checker.rows - checker.rejected
        reports[index].rejected = checker.rejected
        reports[index].warned = checker.warned
        if let stopped { throw stopped }
        for reference in checker.pending {
            pending[reference.target, default: []].append(reference)
        }
        self.keys = keys
        if log.fatals == fatalsBefore {
            complete.insert(role)
            resolvePending(target: role, specIndex: specIndex)
        } else {
            // The file cannot be used: references into it are not checked against half its ids.
            failed.insert(role)
            pending[role] = nil
        }
    }

    /// Reports the references to `target` that its now complete id set does not hold.
    private mutating func resolvePending(target: String, specIndex: Int) {
        guard let references = pending.removeValue(forKey: target) else { return }
        for reference in references {
            let found = reference.key.withUnsafeBufferPointer { keys[specIndex].contains($0) }
            if found { continue }
            let what = reference.inList ? "an element of column `\(reference.columnName)`" : "column `\(reference.columnName)`"
            log.add(Problem(file: files[reference.fileIndex].path, line: reference.line, column: reference.column, code: "ref.unresolved",
                            severity: .row, message: "\(what) names an id that \(target) does not have"))
            // The row was counted as accepted when read; it is rejected now, once.
            if !reference.rowRejected, lateRejected[reference.fileIndex, default: []].insert(reference.line).inserted {
                reports[reference.fileIndex].accepted -= 1
                reports[reference.fileIndex].rejected += 1
                if reference.rowWarned { reports[reference.fileIndex].warned -= 1 }
            }
        }
    }
}

/// A reference that could not be looked up when its row was read.
struct PendingReference {
    var target: String
    var key: [UInt8]
    var fileIndex: Int
    var line: Int
    var column: Int
    /// For the message, made only if the reference turns out unresolved (most resolve).
    var columnName: String
    var inList: Bool
    var rowRejected = false
    var rowWarned = false
}
