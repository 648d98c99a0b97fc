/// Checks the rows of one file against its `FileSpec`: the header once, then every record,
/// on the record's bytes. What each column needs is worked out from the header into a plan,
/// so the per-row loop does only the checks that apply.
struct FileChecker {
    /// What to check in one column of the file. Only plain values, no Strings or arrays: the
    /// plans are read for every field of every row, and references would be retained each time.
    private struct ColumnPlan {
        /// The field's index in a record.
        var index: Int
        /// The plan's own index in `plans`, `notes` and `dates`.
        var position = 0
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
        /// The plans of the two columns, whose order of day and month is decided at the end.
        var firstPlan: Int?
        var lastPlan: Int?
        /// Rows past `orderRowLimit` whose order depended on the columns' orders, by the
        /// readings (as `PairRow.outOfOrder`) they were out of order in.
        var unkept = (0, 0, 0, 0)
        var kept = 0
    }

    /// How often something a column needed to be read was seen, and the first line it was on.
    private struct Note {
        var count = 0
        var line = 0
        mutating func add(_ at: Int) {
            // Rows decided at the end of the file come after later lines.
            if count == 0 || at < line { line = at }
            count += 1
        }
    }

    /// What one column's values needed to be read: one warning each at the end of the file.
    private struct ColumnNotes {
        var otherCase = Note()
        var gradesWithoutZero = Note()
        var withoutZone = Note()
        var offset = Note()
        var dateOnly = Note()
        var spaceForT = Note()
        var filledInMode = Note()
        var ignored = Note()
    }

    /// The dates of one column written with the day and month before the year: which comes
    /// first is decided for the whole column at its end, never row by row.
    private struct DateColumn {
        /// Dates that only one order reads (`12/25/2010`, `25/12/2010`), and those either does.
        var monthFirstOnly = 0
        var dayFirstOnly = 0
        var either = 0
        var dayMonth = Note()
        var twoDigitYears = Note()
        var yearFirst = Note()

        /// Whether the column reads month first: as more of its dates can only be read, the
        /// profile's `dateOrder` when none or as many say either.
        func readsMonthFirst(unlessTold order: DateOrder) -> Bool {
            monthFirstOnly == dayFirstOnly ? order == .monthFirst : monthFirstOnly > dayFirstOnly
        }
    }

    /// A row whose date only one order reads: rejected at the end if the column is read the
    /// other way.
    private struct OrderRow {
        var line: Int
        var plan: Int
        var dayFirst: Bool
        var rowRejected = false
        var rowWarned = false
    }

    /// A row whose ordered pair is in order when its columns are read one way and out of order
    /// when read another (`1/5/2026` to `2/3/2026`): checked at the end, in the columns' orders.
    private struct PairRow {
        var line: Int
        var pair: Int
        /// Bit 2 × (the first column read day first) + (the last read day first) is set when the
        /// pair is out of order read that way.
        var outOfOrder: UInt8
        var rowRejected = false
        var rowWarned = false
    }

    /// How many `OrderRow`s are kept per column and order: past it a column that mixes both
    /// orders this much cannot be read (`value.date-order`, fatal).
    static let orderRowLimit = 250_000

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
    /// The header's names up to the last that is not empty: a row may stop there, or go on
    /// with empty fields, when trailing empty columns are taken.
    private var namedCount = 0
    private var headerSeen = false
    private let tolerance: Tolerance
    private let lastTwoDigitYear: Int
    /// The tolerance's treatments, read once.
    private let valueCase: Treatment
    private let regionalDates: Treatment
    private let dateTimeForms: Treatment
    private let gradeLeadingZero: Treatment
    private let bulkModeColumns: Treatment
    private let invalidOptionalValues: Treatment
    private let trailingEmptyColumns: Treatment
    private var notes: [ColumnNotes] = []
    private var dates: [DateColumn] = []
    private var orderRows: [OrderRow] = []
    private var pairRows: [PairRow] = []
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
        tolerance = run.tolerance
        lastTwoDigitYear = run.lastTwoDigitYear
        valueCase = tolerance[.valueCase]
        regionalDates = tolerance[.regionalDates]
        dateTimeForms = tolerance[.dateTimeForms]
        gradeLeadingZero = tolerance[.gradeLeadingZero]
        bulkModeColumns = tolerance[.bulkModeColumns]
        invalidOptionalValues = tolerance[.invalidOptionalValues]
        trailingEmptyColumns = tolerance[.trailingEmptyColumns]
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
        let firstOrderRow = orderRows.count
        let firstPairRow = pairRows.count
        if !unusable {
            if !fitsHeader(record) {
                let fields = record.count
                let counted = trailingEmptyColumns == .reject || fields != headerCount
                log.add(problem(record.line, 0, "csv.field-count", .row, counted
                                ? "\(fields) fields where the header has \(headerCount) (an unquoted comma or quote?): row skipped"
                                : "a value under a column without a name (an unquoted comma or quote?): row skipped"))
                // The fields after a stray comma are shifted, but the id left of it is still
                // the row's: recorded, so references to the row do not report it a second time.
                if let key = keyColumn, key < record.count { keys[specIndex].insert(record.field(key)) }
            } else {
                for plan in plans {
                    checkField(plan, record.field(plan.index), line: record.line, log: &log, keys: &keys)
                }
                for pair in pairs.indices {
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
        for index in firstOrderRow..<orderRows.count {
            orderRows[index].rowRejected = rowRejected
            orderRows[index].rowWarned = rowWarned
        }
        for index in firstPairRow..<pairRows.count {
            pairRows[index].rowRejected = rowRejected
            pairRows[index].rowWarned = rowWarned
        }
        markRow = log.rowProblems
        markWarning = log.warnings
    }

    /// Whether a record has the header's fields: as many, or, when the tolerance takes a header
    /// that ends with empty names, exactly its named columns (a row that stops before the empty
    /// names). A value under an empty name is a field an unquoted comma pushed there, as is
    /// anything past the header, even an empty field, and a row that stops part way through the
    /// empty names: taken, the row's fields would be shifted.
    private func fitsHeader(_ record: borrowing CSVRecord) -> Bool {
        if namedCount == headerCount || trailingEmptyColumns == .reject { return record.count == headerCount }
        if record.count == namedCount { return true }
        guard record.count == headerCount else { return false }
        for index in namedCount..<headerCount where record.field(index).count > 0 { return false }
        return true
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

    /// The end of the file: problems of the file as a whole. `readerStopped`: the reader found
    /// a fatal problem (an encoding that is not UTF-8, a record too long) and said so.
    mutating func finish(log: inout ProblemLog, readerStopped: Bool) {
        if !headerSeen && readerStopped {
            return
        } else if !headerSeen {
            log.add(problem(0, 0, "file.empty", .fatal, "the file is empty: no header, no rows"))
        } else if rows == 0 {
            // A file the manifest says is part of the set must have rows; all-absent is how
            // OneRoster says "no changes".
            let severity: Severity = mode == nil ? .warning : .fatal
            log.add(problem(0, 0, "file.no-rows", severity, "a header and no rows"))
        }
        decideDateOrders(log: &log)
        reportNotes(log: &log)
    }

    /// Reads each column of day-and-month dates in the order its dates show: the order that
    /// more of its dates can only be read in (the profile's `dateOrder` when none or as many
    /// say either). A date only the other order reads is now what an unreadable value of its
    /// column is (its row rejected, a warning, or ignored), and the rows whose ordered pair is
    /// out of order read in the orders decided are rejected or warned.
    private mutating func decideDateOrders(log: inout ProblemLog) {
        var monthFirst = Array(repeating: true, count: plans.count)
        var undecidable = Array(repeating: false, count: plans.count)
        for plan in plans where dates[plan.position].dayMonth.count > 0 {
            let column = dates[plan.position]
            if column.monthFirstOnly > Self.orderRowLimit && column.dayFirstOnly > Self.orderRowLimit {
                undecidable[plan.position] = true
                log.add(problem(column.dayMonth.line, plan.index + 1, "value.date-order", .fatal,
                                "\(describe(plan, inList: false)) mixes dates only month first can read (\(count(column.monthFirstOnly))) "
                                    + "with dates only day first can read (\(count(column.dayFirstOnly))): which is which cannot be told"))
                continue
            }
            monthFirst[plan.position] = column.readsMonthFirst(unlessTold: profile.dateOrder)
        }
        // Lines rejected now (with whether they were counted warned), and lines warned now.
        var late: [Int: Bool] = [:]
        var lateWarned = Set<Int>()
        func judgeLate(line: Int, severity: Severity, rowRejected: Bool, rowWarned: Bool) {
            guard !rowRejected else { return }
            if severity == .row {
                late[line] = rowWarned || (late[line] ?? false)
            } else if !rowWarned {
                lateWarned.insert(line)
            }
        }
        /// How a pair's columns are read, as `PairRow.outOfOrder`'s bit; nil when either
        /// column cannot be read.
        func reading(of pair: PairPlan) -> Int? {
            guard let firstPlan = pair.firstPlan, let lastPlan = pair.lastPlan, !undecidable[firstPlan], !undecidable[lastPlan]
            else { return nil }
            return (monthFirst[firstPlan] ? 0 : 2) + (monthFirst[lastPlan] ? 0 : 1)
        }
        for row in orderRows where !undecidable[row.plan] && row.dayFirst == monthFirst[row.plan] {
            let plan = plans[row.plan]
            // As any value of the column that cannot be read: ignored where the tolerance
            // ignores those, a warning where the column's are.
            if ignoresUnreadable(plan) {
                notes[row.plan].ignored.add(row.line)
                continue
            }
            let order = monthFirst[row.plan] ? "month first (M/D)" : "day first (D/M)"
            log.add(problem(row.line, plan.index + 1, "value.date-order", plan.whenInvalid,
                            "\(describe(plan, inList: false)) is a date only the other order reads, and the column's dates are \(order)"))
            judgeLate(line: row.line, severity: plan.whenInvalid, rowRejected: row.rowRejected, rowWarned: row.rowWarned)
        }
        for pair in pairs {
            guard let reading = reading(of: pair) else { continue }
            let unkept = [pair.unkept.0, pair.unkept.1, pair.unkept.2, pair.unkept.3][reading]
            guard unkept > 0 else { continue }
            // Too many to reject one by one: a row problem the rows cannot be told from makes
            // the file unusable; a warning is said once.
            log.add(problem(0, pair.last + 1, "value.order", pair.severity == .row ? .fatal : .warning,
                            "column `\(pair.pair.last)` is before column `\(pair.pair.first)` on \(rows(unkept)) past the first "
                                + "\(count(Self.orderRowLimit)) whose order depended on how the columns' dates are read"))
        }
        for row in pairRows {
            let pair = pairs[row.pair]
            guard let reading = reading(of: pair), row.outOfOrder & 1 << reading != 0 else { continue }
            log.add(problem(row.line, pair.last + 1, "value.order", pair.severity,
                            "column `\(pair.pair.last)` is before column `\(pair.pair.first)`"))
            judgeLate(line: row.line, severity: pair.severity, rowRejected: row.rowRejected, rowWarned: row.rowWarned)
        }
        // A row warned now is counted once, and not at all when it is rejected now.
        lateWarned = lateWarned.filter { late[$0] == nil }
        warned += lateWarned.count
        // The rows were counted as accepted when read; each is rejected now, once.
        rejected += late.count
        warned -= late.values.filter { $0 }.count
        // A reference of these rows resolved later must find them as they are now.
        guard !late.isEmpty || !lateWarned.isEmpty else { return }
        for index in pending.indices {
            if late[pending[index].line] != nil { pending[index].rowRejected = true }
            if lateWarned.contains(pending[index].line) { pending[index].rowWarned = true }
        }
    }

    /// One warning per column for each way its values needed reading, when the tolerance
    /// normalises it (what it accepts it takes without a word).
    private func reportNotes(log: inout ProblemLog) {
        for plan in plans {
            let notes = self.notes[plan.position]
            let name = describe(plan, inList: false)
            let column = plan.index + 1
            if valueCase == .normalise && notes.otherCase.count > 0 {
                log.add(problem(notes.otherCase.line, column, "value.case", .warning,
                                "\(name): \(values(notes.otherCase.count)) in another case than the format's (`TRUE` for `true`): read as meant"))
            }
            if gradeLeadingZero == .normalise && notes.gradesWithoutZero.count > 0 {
                log.add(problem(notes.gradesWithoutZero.line, column, "value.grade-form", .warning,
                                "\(name): \(values(notes.gradesWithoutZero.count)) without the leading zero (`1` for `01`, a spreadsheet's): "
                                    + "read as two digits; format the column as text before saving"))
            }
            if dateTimeForms == .normalise {
                var forms: [String] = []
                var first = Int.max
                for (note, what) in [(notes.withoutZone, "without a time zone, read as UTC"),
                                     (notes.offset, "with an offset from UTC, converted to UTC"),
                                     (notes.dateOnly, "dates without a time, read as midnight UTC"),
                                     (notes.spaceForT, "with a space for the T")] where note.count > 0 {
                    forms.append("\(what) (\(count(note.count)))")
                    first = min(first, note.line)
                }
                if !forms.isEmpty {
                    log.add(problem(first, column, "value.datetime-form", .warning,
                                    "\(name): date-times in other ISO-8601 forms: \(forms.joined(separator: "; ")); "
                                        + "export them as 2025-01-05T08:00:00Z to be sure they mean what was meant"))
                }
            }
            if let rule = plan.blankRule.map({ rules[$0] }), bulkModeColumns == .normalise, notes.filledInMode.count > 0 {
                log.add(problem(notes.filledInMode.line, column, "mode.\(rule.mode)-status", .warning,
                                "\(name) is filled in \(rows(notes.filledInMode.count)), and a \(rule.mode) file leaves it blank: ignored"))
            }
            if invalidOptionalValues == .normalise && notes.ignored.count > 0,
               let (_, expected) = Self.expectation(spec.columns[plan.specColumn]) {
                log.add(problem(notes.ignored.line, column, "value.ignored", .warning,
                                "\(name): \(values(notes.ignored.count)) that are not \(expected): ignored, and the rows used without them"))
            }
            if regionalDates == .normalise, let message = dateNote(plan) {
                let dates = self.dates[plan.position]
                let line = [dates.dayMonth, dates.yearFirst].filter { $0.count > 0 }.map(\.line).min() ?? 0
                log.add(problem(line, column, "value.date-form", .warning, message))
            }
        }
    }

    /// What a column's dates in regional forms were read as, or nil when it has none, or only
    /// the column's own form (`M/D/YYYY` in a `usDate` column read month first).
    private func dateNote(_ plan: ColumnPlan) -> String? {
        let dates = self.dates[plan.position]
        var parts: [String] = []
        let monthFirst = dates.readsMonthFirst(unlessTold: profile.dateOrder)
        let ownForm = plan.type == .usDate && monthFirst
        if dates.dayMonth.count > 0 && !ownForm {
            let decided = dates.monthFirstOnly + dates.dayFirstOnly == 0
                ? "none of them says which comes first, so the profile's order decides"
                : dates.monthFirstOnly == dates.dayFirstOnly
                ? "as many of them can only be read one way as the other, so the profile's order decides"
                : "as \(count(max(dates.monthFirstOnly, dates.dayFirstOnly))) of them can only be read that way"
            parts.append("\(count(dates.dayMonth.count)) dates written day and month before the year, read "
                         + (monthFirst ? "month first (M/D/Y)" : "day first (D/M/Y)") + ", " + decided)
        }
        if dates.twoDigitYears.count > 0 {
            parts.append("\(count(dates.twoDigitYears.count)) with a two-digit year, read as a year from \(lastTwoDigitYear - 99) to \(lastTwoDigitYear)")
        }
        if dates.yearFirst.count > 0 {
            parts.append("\(count(dates.yearFirst.count)) written year first in another form than YYYY-MM-DD")
        }
        guard !parts.isEmpty else { return nil }
        let form = plan.type == .usDate ? "MM/DD/YYYY" : "YYYY-MM-DD"
        return "\(describe(plan, inList: false)): \(parts.joined(separator: "; ")). Export dates as \(form) to be sure they are read as meant"
    }

    private func count(_ value: Int) -> String { Figures.grouped(value) }
    private func rows(_ value: Int) -> String { Figures.rows(value) }
    private func values(_ value: Int) -> String { value == 1 ? "1 value" : "\(count(value)) values" }

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
            switch bulkModeColumns {
            case .accept, .normalise:
                if bulkModeColumns == .normalise { notes[plan.position].filledInMode.add(line) }
                // Ignored: what it holds is no reason to reject the row (a status of the
                // exporter's own, a spreadsheet's date-time).
                if !plan.isKey { return }
            case .reject, .fail:
                log.add(problem(line, column, "mode.\(rule.mode)-status", .row,
                                "\(describe(plan, inList: false)) must be blank in a \(rule.mode) file"))
            }
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
            } else if !inserted && spec.duplicates == .fail {
                log.add(problem(line, column, "row.duplicate-id", .fatal,
                                "the id in \(describe(plan, inList: false)) is on an earlier row: every reference to it is ambiguous, "
                                    + "so the file cannot be used"))
            }
        }
    }

    private mutating func checkValue(_ plan: ColumnPlan, _ value: UnsafeBufferPointer<UInt8>, line: Int, inList: Bool,
                                     log: inout ProblemLog, keys: [KeySet]) {
        let column = plan.index + 1
        var valid: Bool
        switch plan.type {
        case .text: valid = true
        case .enumeration:
            valid = plan.enumIndex.map { enums[$0].contains(value) } ?? true
            if !valid, valueCase != .reject, let index = plan.enumIndex, enums[index].containsOnceIgnoringCase(value) {
                valid = true
                notes[plan.position].otherCase.add(line)
            }
        case .date, .usDate: valid = checkDate(plan, value, line: line)
        case .datetime:
            valid = ValueChecks.isDateTime(value)
            if !valid, dateTimeForms != .reject, let form = ValueChecks.dateTimeForm(value) {
                valid = true
                switch form {
                case .withoutZone: notes[plan.position].withoutZone.add(line)
                case .offset: notes[plan.position].offset.add(line)
                case .dateOnly: notes[plan.position].dateOnly.add(line)
                case .spaceForT: notes[plan.position].spaceForT.add(line)
                }
            }
        case .boolean:
            valid = ValueChecks.isBoolean(value)
            if !valid, valueCase != .reject, ValueChecks.isBooleanIgnoringCase(value) {
                valid = true
                notes[plan.position].otherCase.add(line)
            }
        case .year: valid = ValueChecks.isYear(value)
        case .grade:
            valid = ValueChecks.isGrade(value)
            if !valid, gradeLeadingZero != .reject, ValueChecks.isGradeWithoutZero(value) {
                valid = true
                notes[plan.position].gradesWithoutZero.add(line)
            }
        case .flag:
            valid = ValueChecks.isFlag(value)
            if !valid, valueCase != .reject, ValueChecks.isFlagIgnoringCase(value) {
                valid = true
                notes[plan.position].otherCase.add(line)
            }
        }
        if !valid, let (code, expected) = Self.expectation(spec.columns[plan.specColumn]) {
            if ignoresUnreadable(plan) {
                notes[plan.position].ignored.add(line)
            } else {
                log.add(problem(line, column, code, plan.whenInvalid, "\(describe(plan, inList: inList)) is not \(expected)"))
            }
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

    /// Whether a date column's value is a date, in its own form or, as the tolerance allows, a
    /// regional one. Day-and-month dates only one order reads are kept as `OrderRow`s, for
    /// the column's order decided at its end.
    private mutating func checkDate(_ plan: ColumnPlan, _ value: UnsafeBufferPointer<UInt8>, line: Int) -> Bool {
        if plan.type == .date && ValueChecks.date(value) != nil { return true }
        if regionalDates == .reject { return plan.type == .usDate && ValueChecks.usDate(value) != nil }
        // YYYY-MM-DD cannot be misread: a US column takes it as it is.
        if ValueChecks.date(value) != nil { return true }
        switch ValueChecks.readDate(value, lastTwoDigitYear: lastTwoDigitYear) {
        case .invalid:
            return false
        case .yearFirst:
            dates[plan.position].yearFirst.add(line)
        case .dayMonth(let monthFirst, let dayFirst, let twoDigitYear):
            dates[plan.position].dayMonth.add(line)
            if twoDigitYear { dates[plan.position].twoDigitYears.add(line) }
            if monthFirst != nil && dayFirst != nil {
                dates[plan.position].either += 1
            } else if monthFirst != nil {
                dates[plan.position].monthFirstOnly += 1
                if dates[plan.position].monthFirstOnly <= Self.orderRowLimit {
                    orderRows.append(OrderRow(line: line, plan: plan.position, dayFirst: false))
                }
            } else {
                dates[plan.position].dayFirstOnly += 1
                if dates[plan.position].dayFirstOnly <= Self.orderRowLimit {
                    orderRows.append(OrderRow(line: line, plan: plan.position, dayFirst: true))
                }
            }
        }
        return true
    }

    /// Whether a value of the column that cannot be read is ignored, the row kept
    /// (`invalidOptionalValues`): in a column neither required nor an id, whose invalid values
    /// would cost the row.
    private func ignoresUnreadable(_ plan: ColumnPlan) -> Bool {
        invalidOptionalValues != .reject && plan.whenInvalid == .row && !plan.valueRequired && !plan.isID
    }

    /// How a message names the column (made only when there is a problem to report).
    private func describe(_ plan: ColumnPlan, inList: Bool) -> String {
        let name = spec.columns[plan.specColumn].name
        return inList ? "an element of column `\(name)`" : "column `\(name)`"
    }

    /// Checks an ordered pair on its row, or, when whether it is in order depends on how its
    /// columns' day-and-month dates are read, keeps the row for the end of the file.
    private mutating func checkOrder(_ index: Int, _ record: borrowing CSVRecord, log: inout ProblemLog) {
        let pair = pairs[index]
        guard let first = readings(record.field(pair.first), pair.firstType),
              let last = readings(record.field(pair.last), pair.lastType) else { return }
        // Each way the two columns may be read, as `PairRow.outOfOrder`. A way in which a
        // date cannot be read is none: the row is rejected for that (`value.date-order`).
        var outOfOrder: UInt8 = 0
        var inOrder: UInt8 = 0
        for reading in 0..<4 {
            guard let start = reading & 2 == 0 ? first.monthFirst : first.dayFirst,
                  let end = reading & 1 == 0 ? last.monthFirst : last.dayFirst else { continue }
            if start > end { outOfOrder |= 1 << reading } else { inOrder |= 1 << reading }
        }
        if outOfOrder == 0 { return }
        if inOrder == 0 {
            log.add(problem(record.line, pair.last + 1, "value.order", pair.severity,
                            "column `\(pair.pair.last)` is before column `\(pair.pair.first)`"))
        } else if pair.kept < Self.orderRowLimit {
            pairs[index].kept += 1
            pairRows.append(PairRow(line: record.line, pair: index, outOfOrder: outOfOrder))
        } else {
            if outOfOrder & 1 != 0 { pairs[index].unkept.0 += 1 }
            if outOfOrder & 2 != 0 { pairs[index].unkept.1 += 1 }
            if outOfOrder & 4 != 0 { pairs[index].unkept.2 += 1 }
            if outOfOrder & 8 != 0 { pairs[index].unkept.3 += 1 }
        }
    }

    /// The day a date or date-time field names read month first and read day first (the same
    /// day both ways for one that cannot be misread, nil for an order that cannot read it), or
    /// nil when it names none.
    private func readings(_ field: UnsafeBufferPointer<UInt8>, _ type: ValueType) -> (monthFirst: Int?, dayFirst: Int?)? {
        switch type {
        case .date, .usDate:
            if regionalDates == .reject {
                let day = type == .usDate ? ValueChecks.usDate(field) : ValueChecks.date(field)
                return day.map { ($0, $0) }
            }
            if let day = ValueChecks.date(field) { return (day, day) }
            switch ValueChecks.readDate(field, lastTwoDigitYear: lastTwoDigitYear) {
            case .yearFirst(let day): return (day, day)
            case .dayMonth(let monthFirst, let dayFirst, _): return (monthFirst, dayFirst)
            case .invalid: return nil
            }
        case .datetime:
            guard field.count >= 10, let day = ValueChecks.date(UnsafeBufferPointer(rebasing: field[0..<10])) else { return nil }
            return (day, day)
        default: return nil
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
        namedCount = (names.lastIndex { !$0.isEmpty } ?? -1) + 1
        // A name in another case is the column when the profile ignores case, or when the
        // tolerance takes header case.
        let headerCase = tolerance[.headerCase]
        func matches(_ a: String, _ b: String) -> Bool {
            same(a, b) || (headerCase != .fail && a.lowercased() == b.lowercased())
        }

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
            guard let index = names.firstIndex(where: { same($0, column.name) }) ?? names.firstIndex(where: { matches($0, column.name) })
            else { continue }
            position[specColumn] = index
            claimed[index] = true
            if names[index] != column.name && headerCase == .normalise {
                log.add(problem(1, index + 1, "header.case", .warning, "written in another case than `\(column.name)`; accepted"))
            }
        }

        var unknown: [Int] = []
        var firstExtension: Int?
        for (index, name) in names.enumerated() where !claimed[index] {
            if name.isEmpty && index >= namedCount {
                // Trailing empty columns (a spreadsheet's): said once below, or not at all.
                continue
            } else if name.isEmpty {
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

        if namedCount < names.count {
            switch trailingEmptyColumns {
            case .accept: break
            case .normalise:
                log.add(problem(1, namedCount + 1, "csv.trailing-empty", .warning,
                                "the header ends with \(names.count - namedCount) empty column(s): ignored"))
            case .reject, .fail:
                for index in namedCount..<names.count {
                    log.add(problem(1, index + 1, "header.empty", .warning, "a column without a name: ignored"))
                }
            }
        }

        var explained = Set<Int>()
        for (specColumn, column) in spec.columns.enumerated() where position[specColumn] == nil && column.required {
            if column.oftenOmitted && tolerance[.omittedColumns] != .fail {
                if tolerance[.omittedColumns] == .normalise {
                    log.add(problem(1, 0, "header.missing", .warning,
                                    "column `\(column.name)` is missing: the format requires it, but exports often leave it out, "
                                        + "so the rows are used without it"))
                }
                continue
            }
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
            if needed {
                plan.position = plans.count
                plans.append(plan)
            }
            if isKey { keyColumn = index }
        }
        notes = Array(repeating: ColumnNotes(), count: plans.count)
        dates = Array(repeating: DateColumn(), count: plans.count)
        for pair in spec.ordered {
            guard let first = spec.columns.firstIndex(where: { same($0.name, pair.first) }),
                  let last = spec.columns.firstIndex(where: { same($0.name, pair.last) }),
                  let firstIndex = position[first], let lastIndex = position[last] else { continue }
            let warningOnly = spec.columns[first].whenInvalid == .warning || spec.columns[last].whenInvalid == .warning
            pairs.append(PairPlan(first: firstIndex, firstType: spec.columns[first].type, last: lastIndex, lastType: spec.columns[last].type,
                                  pair: pair, severity: warningOnly ? .warning : .row,
                                  firstPlan: plans.first { $0.index == firstIndex }?.position,
                                  lastPlan: plans.first { $0.index == lastIndex }?.position))
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
