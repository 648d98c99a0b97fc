/// The time an epoch directory's name stands for (FORMATS.md "Epoch directory names"):
/// 10-digit Unix seconds (`1764374400`) or ISO-8601 basic UTC (`20261129T020000Z`; the
/// extended form has `:`, which Windows clients cannot create). Epochs of a district are
/// processed in the order of this time.
public struct EpochName: Sendable, Equatable, Comparable {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let seconds: Int64

    /// How far ahead of the server's clock a name may be before it is refused: a client's
    /// clock a little fast, or a timezone mistake, but not a typo a year out.
    public static let allowedFuture: Int64 = 36 * 3600

    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        /// Neither form: the epoch stays in upload/ for staff.
        case notAnEpochName
        /// A date that does not exist (month 13, 30 February, hour 24).
        case invalidDate
        /// Further ahead than `allowedFuture`.
        case inTheFuture(seconds: Int64)

        public var description: String {
            switch self {
            case .notAnEpochName:
                "not an epoch name: use Unix seconds (1764374400) or UTC date-time 20261129T020000Z"
            case .invalidDate:
                "the name is shaped like a date-time, but that date-time does not exist"
            case .inTheFuture(let seconds):
                "the name is \(seconds / 3600) hours ahead of the server's clock"
            }
        }
    }

    public init(seconds: Int64) { self.seconds = seconds }

    /// Parses a directory name; `now` (Unix seconds) bounds how far in the future it may be.
    public init(parsing name: String, now: Int64) throws(Refusal) {
        let bytes = Array(name.utf8)
        func digits(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            return value
        }
        let seconds: Int64
        if bytes.count == 10, let value = digits(0..<10) {
            seconds = value
        } else if bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z"),
                  let year = digits(0..<4), let month = digits(4..<6), let day = digits(6..<8),
                  let hour = digits(9..<11), let minute = digits(11..<13), let second = digits(13..<15) {
            guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: Int(month), year: Int(year)),
                  hour < 24, minute < 60, second < 60 else { throw .invalidDate }
            seconds = Self.daysSinceEpoch(year: year, month: month, day: day) * 86400 + hour * 3600 + minute * 60 + second
        } else {
            throw .notAnEpochName
        }
        guard seconds <= now + Self.allowedFuture else { throw .inTheFuture(seconds: seconds - now) }
        self.seconds = seconds
    }

    public static func < (a: EpochName, b: EpochName) -> Bool { a.seconds < b.seconds }

    private static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    /// Days in a month (1-12) of the proleptic Gregorian calendar; dates in uploads are
    /// checked with it too.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the date (proleptic Gregorian calendar).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        // Howard Hinnant's days_from_civil, with years starting in March.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }
}

/// What a file's name says about its part in an epoch, before its contents are looked at.
public enum FileRole: Sendable, Equatable {
    /// A file still being written under a temporary name: the epoch cannot seal while it exists.
    case temporary
    /// Operating-system or editor litter: never processed, never blocks sealing, reported.
    case stray
    /// A marker (`.done`, `_SUCCESS` by default) that seals the epoch once closed cleanly.
    case marker
    /// Anything else: data for the profile to recognise.
    case data

    /// The default marker names (configurable per district).
    public static let defaultMarkers: Set<String> = [".done", "_SUCCESS"]

    public static func of(_ name: String, markers: Set<String> = defaultMarkers) -> FileRole {
        if markers.contains(name) { return .marker }
        let lower = name.lowercased()
        if lower.hasSuffix(".filepart") || lower.hasSuffix(".part") || lower.hasSuffix(".tmp") || name.hasPrefix(".in.") {
            return .temporary
        }
        if name.hasPrefix("~$") || lower == "thumbs.db" || name == ".DS_Store" || name.hasPrefix("._") || lower == "desktop.ini" {
            return .stray
        }
        return .data
    }
}
