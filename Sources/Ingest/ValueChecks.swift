#if canImport(Glibc)
import Glibc
#endif

/// Checks of single field values against a `ValueType`, made on the field's bytes: a
/// validation run checks millions of fields and must not make a String for each.
enum ValueChecks {
    typealias Bytes = UnsafeBufferPointer<UInt8>

    /// `YYYY-MM-DD` as the number YYYYMMDD (comparable), or nil when malformed or not a real date.
    static func date(_ field: Bytes) -> Int? {
        guard field.count == 10, field[4] == dash, field[7] == dash,
              let year = number(field, 0, 4), let month = number(field, 5, 2), let day = number(field, 8, 2),
              exists(year: year, month: month, day: day) else { return nil }
        return year * 10_000 + month * 100 + day
    }

    /// `MM/DD/YYYY` (month and day may have one digit) as YYYYMMDD, or nil.
    static func usDate(_ field: Bytes) -> Int? {
        guard let firstSlash = field.firstIndex(of: slash), firstSlash >= 1, firstSlash <= 2 else { return nil }
        let rest = firstSlash + 1
        guard let secondSlash = field[rest...].firstIndex(of: slash), secondSlash - rest >= 1, secondSlash - rest <= 2,
              field.count - secondSlash - 1 == 4,
              let month = number(field, 0, firstSlash), let day = number(field, rest, secondSlash - rest),
              let year = number(field, secondSlash + 1, 4),
              exists(year: year, month: month, day: day) else { return nil }
        return year * 10_000 + month * 100 + day
    }

    /// A date as a regional export may write it, for a column whose own form it is not.
    enum DateReading: Equatable {
        /// Year first, in another form than `YYYY-MM-DD`: `YYYY/MM/DD`, `YYYY-M-D`, `YYYY.MM.DD`.
        case yearFirst(Int)
        /// Day and month in either order, then the year (`1/5/2025`, `25.12.2010`, `11/1/98`):
        /// the date each order reads, when it exists.
        case dayMonth(monthFirst: Int?, dayFirst: Int?, twoDigitYear: Bool)
        case invalid
    }

    /// Reads the regional forms of a date: three runs of digits with one separator (`/`, `-` or
    /// `.`) between them, a four-digit year first, or last with four or two digits. A two-digit
    /// year is read in the hundred years that end with `lastTwoDigitYear`.
    static func readDate(_ field: Bytes, lastTwoDigitYear: Int) -> DateReading {
        // Three runs of digits, each at most four long (a Clever column has one on every row:
        // no allocation here).
        var values = (0, 0, 0)
        var lengths = (0, 0, 0)
        var separator: UInt8 = 0
        var run = 0
        var index = 0
        while true {
            var value = 0
            let start = index
            while index < field.count, isDigit(field[index]), index - start < 4 {
                value = value * 10 + Int(field[index] - zero)
                index += 1
            }
            let length = index - start
            guard length > 0 else { return .invalid }
            switch run {
            case 0: (values.0, lengths.0) = (value, length)
            case 1: (values.1, lengths.1) = (value, length)
            default: (values.2, lengths.2) = (value, length)
            }
            run += 1
            if index == field.count { break }
            let byte = field[index]
            guard run < 3, byte == slash || byte == dash || byte == UInt8(ascii: "."), separator == 0 || separator == byte else {
                return .invalid
            }
            separator = byte
            index += 1
        }
        guard run == 3 else { return .invalid }
        if lengths.0 == 4 {
            let (year, month, day) = values
            guard lengths.1 <= 2, lengths.2 <= 2, exists(year: year, month: month, day: day) else { return .invalid }
            return .yearFirst(year * 10_000 + month * 100 + day)
        }
        guard lengths.0 <= 2, lengths.1 <= 2, lengths.2 == 4 || lengths.2 == 2 else { return .invalid }
        let (first, second) = (values.0, values.1)
        var year = values.2
        let twoDigitYear = lengths.2 == 2
        if twoDigitYear {
            let century = lastTwoDigitYear / 100 * 100
            year += century + year <= lastTwoDigitYear ? century : century - 100
        }
        let monthFirst = exists(year: year, month: first, day: second) ? year * 10_000 + first * 100 + second : nil
        let dayFirst = exists(year: year, month: second, day: first) ? year * 10_000 + second * 100 + first : nil
        if monthFirst == nil && dayFirst == nil { return .invalid }
        return .dayMonth(monthFirst: monthFirst, dayFirst: dayFirst, twoDigitYear: twoDigitYear)
    }

    /// The other forms of a date-time real exports write, each read as one instant.
    enum DateTimeForm: Equatable {
        /// No zone: read as UTC.
        case withoutZone
        /// An offset other than UTC's: converted.
        case offset
        /// A date alone: midnight UTC.
        case dateOnly
        /// A space for the `T`, in UTC.
        case spaceForT
    }

    /// Which other form of an ISO-8601 date-time `field` is, or nil when it is none (or is the
    /// form `isDateTime` takes). A space may stand for the `T`.
    static func dateTimeForm(_ field: Bytes) -> DateTimeForm? {
        if field.count == 10 { return date(field) != nil ? .dateOnly : nil }
        guard field.count >= 19, date(UnsafeBufferPointer(rebasing: field[0..<10])) != nil,
              field[10] == UInt8(ascii: "T") || field[10] == UInt8(ascii: " "),
              field[13] == colon, field[16] == colon,
              let hour = number(field, 11, 2), let minute = number(field, 14, 2), let second = number(field, 17, 2),
              hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        if index < field.count, field[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < field.count, isDigit(field[index]) { index += 1 }
            guard index > start else { return nil }
        }
        let zone = field.count - index
        if zone == 0 { return .withoutZone }
        if zone == 1 { return field[index] == UInt8(ascii: "Z") && field[10] == UInt8(ascii: " ") ? .spaceForT : nil }
        // +HH:MM or +HHMM
        guard field[index] == UInt8(ascii: "+") || field[index] == dash, zone == 6 || zone == 5,
              let hours = number(field, index + 1, 2), hours <= 14 else { return nil }
        let minutesAt = zone == 6 ? index + 4 : index + 3
        guard zone == 5 || field[index + 3] == colon, let minutes = number(field, minutesAt, 2), minutes < 60 else { return nil }
        return .offset
    }

    /// ISO-8601 UTC date-time: `YYYY-MM-DDTHH:MM:SS`, an optional `.fraction`, then `Z` or `+00:00`.
    static func isDateTime(_ field: Bytes) -> Bool {
        guard field.count >= 20, date(UnsafeBufferPointer(rebasing: field[0..<10])) != nil, field[10] == UInt8(ascii: "T"),
              field[13] == colon, field[16] == colon,
              let hour = number(field, 11, 2), let minute = number(field, 14, 2), let second = number(field, 17, 2),
              hour < 24, minute < 60, second < 61 else { return false }
        var index = 19
        if field[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < field.count, isDigit(field[index]) { index += 1 }
            guard index > start else { return false }
        }
        let zone = field.count - index
        if zone == 1 { return field[index] == UInt8(ascii: "Z") }
        if zone == 6 {
            return field[index] == UInt8(ascii: "+") && field[index + 1] == zero && field[index + 2] == zero
                && field[index + 3] == colon && field[index + 4] == zero && field[index + 5] == zero
        }
        return false
    }

    static func isBoolean(_ field: Bytes) -> Bool {
        equals(field, "true") || equals(field, "false")
    }

    /// `true` or `false` in any case (`TRUE`, `False`: a spreadsheet's).
    static func isBooleanIgnoringCase(_ field: Bytes) -> Bool {
        equalsIgnoringCase(field, "true") || equalsIgnoringCase(field, "false")
    }

    /// A grade of 1 to 9 that lost its leading zero (`1` for `01`).
    static func isGradeWithoutZero(_ field: Bytes) -> Bool {
        field.count == 1 && field[0] >= UInt8(ascii: "1") && field[0] <= UInt8(ascii: "9")
    }

    static func isYear(_ field: Bytes) -> Bool {
        field.count == 4 && number(field, 0, 4) != nil
    }

    static func isFlag(_ field: Bytes) -> Bool {
        field.count == 1 && (field[0] == UInt8(ascii: "Y") || field[0] == UInt8(ascii: "N"))
    }

    static func isFlagIgnoringCase(_ field: Bytes) -> Bool {
        field.count == 1 && (field[0] == UInt8(ascii: "y") || field[0] == UInt8(ascii: "n"))
    }

    /// A CEDS grade code: IT, PR, PK, TK, KG, 01–13, PS, UG, Other.
    static func isGrade(_ field: Bytes) -> Bool {
        if field.count == 2 {
            if let value = number(field, 0, 2) { return value >= 1 && value <= 13 }
            for code in gradeLetters where field[0] == code.0 && field[1] == code.1 { return true }
            return false
        }
        return equals(field, "Other")
    }

    /// What a spreadsheet makes of a long number: `1.23E+15`. The digits past the precision
    /// are gone, so the id cannot be recovered.
    static func looksScientific(_ field: Bytes) -> Bool {
        // One pass, left to right: most ids fail at the second byte.
        guard field.count >= 4, isDigit(field[0]) else { return false }
        var index = 1
        if field[index] == UInt8(ascii: ".") { index += 1 }
        while index < field.count, isDigit(field[index]) { index += 1 }
        guard index < field.count, field[index] == UInt8(ascii: "E") || field[index] == UInt8(ascii: "e") else { return false }
        index += 1
        if index < field.count, field[index] == UInt8(ascii: "+") || field[index] == UInt8(ascii: "-") { index += 1 }
        let exponent = index
        while index < field.count, isDigit(field[index]) { index += 1 }
        return index == field.count && index > exponent
    }

    /// Whether the field's bytes are exactly `text`'s UTF-8.
    static func equals(_ field: Bytes, _ text: StaticString) -> Bool {
        field.count == text.utf8CodeUnitCount && memcmp(field.baseAddress!, text.utf8Start, field.count) == 0
    }

    /// Whether the field's bytes are `text`'s (lower-case ASCII) in any case.
    static func equalsIgnoringCase(_ field: Bytes, _ text: StaticString) -> Bool {
        guard field.count == text.utf8CodeUnitCount else { return false }
        for index in 0..<field.count where lower(field[index]) != text.utf8Start[index] { return false }
        return true
    }

    /// An ASCII letter in lower case; any other byte as it is.
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    private static let dash = UInt8(ascii: "-")
    private static let slash = UInt8(ascii: "/")
    private static let colon = UInt8(ascii: ":")
    private static let zero = UInt8(ascii: "0")
    private static let gradeLetters: [(UInt8, UInt8)] = ["IT", "PR", "PK", "TK", "KG", "PS", "UG"].map {
        let bytes = Array($0.utf8)
        return (bytes[0], bytes[1])
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// The decimal number of `count` digits at `start`, or nil if one is not a digit.
    private static func number(_ field: Bytes, _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for index in start..<(start + count) {
            let byte = field[index]
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - zero)
        }
        return value
    }

    private static func exists(year: Int, month: Int, day: Int) -> Bool {
        guard month >= 1 && month <= 12 && day >= 1 else { return false }
        return day <= EpochName.daysIn(month: month, year: year)
    }
}

/// The allowed values of an enum column as bytes, compared without making Strings.
struct ByteEnum {
    private let values: [[UInt8]]

    init(_ values: [String]) {
        self.values = values.map { Array($0.utf8) }
    }

    func contains(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        for value in values where value.count == field.count {
            let same = value.withUnsafeBufferPointer { memcmp($0.baseAddress!, field.baseAddress!, field.count) == 0 }
            if same { return true }
        }
        return false
    }

    /// Whether exactly one value equals the field in another case (`Active` for `active`): two
    /// would make its meaning ambiguous.
    func containsOnceIgnoringCase(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        var matches = 0
        for value in values where value.count == field.count {
            if zip(value, field).allSatisfy({ ValueChecks.lower($0) == ValueChecks.lower($1) }) { matches += 1 }
        }
        return matches == 1
    }
}
