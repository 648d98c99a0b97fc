/// What a profile does with each way real exports deviate from their format. A `strictness`
/// chooses a preset; a profile's `tolerance` object changes single entries of it. Nothing about a
/// deviation is decided in code but how to recognise it: docs/profiles.md, "Tolerance", has the
/// table of presets and what each deviation is.
public enum Deviation: String, Sendable, Codable, CaseIterable {
    /// An enum or boolean value in another case where only one value matches (`TRUE`, `Active`).
    case valueCase
    /// A header name in another case than a case-sensitive profile's (`SourcedId` for
    /// `sourcedId`); `fail` keeps the profile's rule: the column is missing.
    case headerCase
    /// A header that ends with empty names (`a,b,c,,`, a spreadsheet's), and rows that stop
    /// before them or leave them empty. Rows longer than the header, with a value under an empty
    /// name, or that stop part way through the empty names are never taken: an unquoted comma
    /// shifts fields there.
    case trailingEmptyColumns
    /// Dates in a regional form: `M/D/YYYY`, `D/M/YYYY`, two-digit years, `YYYY/MM/DD`,
    /// `D.M.YYYY`. Whether the day or the month comes first is decided for the whole column.
    case regionalDates
    /// Date-times without a zone (read as UTC), with an offset (converted to UTC), with a space
    /// for the `T`, or dates alone (midnight UTC).
    case dateTimeForms
    /// A grade without its leading zero (`1` for `01`: a spreadsheet's work).
    case gradeLeadingZero
    /// Columns a bulk file must leave blank (`status`, `dateLastModified`) filled in.
    case bulkModeColumns
    /// A column the format's publisher requires and real exporters omit (`"oftenOmitted": true`).
    case omittedColumns
    /// A value that cannot be read in a column that is neither required nor an id.
    case invalidOptionalValues
}

/// What is done with a deviation.
public enum Treatment: String, Sendable, Codable, CaseIterable {
    /// Taken as meant, without a word.
    case accept
    /// Taken as meant, and one warning per column says how it was read.
    case normalise
    /// The row is rejected (a column problem), or for an omitted column, nothing is checked.
    case reject
    /// The file cannot be used: the set fails.
    case fail
}

/// The treatment of every deviation, as a profile and the store's strictness resolve it.
public struct Tolerance: Sendable, Equatable {
    private var treatments: [Treatment]

    public subscript(_ deviation: Deviation) -> Treatment {
        get { treatments[Self.index(deviation)] }
        set { treatments[Self.index(deviation)] = newValue }
    }

    private static func index(_ deviation: Deviation) -> Int {
        Deviation.allCases.firstIndex(of: deviation)!
    }

    /// The preset of a strictness (docs/profiles.md, "Tolerance").
    public static func preset(_ strictness: Strictness) -> Tolerance {
        var tolerance = Tolerance(treatments: Array(repeating: .accept, count: Deviation.allCases.count))
        for deviation in Deviation.allCases {
            tolerance[deviation] = switch (deviation, strictness) {
            case (.valueCase, .strict): .reject
            case (.valueCase, _): .accept
            case (.headerCase, .strict): .fail
            case (.headerCase, _): .accept
            case (.trailingEmptyColumns, .strict): .reject
            case (.trailingEmptyColumns, _): .accept
            case (.regionalDates, .strict), (.dateTimeForms, .strict), (.gradeLeadingZero, .strict): .reject
            case (.regionalDates, _), (.dateTimeForms, _), (.gradeLeadingZero, _): .normalise
            case (.bulkModeColumns, .strict): .reject
            case (.bulkModeColumns, .standard): .normalise
            case (.bulkModeColumns, .lenient): .accept
            case (.omittedColumns, .strict): .fail
            case (.omittedColumns, _): .normalise
            case (.invalidOptionalValues, .lenient): .normalise
            case (.invalidOptionalValues, _): .reject
            }
        }
        return tolerance
    }

    /// The treatments a deviation may be given: a value is taken, or its row rejected; an
    /// omitted column is worked without, or the file fails.
    public static func allowed(_ deviation: Deviation) -> [Treatment] {
        switch deviation {
        case .omittedColumns: [.accept, .normalise, .fail]
        case .headerCase: [.accept, .normalise, .fail]
        default: [.accept, .normalise, .reject]
        }
    }
}

extension Profile {
    /// The tolerance this profile validates with: its own strictness or the store's, with the
    /// entries its `tolerance` object sets.
    public func tolerance(storeStrictness: Strictness) -> Tolerance {
        var resolved = Tolerance.preset(strictness ?? storeStrictness)
        for (deviation, treatment) in toleranceOverrides { resolved[deviation] = treatment }
        return resolved
    }
}

/// How a column of dates that could be read either way (`1/5/2025`) is read when no date in
/// it says which comes first.
public enum DateOrder: String, Sendable, Codable, CaseIterable {
    case monthFirst, dayFirst
}
