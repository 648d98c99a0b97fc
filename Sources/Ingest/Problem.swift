/// How bad a problem is, as FORMATS.md "Reporting" defines it.
public enum Severity: String, Sendable, Codable, Comparable {
    /// The row is skipped.
    case row
    /// The row is used, but something about it is off.
    case warning
    /// The file (or the epoch) cannot be used.
    case fatal

    private var rank: Int {
        switch self {
        case .warning: 0
        case .row: 1
        case .fatal: 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// One problem found in an upload. Messages describe, never quote: rows hold student data,
/// which must not reach logs.
public struct Problem: Sendable, Codable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based physical line where the record starts; 0 for the file as a whole.
    public var line: Int
    /// 1-based field number; 0 for the whole line or file.
    public var column: Int
    /// Stable and machine-readable, e.g. `csv.unterminated-quote`.
    public var code: String
    public var severity: Severity
    public var message: String

    public init(file: String, line: Int, column: Int, code: String, severity: Severity, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.code = code
        self.severity = severity
        self.message = message
    }

    public var description: String {
        "\(file):\(line):\(column): \(severity.rawValue): \(code): \(message)"
    }
}
