import Foundation

/// An integration profile: everything the processor knows about one upload format, as data.
///
/// Operators write profiles as JSON files (see `docs/profiles.md`); the built-in ones are the
/// same JSON, compiled in. Nothing about OneRoster or Clever is written in code: recognition,
/// columns, value types, keys, references, bulk/delta rules and mass-drop thresholds all come
/// from here, so a correction to a format is a one-line change to a profile.
public struct Profile: Sendable, Equatable, Codable {
    /// Unique among profiles, e.g. `oneroster-1.2`. A directory file with a built-in's name
    /// replaces the built-in.
    public var name: String
    /// A sentence for staff.
    public var description: String?
    /// Whether file and column names must match in case (OneRoster) or not (Clever).
    public var caseSensitiveNames: Bool
    /// How a set of files is recognised as this profile's.
    public var recognition: RecognitionRule
    /// Columns whose name starts with this prefix (`metadata.`) are extensions: accepted
    /// unchecked, to the right of the profile's columns.
    public var extensionPrefix: String?
    /// The files of the format, by role.
    public var files: [FileSpec]
    /// Checks that depend on a file's mode as its manifest gives it (`bulk`, `delta`).
    public var modeRules: [ModeRule]
    /// Row-count drops against the previous epoch that hold a set for review.
    public var massDrop: [MassDropRule]
    /// The program a valid set is handed to, if any.
    public var handOff: HandOff?
    /// How strictly deviations from the format are treated; nil takes the store's setting
    /// (`strictness` in `epochfs.conf`, `standard` by default).
    public var strictness: Strictness?
    /// The largest share of a data file's rows that may be rejected in a set that succeeds
    /// (0.05: 5 %). Above it the set is failed: a downstream system would miss too much.
    public var maxRejectedRatio: Double
    /// The profile's own treatments of deviations (JSON `tolerance`), over the preset of its
    /// strictness.
    public var toleranceOverrides: [Deviation: Treatment]
    /// How a column of dates that could be read either way is read (`monthFirst`, as US
    /// exports write them, unless the profile says `dayFirst`).
    public var dateOrder: DateOrder

    public init(name: String, description: String? = nil, caseSensitiveNames: Bool = true, recognition: RecognitionRule,
                extensionPrefix: String? = nil, files: [FileSpec], modeRules: [ModeRule] = [], massDrop: [MassDropRule] = [],
                handOff: HandOff? = nil, strictness: Strictness? = nil, maxRejectedRatio: Double = 0.05,
                toleranceOverrides: [Deviation: Treatment] = [:], dateOrder: DateOrder = .monthFirst) {
        self.name = name
        self.description = description
        self.caseSensitiveNames = caseSensitiveNames
        self.recognition = recognition
        self.extensionPrefix = extensionPrefix
        self.files = files
        self.modeRules = modeRules
        self.massDrop = massDrop
        self.handOff = handOff
        self.strictness = strictness
        self.maxRejectedRatio = maxRejectedRatio
        self.toleranceOverrides = toleranceOverrides
        self.dateOrder = dateOrder
    }

    /// The profile as pretty-printed JSON, in the format `ProfileLibrary.load` reads: a
    /// built-in printed this way is a starting point for an operator's own file.
    public func encodedJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// Decodes a profile from JSON, first resolving its `extends` (the built-in it starts
    /// from), and checks that it is consistent (see `check`).
    public static func decode(json: Data) throws -> Profile {
        let document = try JSONDecoder().decode(JSONValue.self, from: json)
        guard case .object(let fields) = document, fields["extends"] != nil else { return try decodeResolved(json: json) }
        let resolved = try ProfileExtends.resolve(document) { name in ProfileLibrary.builtInDocuments.first { $0.name == name }?.document }
        return try decodeResolved(json: JSONEncoder().encode(resolved))
    }

    /// Decodes a profile whose `extends`, if it had one, is resolved.
    static func decodeResolved(json: Data) throws -> Profile {
        let profile = try JSONDecoder().decode(Profile.self, from: json)
        try profile.check()
        return profile
    }

    /// The spec of a role, e.g. `users`.
    public func file(named role: String) -> FileSpec? {
        files.first { $0.name == role }
    }

    /// Throws a `ProfileError` naming what is inconsistent: a reference to a file or column
    /// that does not exist, an enum without values, a name used twice. JSON decoding alone
    /// cannot see these, and a profile is data an operator edits by hand.
    public func check() throws {
        func fail(_ message: String) -> ProfileError { ProfileError(message: message) }
        guard !name.isEmpty else { throw fail("the profile has an empty name") }
        var roles = Set<String>()
        for file in files {
            guard roles.insert(file.name).inserted else { throw fail("file `\(file.name)` is described twice") }
        }
        for file in files {
            var columns = Set<String>()
            for column in file.columns {
                guard columns.insert(caseSensitiveNames ? column.name : column.name.lowercased()).inserted else {
                    throw fail("file `\(file.name)`: column `\(column.name)` is described twice")
                }
                if column.type == .enumeration && (column.values ?? []).isEmpty {
                    throw fail("file `\(file.name)`: column `\(column.name)` is an enum without `values`")
                }
                if column.oftenOmitted && !column.required {
                    throw fail("file `\(file.name)`: column `\(column.name)` is oftenOmitted but not required")
                }
                if column.type != .enumeration && column.values != nil {
                    throw fail("file `\(file.name)`: column `\(column.name)` has `values` but is not of type enum")
                }
                if let target = column.references {
                    guard let targetFile = self.file(named: target) else {
                        throw fail("file `\(file.name)`: column `\(column.name)` references file `\(target)`, which the profile does not describe")
                    }
                    guard targetFile.key != nil else {
                        throw fail("file `\(file.name)`: column `\(column.name)` references file `\(target)`, which has no `key`")
                    }
                }
            }
            func known(_ column: String, _ what: String) throws {
                guard file.column(named: column, caseSensitive: caseSensitiveNames) != nil else {
                    throw fail("file `\(file.name)`: \(what) `\(column)` is not one of its columns")
                }
            }
            if let key = file.key { try known(key, "key") }
            for pair in file.ordered {
                try known(pair.first, "ordered column")
                try known(pair.last, "ordered column")
            }
        }
        for rule in modeRules {
            for column in rule.blank + rule.filled where !files.contains(where: { $0.column(named: column, caseSensitive: caseSensitiveNames) != nil }) {
                throw fail("mode rule `\(rule.mode)`: no file has a column `\(column)`")
            }
        }
        for rule in massDrop {
            guard roles.contains(rule.file) else { throw fail("massDrop: no file `\(rule.file)`") }
            guard rule.minimumRatio > 0 && rule.minimumRatio <= 1 else {
                throw fail("massDrop `\(rule.file)`: minimumRatio must be more than 0 and at most 1")
            }
        }
        if let manifest = recognition.manifest, manifest.header.count != 2 {
            throw fail("recognition.manifest.header must name two columns (property and value)")
        }
        if recognition.manifest == nil && recognition.fileNames == nil {
            throw fail("recognition needs `manifest` or `fileNames`")
        }
        if let handOff, handOff.command.isEmpty || !handOff.command[0].hasPrefix("/") {
            throw fail("handOff.command must start with an absolute program path")
        }
        guard maxRejectedRatio >= 0 && maxRejectedRatio <= 1 else {
            throw fail("maxRejectedRatio must be from 0 to 1 (0.05 is 5 %)")
        }
        for (deviation, treatment) in toleranceOverrides.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        where !Tolerance.allowed(deviation).contains(treatment) {
            throw fail("tolerance.\(deviation.rawValue) must be one of \(Tolerance.allowed(deviation).map(\.rawValue).joined(separator: ", "))")
        }
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, caseSensitiveNames, recognition, extensionPrefix, files, modeRules, massDrop, handOff, strictness
        case maxRejectedRatio, tolerance, dateOrder
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        caseSensitiveNames = try c.decodeIfPresent(Bool.self, forKey: .caseSensitiveNames) ?? true
        recognition = try c.decode(RecognitionRule.self, forKey: .recognition)
        extensionPrefix = try c.decodeIfPresent(String.self, forKey: .extensionPrefix)
        files = try c.decode([FileSpec].self, forKey: .files)
        modeRules = try c.decodeIfPresent([ModeRule].self, forKey: .modeRules) ?? []
        massDrop = try c.decodeIfPresent([MassDropRule].self, forKey: .massDrop) ?? []
        handOff = try c.decodeIfPresent(HandOff.self, forKey: .handOff)
        strictness = try c.decodeIfPresent(Strictness.self, forKey: .strictness)
        maxRejectedRatio = try c.decodeIfPresent(Double.self, forKey: .maxRejectedRatio) ?? 0.05
        var overrides: [Deviation: Treatment] = [:]
        for (name, treatment) in try c.decodeIfPresent([String: Treatment].self, forKey: .tolerance) ?? [:] {
            guard let deviation = Deviation(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .tolerance, in: c, debugDescription:
                    "unknown deviation `\(name)`; known: \(Deviation.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            overrides[deviation] = treatment
        }
        toleranceOverrides = overrides
        dateOrder = try c.decodeIfPresent(DateOrder.self, forKey: .dateOrder) ?? .monthFirst
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(caseSensitiveNames, forKey: .caseSensitiveNames)
        try c.encode(recognition, forKey: .recognition)
        try c.encodeIfPresent(extensionPrefix, forKey: .extensionPrefix)
        try c.encode(files, forKey: .files)
        if !modeRules.isEmpty { try c.encode(modeRules, forKey: .modeRules) }
        if !massDrop.isEmpty { try c.encode(massDrop, forKey: .massDrop) }
        try c.encodeIfPresent(handOff, forKey: .handOff)
        try c.encodeIfPresent(strictness, forKey: .strictness)
        if maxRejectedRatio != 0.05 { try c.encode(maxRejectedRatio, forKey: .maxRejectedRatio) }
        if !toleranceOverrides.isEmpty {
            try c.encode(Dictionary(uniqueKeysWithValues: toleranceOverrides.map { ($0.key.rawValue, $0.value) }), forKey: .tolerance)
        }
        if dateOrder != .monthFirst { try c.encode(dateOrder, forKey: .dateOrder) }
    }
}

/// How strictly a profile treats what real exporters get wrong (docs/profiles.md,
/// "Tolerance"): `strict` takes the format as its publisher wrote it, `standard` what a careful
/// integrator accepts, `lenient` also what can be read at all.
public enum Strictness: String, Sendable, Codable, CaseIterable {
    case strict, standard, lenient
}

/// How a set is recognised: by a manifest file and its values (OneRoster), or by file names
/// when no file of `withoutFiles` is present (Clever).
public struct RecognitionRule: Sendable, Equatable, Codable {
    public var manifest: ManifestRule?
    /// Some of these file names (at least one) at the top level of the set.
    public var fileNames: [String]?
    /// Files whose presence rules this profile out (Clever: `manifest.csv`).
    public var withoutFiles: [String]?

    public init(manifest: ManifestRule? = nil, fileNames: [String]? = nil, withoutFiles: [String]? = nil) {
        self.manifest = manifest
        self.fileNames = fileNames
        self.withoutFiles = withoutFiles
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case manifest, fileNames, withoutFiles }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        manifest = try c.decodeIfPresent(ManifestRule.self, forKey: .manifest)
        fileNames = try c.decodeIfPresent([String].self, forKey: .fileNames)
        withoutFiles = try c.decodeIfPresent([String].self, forKey: .withoutFiles)
    }
}

/// A manifest: a two-column CSV of properties. It recognises the set when its header is
/// exactly `header` and every property of `values` has that value; its `filePrefix` rows give
/// each file's mode (`file.users,bulk`).
public struct ManifestRule: Sendable, Equatable, Codable {
    public var file: String
    public var header: [String]
    /// Property → the value it must have, e.g. `oneroster.version` → `1.2`.
    public var values: [String: String]
    /// Rows whose property starts with this give a file's mode: `file.` + role.
    public var filePrefix: String
    /// The modes a file can have. `absent` is special: the file is not part of the set.
    public var modes: [String]
    /// Said to staff of a set that has the profile's files but no manifest: what such a set
    /// usually is, and what to ask the district for.
    public var whenMissing: String?

    public init(file: String, header: [String], values: [String: String], filePrefix: String = "file.",
                modes: [String] = ["absent", "bulk", "delta"], whenMissing: String? = nil) {
        self.file = file
        self.header = header
        self.values = values
        self.filePrefix = filePrefix
        self.modes = modes
        self.whenMissing = whenMissing
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case file, header, values, filePrefix, modes, whenMissing }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        file = try c.decode(String.self, forKey: .file)
        header = try c.decode([String].self, forKey: .header)
        values = try c.decodeIfPresent([String: String].self, forKey: .values) ?? [:]
        filePrefix = try c.decodeIfPresent(String.self, forKey: .filePrefix) ?? "file."
        modes = try c.decodeIfPresent([String].self, forKey: .modes) ?? ["absent", "bulk", "delta"]
        whenMissing = try c.decodeIfPresent(String.self, forKey: .whenMissing)
    }
}

/// One file of a format, e.g. `users` read from `users.csv`.
public struct FileSpec: Sendable, Equatable, Codable {
    /// The role: what the manifest calls the file (`file.users`), what references and reports use.
    public var name: String
    /// The file's name in the set; `<name>.csv` when not given.
    public var fileName: String
    /// The column whose value identifies a row (`sourcedId`), if any.
    public var key: String?
    /// What a repeated key is: `reject` (a row problem; the first row is kept), `fail` (the
    /// file cannot be used: every reference to the id is ambiguous; OneRoster) or `allow`
    /// (Clever repeats a student on several rows).
    public var duplicates: DuplicatePolicy
    public var columns: [Column]
    /// What a column the profile does not describe is: `ignore`, `warn`, or `reject` (fatal:
    /// Clever's enrollments.csv has exactly its three columns).
    public var otherColumns: OtherColumns
    /// Pairs of columns whose values must not decrease (`startDate` ≤ `endDate`).
    public var ordered: [OrderedPair]
    /// The set cannot be used without this file: in a bulk set (any set without a manifest, or
    /// one whose manifest gives no file as `delta`), a set that lacks it, or whose copy of it
    /// ends with no accepted rows, fails. A delta set changes only what changed.
    public var required: Bool

    public enum DuplicatePolicy: String, Sendable, Codable { case reject, fail, allow }
    public enum OtherColumns: String, Sendable, Codable { case ignore, warn, reject }

    public init(name: String, fileName: String? = nil, key: String? = nil, duplicates: DuplicatePolicy = .reject, columns: [Column],
                otherColumns: OtherColumns = .warn, ordered: [OrderedPair] = [], required: Bool = false) {
        self.name = name
        self.fileName = fileName ?? name + ".csv"
        self.key = key
        self.duplicates = duplicates
        self.columns = columns
        self.otherColumns = otherColumns
        self.ordered = ordered
        self.required = required
    }

    func column(named name: String, caseSensitive: Bool) -> Column? {
        columns.first { caseSensitive ? $0.name == name : $0.name.lowercased() == name.lowercased() }
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case name, fileName, required, key, duplicates, columns, otherColumns, ordered }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        fileName = try c.decodeIfPresent(String.self, forKey: .fileName) ?? name + ".csv"
        key = try c.decodeIfPresent(String.self, forKey: .key)
        duplicates = try c.decodeIfPresent(DuplicatePolicy.self, forKey: .duplicates) ?? .reject
        columns = try c.decode([Column].self, forKey: .columns)
        otherColumns = try c.decodeIfPresent(OtherColumns.self, forKey: .otherColumns) ?? .warn
        ordered = try c.decodeIfPresent([OrderedPair].self, forKey: .ordered) ?? []
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        if fileName != name + ".csv" { try c.encode(fileName, forKey: .fileName) }
        if required { try c.encode(true, forKey: .required) }
        try c.encodeIfPresent(key, forKey: .key)
        if duplicates != .reject { try c.encode(duplicates, forKey: .duplicates) }
        try c.encode(columns, forKey: .columns)
        if otherColumns != .warn { try c.encode(otherColumns, forKey: .otherColumns) }
        if !ordered.isEmpty { try c.encode(ordered, forKey: .ordered) }
    }
}

/// One column of a file.
public struct Column: Sendable, Equatable, Codable {
    public var name: String
    /// The header must have the column (`header.missing`, fatal for the file, when not).
    public var required: Bool
    /// The format's publisher requires the column, but real exporters leave it out (Clever's
    /// `School_number`): its absence is treated as the tolerance's `omittedColumns` says.
    public var oftenOmitted: Bool
    /// Every row must have a value (`value.missing`).
    public var valueRequired: Bool
    public var type: ValueType
    /// The allowed values of an `enum` column, matched exactly.
    public var values: [String]?
    /// The field holds a comma-separated list; each element is checked (and resolved).
    public var list: Bool
    /// The role of the file whose key each value (or list element) must be.
    public var references: String?
    /// What a value that breaks this column's rules costs: the row (`row`, the default) or
    /// only a `warning` (for columns a district's export often gets wrong but nobody needs).
    public var whenInvalid: Severity

    public init(name: String, required: Bool = false, valueRequired: Bool = false, type: ValueType = .text, values: [String]? = nil,
                list: Bool = false, references: String? = nil, whenInvalid: Severity = .row, oftenOmitted: Bool = false) {
        self.name = name
        self.required = required
        self.oftenOmitted = oftenOmitted
        self.valueRequired = valueRequired
        self.type = type
        self.values = values
        self.list = list
        self.references = references
        self.whenInvalid = whenInvalid
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case name, required, oftenOmitted, valueRequired, type, values, list, references, whenInvalid
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        required = try c.decodeIfPresent(Bool.self, forKey: .required) ?? false
        oftenOmitted = try c.decodeIfPresent(Bool.self, forKey: .oftenOmitted) ?? false
        valueRequired = try c.decodeIfPresent(Bool.self, forKey: .valueRequired) ?? false
        type = try c.decodeIfPresent(ValueType.self, forKey: .type) ?? .text
        values = try c.decodeIfPresent([String].self, forKey: .values)
        list = try c.decodeIfPresent(Bool.self, forKey: .list) ?? false
        references = try c.decodeIfPresent(String.self, forKey: .references)
        whenInvalid = try c.decodeIfPresent(Severity.self, forKey: .whenInvalid) ?? .row
        if whenInvalid == .fatal {
            throw DecodingError.dataCorruptedError(forKey: .whenInvalid, in: c, debugDescription: "must be `row` or `warning`")
        }
    }

    /// Writes only what differs from the defaults, so a printed profile stays readable.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        if required { try c.encode(true, forKey: .required) }
        if oftenOmitted { try c.encode(true, forKey: .oftenOmitted) }
        if valueRequired { try c.encode(true, forKey: .valueRequired) }
        if type != .text { try c.encode(type, forKey: .type) }
        try c.encodeIfPresent(values, forKey: .values)
        if list { try c.encode(true, forKey: .list) }
        try c.encodeIfPresent(references, forKey: .references)
        if whenInvalid != .row { try c.encode(whenInvalid, forKey: .whenInvalid) }
    }
}

/// What a column's values must look like. Blank values are never checked against the type
/// (`valueRequired` says whether blank is allowed).
public enum ValueType: String, Sendable, Codable, CaseIterable {
    /// Anything.
    case text
    /// One of the column's `values`, exactly.
    case enumeration = "enum"
    /// `YYYY-MM-DD`, a date that exists.
    case date
    /// ISO-8601 UTC date-time: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or `+00:00`.
    case datetime
    /// `true` or `false`.
    case boolean
    /// `YYYY`.
    case year
    /// A CEDS grade code: IT, PR, PK, TK, KG, 01–13, PS, UG, Other.
    case grade
    /// `Y` or `N`.
    case flag
    /// `MM/DD/YYYY` (one-digit month and day allowed), a date that exists.
    case usDate
}

/// Two columns whose values, when both are present and valid dates, must be in order.
public struct OrderedPair: Sendable, Equatable, Codable {
    public var first: String
    public var last: String
    public init(first: String, last: String) {
        self.first = first
        self.last = last
    }
}

/// Rules for the files of one mode. Bulk: `status` and `dateLastModified` blank; delta: both
/// filled. Columns the header lacks are blank; a `filled` column the header lacks is fatal.
public struct ModeRule: Sendable, Equatable, Codable {
    public var mode: String
    public var blank: [String]
    public var filled: [String]
    /// What a row that breaks the rule costs (`row` or `warning`).
    public var severity: Severity

    public init(mode: String, blank: [String] = [], filled: [String] = [], severity: Severity = .row) {
        self.mode = mode
        self.blank = blank
        self.filled = filled
        self.severity = severity
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case mode, blank, filled, severity }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decode(String.self, forKey: .mode)
        blank = try c.decodeIfPresent([String].self, forKey: .blank) ?? []
        filled = try c.decodeIfPresent([String].self, forKey: .filled) ?? []
        severity = try c.decodeIfPresent(Severity.self, forKey: .severity) ?? .row
        if severity == .fatal {
            throw DecodingError.dataCorruptedError(forKey: .severity, in: c, debugDescription: "must be `row` or `warning`")
        }
    }
}

/// A file whose accepted rows fall below `minimumRatio` of the previous epoch's is a mass drop:
/// the set is held for review (`set.mass-drop`). Drops from fewer than `minimumPreviousRows`
/// rows are not reported: a school of ten changing to four is not an accident.
public struct MassDropRule: Sendable, Equatable, Codable {
    public var file: String
    public var minimumRatio: Double
    public var minimumPreviousRows: Int

    public init(file: String, minimumRatio: Double, minimumPreviousRows: Int = 100) {
        self.file = file
        self.minimumRatio = minimumRatio
        self.minimumPreviousRows = minimumPreviousRows
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case file, minimumRatio, minimumPreviousRows }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        file = try c.decode(String.self, forKey: .file)
        minimumRatio = try c.decode(Double.self, forKey: .minimumRatio)
        minimumPreviousRows = try c.decodeIfPresent(Int.self, forKey: .minimumPreviousRows) ?? 100
    }
}

/// The program a valid set is handed to: `command[0]` is an absolute path, run with the rest
/// as arguments, and killed after `timeoutSeconds`.
public struct HandOff: Sendable, Equatable, Codable {
    public var command: [String]
    public var timeoutSeconds: Int

    public init(command: [String], timeoutSeconds: Int = 600) {
        self.command = command
        self.timeoutSeconds = timeoutSeconds
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case command, timeoutSeconds }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        timeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? 600
    }
}

/// A profile that cannot be used, with what is wrong; `file` is set when it came from a file.
public struct ProfileError: Error, Equatable, CustomStringConvertible {
    public var file: String?
    public var message: String

    public init(file: String? = nil, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "profile \(file): \(message)" }
        return "profile: \(message)"
    }
}

/// Any key of a JSON object, for listing the keys an object really has.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws when the object has a key the type does not know. JSONDecoder would skip it, and a
/// misspelt `valueRequried` in an operator's file would silently turn a check off.
private func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ decoder: any Decoder, _: Keys.Type) throws {
    let known = Set(Keys.allCases.map(\.stringValue))
    let container = try decoder.container(keyedBy: AnyKey.self)
    for key in container.allKeys where !known.contains(key.stringValue) {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [key],
                                                debugDescription: "unknown key; known keys: \(known.sorted().joined(separator: ", "))"))
    }
}

/// The built-in profiles and the operator's.
public enum ProfileLibrary {
    /// The compiled-in profiles: `oneroster-1.1`, `oneroster-1.2`, `clever`.
    public static var builtIn: [Profile] { decodedBuiltIns }

    /// Decoded once, on first use: a constant, like the JSON text it comes from.
    private static let decodedBuiltIns: [Profile] = builtInDocuments.map { name, document in
        do {
            return try Profile.decodeResolved(json: JSONEncoder().encode(document))
        } catch {
            // The built-ins are tested; one that does not decode is a defect of this build.
            preconditionFailure("built-in profile \(name) does not decode: \(describe(error))")
        }
    }

    /// The built-ins' JSON with `extends` resolved, in order: what an operator's profile that
    /// extends a built-in starts from. A built-in extends one listed before it.
    static let builtInDocuments: [(name: String, document: JSONValue)] = {
        var documents: [(name: String, document: JSONValue)] = []
        for (name, text) in BuiltInProfiles.json {
            do {
                let document = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
                let resolved = try ProfileExtends.resolve(document) { base in documents.first { $0.name == base }?.document }
                documents.append((name, resolved))
            } catch {
                preconditionFailure("built-in profile \(name) does not resolve: \(describe(error))")
            }
        }
        return documents
    }()

    /// The built-ins merged with the `*.json` files of `directory` (in name order); a file's
    /// profile replaces the built-in of the same name. A missing directory means no files; a
    /// file that cannot be read or decoded, or two files with one name, throw a `ProfileError`
    /// naming the file and what is wrong.
    public static func load(directory: String) throws -> [Profile] {
        var profiles = builtIn
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch CocoaError.fileReadNoSuchFile {
            return profiles
        } catch {
            throw ProfileError(file: directory, message: "cannot list the directory: \(error.localizedDescription)")
        }
        var fromFiles: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = directory + "/" + name
            let profile: Profile
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                profile = try Profile.decode(json: data)
            } catch {
                throw ProfileError(file: path, message: describe(error))
            }
            if let other = fromFiles[profile.name] {
                throw ProfileError(file: path, message: "profile `\(profile.name)` is also defined by \(other)")
            }
            fromFiles[profile.name] = path
            if let index = profiles.firstIndex(where: { $0.name == profile.name }) {
                profiles[index] = profile
            } else {
                profiles.append(profile)
            }
        }
        return profiles
    }

    /// A decoding error as an operator can act on it: where in the JSON, and what.
    static func describe(_ error: any Error) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return text.isEmpty ? "the top level" : String(text.drop(while: { $0 == "." }))
        }
        switch error {
        case let error as ProfileError:
            return error.message
        case DecodingError.keyNotFound(let key, let context):
            return "at \(path(context.codingPath)): missing key `\(key.stringValue)`"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return "at \(path(context.codingPath)): \(context.debugDescription)" + (underlying.map { " (\($0))" } ?? "")
        default:
            return "\(error)"
        }
    }
}
