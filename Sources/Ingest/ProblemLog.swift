/// The problems of one validation run. A broken export can have a problem on every one of a
/// million rows: each code keeps its first `limitPerCode` reports and counts the rest.
public struct ProblemLog: Sendable {
    public private(set) var problems: [Problem] = []
    /// How many problems each code had, reported or not.
    public private(set) var counts: [String: Int] = [:]
    public let limitPerCode: Int
    /// How many problems of each severity were added, reported or not. Plain counters, so a
    /// reader of millions of rows can tell cheaply whether a row had a problem.
    public private(set) var rowProblems = 0
    public private(set) var warnings = 0
    public private(set) var fatals = 0

    public init(limitPerCode: Int = 100) {
        self.limitPerCode = limitPerCode
    }

    public mutating func add(_ problem: Problem) {
        let count = counts[problem.code, default: 0] + 1
        counts[problem.code] = count
        if count <= limitPerCode { problems.append(problem) }
        switch problem.severity {
        case .row: rowProblems += 1
        case .warning: warnings += 1
        case .fatal: fatals += 1
        }
    }

    /// Problems of a code beyond the limit, which `problems` does not list.
    public var unreported: [String: Int] {
        counts.filter { $0.value > limitPerCode }.mapValues { $0 - limitPerCode }
    }

    public var worst: Severity? { problems.map(\.severity).max() }
}
