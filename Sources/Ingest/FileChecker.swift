/// Checks the rows of one file against its `FileSpec`: the header once, then every record,
/// on the record's bytes. What each column needs is worked out from the header into a plan,
/// so the per-row loop does only the checks that apply.
struct FileChecker {
    /// What to check in one column of the file. Only plain values, no Strings or arrays: the
    /// plans are read for every field of every row, and references would be retained each time.
    private struct ColumnPlan {
        /// The field's index in a record.
        var index: Int
        /// The column's index in `spec.columns`, for its name in messages.
        var specColumn: Int
        var type: ValueType
        /// Index into `enums` of an enum column's values.
        var enumIndex: Int?
        var list: Bool
        var valueRequired: Bool
        var whenInvalid: Severity
        /// Index (into the profile's files and the id sets) of the referenced file, when its ids can be looked up.
        var target: Int?
        var isKey: Bool
        /// Ids (keys and references) are checked for a spreadsheet's scientific notation.
        var isID: Bool
        /// Index into `rules` of the mode rule that wants the column blank, or filled, in this file's mode.
        var blankRule: Int?
        var filledRule: Int?
    }

    /// Two columns whose dates must be in order.
    private struct PairPlan {
        var first: Int
        var firstType: ValueType
        var last: Int
        var lastType: ValueType
        var pair: OrderedPair
        var severity: Severity
    }

    private let profile: Profile
    private let spec: FileSpec
    private let specIndex: Int
    private let fileIndex: Int
    private let path: String
    private let mode: String?
    /// Per profile file: whether its ids can be looked up, and whether they are all there yet.
    private let checkable: [Bool]
    private let complete: [Bool]

    private var plans: [ColumnPlan] = []
    /// Bytes of the first rows, to predict how many ids the file has.
    private var sampleBytes = 0
    private let size: Int64
    private var enums: [ByteEnum] = []
    private var rules: [ModeRule] = []
    /// Where the key column is in the header, if the file has one.
    private var keyColumn: Int?
    private var pairs: [PairPlan] = []
    private var headerCount = 0
    private var headerSeen = false
    /// A fatal header problem: rows are counted, not checked.
    private var unusable = false
    /// The log's counts after the previous record, to tell whether this one added a problem.
    private var markRow = 0
    private var markWarning = 0

    private(set) var rows = 0
    private(set) var rejected = 0
    private(set) var warned = 0
    private(set) var pending: [PendingReference] = []

    init(run: ValidationRun, specIndex: Int, fileIndex: Int) {
        profile = run.profile
        spec = run.profile.files[specIndex]
        self.specIndex = specIndex
        self.fileIndex = fileIndex
        path = run.files[fileIndex].path
        size = run.files[fileIndex].size
        mode = run.modes[spec.name]
        checkable = run.profile.files.map { run.isCheckable($0.name) && !run.failed.contains($0.name) }
        complete = run.profile.files.map { run.complete.contains($0.name) }
    }

    // MARK: Rows

    mutating func check(_ record: borrowing CSVRecord, log: inout ProblemLog, keys: inout [KeySet]) {
        guard headerSeen else {
            headerSeen = true
            readHeader(record, log: &log)
            markRow = log.rowProblems
            markWarning = log.warnings
            return
        }
        rows += 1
        if rows <= Self.sampleRows { sizeRows(record, keys: &keys) }
        let firstPending = pending.count
        if !unusable {
            if record.count != headerCount {
                log.add(problem(record.line, 0, "csv.field-count", .row,
                                "\(record.count) fields where the header has \(headerCount) (an unquoted comma or quote?): row skipped"))
                // The fields after a stray comma are shifted, but the id left of it is still
                // the row's: recorded, so references to the row do not report it a second time.
                if let key = keyColumn, key < record.count { keys[specIndex].insert(record.field(key)) }
            } else {
                for plan in plans {
                    checkField(plan, record.field(plan.index), line: record.line, log: &log, keys: &keys)
                }
                for pair in pairs {
                    checkOrder(pair, record, log: &log)
                }
            }
        }
        // The reader's problems about this record are in the log too: they count here.
        let rowRejected = unusable || log.rowProblems > markRow
        let rowWarned = !rowRejected && log.warnings > markWarning
        if rowRejected { rejected += 1 }
        if rowWarned { warned += 1 }
        for index in firstPending..<pending.count {
            pending[index].rowRejected = rowRejected
            pending[index].rowWarned = rowWarned
        }
        markRow = log.rowProblems
        markWarning = log.warnings
    }

    /// Rows whose length predicts the number of rows of the file.
    private static let sampleRows = 1_000

    /// Adds up the length of the first rows and, after the last of them, reserves the id table
    /// for the rows the file's size predicts: growing it row by row rehashes every id each time.
    private mutating func sizeRows(_ record: borrowing CSVRecord, keys: inout [KeySet]) {
        guard spec.key != nil else { return }
        sampleBytes += record.count  // the commas and the line end
        for index in 0..<record.count { sampleBytes += record.field(index).count }
        if rows == Self.sampleRows && sampleBytes > 0 {
            let expected = Int(min(size * Int64(rows) / Int64(sampleBytes), 100_000_000))
            keys[specIndex].reserveCapacity(expected)
        }
    }

    /// The end of the file: problems of the file as a whole.
    mutating func finish(log: inout ProblemLog) {
        if !headerSeen {
            log.add(problem(0, 0, "file.empty", .fatal, "the file is empty: no header, no rows"))
        } else if rows == 0 {
            // A file the manifest says is part of the set must have rows; all-absent is how
            // OneRoster says "no changes".
            let severity: Severity = mode == nil ? .warning : .fatal
            log.add(problem(0, 0, "file.no-rows", severity, "a header and no rows"))
        }
    }

    private mutating func checkField(_ plan: ColumnPlan, _ field: UnsafeBufferPointer<UInt8>, line: Int,
                                     log: inout ProblemLog, keys: inout [KeySet]) {
        let column = plan.index + 1
        if field.isEmpty {
            if plan.valueRequired {
                log.add(problem(line, column, "value.missing", .row, "\(describe(plan, inList: false)) has no value and needs one"))
            }
            if let rule = plan.filledRule.map({ rules[$0] }) {
                log.add(problem(line, column, "mode.\(rule.mode)-status", rule.severity,
                                "\(describe(plan, inList: false)) must be filled in a \(rule.mode) file"))
            }
            return
        }
        if let rule = plan.blankRule.map({ rules[$0] }) {
            log.add(problem(line, column, "mode.\(rule.mode)-status", rule.severity,
                            "\(describe(plan, inList: false)) must be blank in a \(rule.mode) file"))
        }
        if plan.list {
            var start = 0
            for index in 0...field.count where index == field.count || field[index] == UInt8(ascii: ",") {
                let element = trimmed(UnsafeBufferPointer(rebasing: field[start..<index]))
                start = index + 1
                // "a,,b" has an empty element; nothing to check in it.
                if !element.isEmpty { checkValue(plan, element, line: line, inList: true, log: &log, keys: keys) }
            }
        } else {
            checkValue(plan, field, line: line, inList: false, log: &log, keys: keys)
        }
        if plan.isKey {
            let inserted = keys[specIndex].insert(field)
            if !inserted && spec.duplicates == .reject {
                log.add(problem(line, column, "row.duplicate-id", .row,
                                "the id in \(describe(plan, inList: false)) is on an earlier row: the first is kept"))
            }
        }
    }

    private mutating func checkValue(_ plan: ColumnPlan, _ value: UnsafeBufferPointer<UInt8>, line: Int, inList: Bool,
                                     log: inout ProblemLog, keys: [KeySet]) {
        let column = plan.index + 1
        let valid: Bool
        switch plan.type {
        case .text: valid = true
        case .enumeration: valid = plan.enumIndex.map { enums[$0].contains(value) } ?? true
        case .date: valid = ValueChecks.date(value) != nil
        case .usDate: valid = ValueChecks.usDate(value) != nil
        case .datetime: valid = ValueChecks.isDateTime(value)
        case .boolean: valid = ValueChecks.isBoolean(value)
        case .year: valid = ValueChecks.isYear(value)
        case .grade: valid = ValueChecks.isGrade(value)
        case .flag: valid = ValueChecks.isFlag(value)
        }
        if !valid, let (code, expected) = Self.expectation(spec.columns[plan.specColumn]) {
            log.add(problem(line, column, code, plan.whenInvalid, "\(describe(plan, inList: inList)) is not \(expected)"))
        }
        if plan.isID, ValueChecks.looksScientific(value) {
            log.add(problem(line, column, "value.scientific-notation", .warning,
                            "\(describe(plan, inList: inList)) looks like a number a spreadsheet rewrote as 1.23E+15: "
                                + "its digits are lost; export ids as text"))
        }
        guard let target = plan.target else { return }
        if complete[target] && target != specIndex {
            if !keys[target].contains(value) {
                log.add(problem(line, column, "ref.unresolved", .row,
                                "\(describe(plan, inList: inList)) names an id that \(profile.files[target].name) does not have"))
            }
        } else if !keys[target].contains(value) {
            // The same file (a parent on a later row) or a file read later: decided when its ids are all known.
            pending.append(PendingReference(target: profile.files[target].name, key: Array(value), fileIndex: fileIndex, line: line,
                                            column: column, columnName: spec.columns[plan.specColumn].name, inList: inList))
        }
    }

    /// How a message names the column (made only when there is a problem to report).
    private func describe(_ plan: ColumnPlan, inList: Bool) -> String {
        let name = spec.columns[plan.specColumn].name
        return inList ? "an element of column `\(name)`" : "column `\(name)`"
    }

    private func checkOrder(_ pair: PairPlan, _ record: borrowing CSVRecord, log: inout ProblemLog) {
        guard let first = Self.day(record.field(pair.first), pair.firstType),
              let last = Self.day(record.field(pair.last), pair.lastType), first > last else { return }
        log.add(problem(record.line, pair.last + 1, "value.order", pair.severity,
                        "column `\(pair.pair.last)` is before column `\(pair.pair.first)`"))
    }

    private static func day(_ field: UnsafeBufferPointer<UInt8>, _ type: ValueType) -> Int? {
        switch type {
        case .date: ValueChecks.date(field)
        case .usDate: ValueChecks.usDate(field)
        case .datetime: field.count >= 10 ? ValueChecks.date(UnsafeBufferPointer(rebasing: field[0..<10])) : nil
        default: nil
        }
    }

    /// The problem code of a column's type and how to say what it expects (text expects nothing).
    private static func expectation(_ column: Column) -> (String, String)? {
        switch column.type {
        case .text: nil
        case .enumeration: ("value.enum", "one of " + (column.values ?? []).joined(separator: ", "))
        case .date: ("value.date", "a date YYYY-MM-DD that exists (a spreadsheet's M/D/YYYY?)")
        case .usDate: ("value.date", "a date MM/DD/YYYY that exists")
        case .datetime: ("value.datetime", "an ISO-8601 UTC date-time such as 2025-01-05T08:00:00Z")
        case .boolean: ("value.boolean", "true or false")
        case .year: ("value.year", "a year YYYY")
        case .grade: ("value.grade", "a CEDS grade code (IT, PR, PK, TK, KG, 01-13, PS, UG, Other): a lost leading zero?")
        case .flag: ("value.flag", "Y or N")
        }
    }

    private func trimmed(_ field: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = field.count
        while start < end && field[start] == UInt8(ascii: " ") { start += 1 }
        while end > start && field[end - 1] == UInt8(ascii: " ") { end -= 1 }
        return UnsafeBufferPointer(rebasing: field[start..<end])
    }

    private func problem(_ line: Int, _ column: Int, _ code: String, _ severity: Severity, _ message: String) -> Problem {
        Problem(file: path, line: line, column: column, code: code, severity: severity, message: message)
    }

    // MARK: The header

    private mutating func readHeader(_ record: borrowing CSVRecord, log: inout ProblemLog) {
        headerCount = record.count
        let caseSensitive = profile.caseSensitiveNames
        // A second byte order mark can survive inside the first name (a file saved twice).
        var names: [String] = []
        for index in 0..<record.count {
            let name = record.string(index)
            names.append(index == 0 ? String(name.drop(while: { $0 == "\u{FEFF}" })) : name)
        }
        func same(_ a: String, _ b: String) -> Bool { caseSensitive ? a == b : a.lowercased() == b.lowercased() }
        let fatalsBefore = log.fatals

        var seen: [String: Int] = [:]
        for (index, name) in names.enumerated() where !name.isEmpty {
            let folded = caseSensitive ? name : name.lowercased()
            if let first = seen[folded] {
                log.add(problem(1, index + 1, "header.duplicate", .fatal, "the same column name as column \(first + 1)"))
            } else {
                seen[folded] = index
            }
        }

        var position: [Int?] = Array(repeating: nil, count: spec.columns.count)
        var claimed = Array(repeating: false, count: names.count)
        for (specColumn, column) in spec.columns.enumerated() {
            guard let index = names.firstIndex(where: { same($0, column.name) }) else { continue }
            position[specColumn] = index
            claimed[index] = true
            if names[index] != column.name {
                log.add(problem(1, index + 1, "header.case", .warning, "written in another case than `\(column.name)`; accepted"))
            }
        }

        var unknown: [Int] = []
        var firstExtension: Int?
        for (index, name) in names.enumerated() where !claimed[index] {
            if name.isEmpty {
                log.add(problem(1, index + 1, "header.empty", .warning, "a column without a name: ignored"))
            } else if let prefix = profile.extensionPrefix,
                      caseSensitive ? name.hasPrefix(prefix) : name.lowercased().hasPrefix(prefix.lowercased()) {
                if firstExtension == nil { firstExtension = index }
            } else {
                unknown.append(index)
            }
        }
        if let firstExtension, let lastStandard = position.compactMap({ $0 }).max(), lastStandard > firstExtension {
            log.add(problem(1, firstExtension + 1, "header.extension-order", .warning,
                            "an extension column left of the profile's columns (they belong on the right); accepted"))
        }

        var explained = Set<Int>()
        for (specColumn, column) in spec.columns.enumerated() where position[specColumn] == nil && column.required {
            let variant = unknown.first { !explained.contains($0) && Self.isCloseVariant(names[$0], of: column.name) }
            if let variant {
                explained.insert(variant)
                log.add(problem(1, variant + 1, "header.missing", .fatal,
                                "required column `\(column.name)` is missing; column \(variant + 1) looks like it was meant "
                                    + "(its name differs in case or by a letter or two): rename it"))
            } else {
                log.add(problem(1, 0, "header.missing", .fatal, "required column `\(column.name)` is missing"))
            }
        }
        rules = profile.modeRules.filter { $0.mode == mode }
        for rule in rules {
            for name in rule.filled {
                guard let specColumn = spec.columns.firstIndex(where: { same($0.name, name) }), position[specColumn] == nil,
                      !spec.columns[specColumn].required else { continue }
                log.add(problem(1, 0, "header.missing", .fatal, "column `\(name)` is missing, and a \(rule.mode) file needs it"))
            }
        }
        for index in unknown where !explained.contains(index) {
            switch spec.otherColumns {
            case .ignore:
                break
            case .warn:
                let nearest = spec.columns.first { Self.isCloseVariant(names[index], of: $0.name) }
                let hint = nearest.map { "; did you mean `\($0.name)`?" } ?? ""
                log.add(problem(1, index + 1, "header.unknown", .warning, "not a column of \(spec.fileName)\(hint): ignored"))
            case .reject:
                log.add(problem(1, index + 1, "header.unexpected", .fatal, "\(spec.fileName) has exactly the profile's columns, and not this one"))
            }
        }
        unusable = log.fatals > fatalsBefore
        guard !unusable else { return }

        for (specColumn, column) in spec.columns.enumerated() {
            guard let index = position[specColumn] else { continue }
            let isKey = spec.key.map { same($0, column.name) } ?? false
            var plan = ColumnPlan(index: index, specColumn: specColumn, type: column.type, list: column.list,
                                  valueRequired: column.valueRequired, whenInvalid: column.whenInvalid, isKey: isKey,
                                  isID: isKey || column.references != nil)
            if let values = column.values {
                plan.enumIndex = enums.count
                enums.append(ByteEnum(values))
            }
            if let role = column.references, let target = profile.files.firstIndex(where: { $0.name == role }), checkable[target] {
                plan.target = target
            }
            plan.blankRule = rules.firstIndex { rule in rule.blank.contains { same($0, column.name) } }
            plan.filledRule = rules.firstIndex { rule in rule.filled.contains { same($0, column.name) } }
            let needed = column.valueRequired || column.type != .text || plan.isID || plan.blankRule != nil || plan.filledRule != nil
            if needed { plans.append(plan) }
            if isKey { keyColumn = index }
        }
        for pair in spec.ordered {
            guard let first = spec.columns.firstIndex(where: { same($0.name, pair.first) }),
                  let last = spec.columns.firstIndex(where: { same($0.name, pair.last) }),
                  let firstIndex = position[first], let lastIndex = position[last] else { continue }
            let warningOnly = spec.columns[first].whenInvalid == .warning || spec.columns[last].whenInvalid == .warning
            pairs.append(PairPlan(first: firstIndex, firstType: spec.columns[first].type, last: lastIndex, lastType: spec.columns[last].type,
                                  pair: pair, severity: warningOnly ? .warning : .row))
        }
    }

    /// Whether a header name looks like a mistyped `name`: equal but for case, `_`, `-` and
    /// spaces, or a letter or two apart (`termSourcedId`, `sourceID`).
    static func isCloseVariant(_ candidate: String, of name: String) -> Bool {
        func folded(_ text: String) -> [Character] { Array(text.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " }) }
        let a = folded(candidate)
        let b = folded(name)
        if a == b { return true }
        let allowed = min(a.count, b.count) >= 6 ? 2 : 1
        guard abs(a.count - b.count) <= allowed else { return false }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) <= allowed }
        // Levenshtein distance, one row of the table at a time.
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count] <= allowed
    }
}
