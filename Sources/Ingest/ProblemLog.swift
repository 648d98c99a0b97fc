/// The problems of one validation run. A broken export can have a problem on every one of a
/// million rows: each code keeps its first `limitPerCode` reports and counts the rest, and
/// every problem is also counted in its group (same file, code, column and severity), which
/// is what a person reads: one line per group, with an exact count.
public struct ProblemLog: Sendable {
    public private(set) var problems: [Problem] = []
    public let limitPerCode: Int
    /// How many problems of each severity were added, reported or not. Plain counters, so a
    /// reader of millions of rows can tell cheaply whether a row had a problem.
    public private(set) var rowProblems = 0
    public private(set) var warnings = 0
    public private(set) var fatals = 0
    /// The groups in the order their first problem came.
    public private(set) var groups: [ProblemGroup] = []
    /// Where each group is, looked up once there are more than `scannedGroups`.
    private var groupIndex: [ProblemGroup.Key: Int] = [:]
    /// Up to this many groups are found by comparing with each, newest first: a broken export
    /// repeats a few problems row after row, and comparing a column number, then strings
    /// that are the same storage each time, costs less than hashing two strings per problem.
    private static let scannedGroups = 16
    /// The codes seen and how many problems each had, and for each group the index of its
    /// code: a problem is counted for its code through its group, without hashing the code.
    private var codes: [String] = []
    private var codeCounts: [Int] = []
    private var groupCodes: [Int] = []

    public init(limitPerCode: Int = 100) {
        self.limitPerCode = limitPerCode
    }

    public mutating func add(_ problem: Problem) {
        switch problem.severity {
        case .row: rowProblems += 1
        case .warning: warnings += 1
        case .fatal: fatals += 1
        }
        let index = group(of: problem)
        let code = groupCodes[index]
        codeCounts[code] += 1
        if codeCounts[code] <= limitPerCode { problems.append(problem) }
    }

    /// Counts `problem` in its group, made if it is the first of it; returns the group's index.
    private mutating func group(of problem: Problem) -> Int {
        if groups.count <= Self.scannedGroups {
            for index in groups.indices.reversed() where groups[index].holds(problem) {
                groups[index].count(problem)
                return index
            }
        } else if let index = groupIndex[ProblemGroup.Key(problem)] {
            groups[index].count(problem)
            return index
        }
        let index = groups.count
        groupIndex[ProblemGroup.Key(problem)] = index
        groups.append(ProblemGroup(problem))
        if let code = codes.firstIndex(of: problem.code) {
            groupCodes.append(code)
        } else {
            groupCodes.append(codes.count)
            codes.append(problem.code)
            codeCounts.append(0)
        }
        return index
    }

    /// How many problems each code had, reported or not.
    public var counts: [String: Int] {
        Dictionary(uniqueKeysWithValues: zip(codes, codeCounts))
    }

    /// Problems of a code beyond the limit, which `problems` does not list.
    public var unreported: [String: Int] {
        counts.filter { $0.value > limitPerCode }.mapValues { $0 - limitPerCode }
    }

    public var worst: Severity? { problems.map(\.severity).max() }

    /// The groups, most serious first (fatal, then rejected rows, then warnings), each severity
    /// in the order its groups' first problems came.
    public var groupsBySeverity: [ProblemGroup] {
        groups.enumerated().sorted { a, b in
            a.element.severity != b.element.severity ? a.element.severity > b.element.severity : a.offset < b.offset
        }.map(\.element)
    }
}

/// The problems of one file with one code in one column (and one severity): how many there
/// were, exactly, and where the first few are.
public struct ProblemGroup: Sendable, Codable, Equatable {
    public var file: String
    public var code: String
    /// 1-based field number; 0 for the whole line or file.
    public var column: Int
    public var severity: Severity
    /// Every problem of the group, whether `ProblemLog.problems` lists it or not.
    public var count: Int
    /// The first lines the group's problems are on, each once, up to `keptLines`; none for
    /// problems of a whole file.
    public var lines: [Int]
    /// The first problem's message: the group's problems say the same of different rows.
    public var message: String

    /// Lines kept per group: enough to find the problem in a file, few enough to read.
    public static let keptLines = 3

    init(_ problem: Problem) {
        file = problem.file
        code = problem.code
        column = problem.column
        severity = problem.severity
        count = 1
        lines = problem.line > 0 ? [problem.line] : []
        message = problem.message
    }

    func holds(_ problem: Problem) -> Bool {
        column == problem.column && severity == problem.severity && code == problem.code && file == problem.file
    }

    mutating func count(_ problem: Problem) {
        count += 1
        // A list column can have two problems on one line; it is listed once.
        if lines.count < Self.keptLines, problem.line > 0, !lines.contains(problem.line) { lines.append(problem.line) }
    }

    struct Key: Hashable {
        var file: String
        var code: String
        var column: Int
        var severity: Severity

        init(_ problem: Problem) {
            file = problem.file
            code = problem.code
            column = problem.column
            severity = problem.severity
        }
    }
}
