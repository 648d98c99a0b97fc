import Foundation

/// Decides whether a validated set succeeded: `succeeded` means a downstream system can use it
/// (FORMATS.md, "What an outcome means"). A set fails when
///
/// 1. any problem is fatal (a file, or the set, cannot be used); or
/// 2. it is a bulk set and a required file (`FileSpec.required`) is not in it, or ends with no
///    accepted rows. A bulk set is one without a manifest, or whose manifest gives no file as
///    `delta`; a delta set holds changes only and may leave any file out, and a manifest that
///    gives every file as `absent` is OneRoster's "no changes"; or
/// 3. a data file rejects more than `Profile.maxRejectedRatio` of its rows.
///
/// Order (timeouts, older sets), mass drops and the hand-off are the processor's, not this.
public enum OutcomeRule {
    /// Which rule decided.
    public enum Name: String, Sendable, Codable {
        /// A fatal problem (rule 1).
        case fatalProblem = "fatal-problem"
        /// A required file is not in a bulk set (rule 2).
        case requiredFileMissing = "required-file-missing"
        /// A required file of a bulk set has no accepted rows (rule 2).
        case requiredFileEmpty = "required-file-empty"
        /// A file rejected more than the limit (rule 3).
        case tooManyRejected = "too-many-rejected"
        /// No rule failed the set: every file within the limit.
        case withinLimit = "within-limit"
        /// A manifest that gives every file as absent: nothing to change, nothing to fail.
        case noChanges = "no-changes"
    }

    /// The decision, with the numbers the rule looked at and the words a person reads.
    public struct Decision: Sendable, Codable, Equatable {
        public var succeeded: Bool
        public var name: Name
        /// The file the rule is about; nil when it is about the whole set.
        public var file: String?
        /// The rows the rule counted: the file's, or (set-wide rules) every data file's.
        public var rows: Int
        public var accepted: Int
        public var rejected: Int
        /// Fatal problems, for `fatal-problem`.
        public var fatalProblems: Int?
        /// `Profile.maxRejectedRatio`.
        public var limit: Double
        /// The rule and its numbers in plain words, without the outcome:
        /// "users.csv rejected 40 of 40 rows (100 %), above the 5 % limit".
        public var detail: String

        /// What the log opens with: the outcome and `detail`.
        public var sentence: String { (succeeded ? "Succeeded: " : "Failed: ") + detail }
    }

    /// Applies the rules in the order above; the first that fails the set decides, and names
    /// the worst file when several break one rule.
    public static func decide(_ report: ValidationReport, profile: Profile) -> Decision {
        let data = dataFiles(report)
        let totals = RowTotals(data)
        let limit = profile.maxRejectedRatio
        let limitText = Figures.percent(limit)

        if report.problems.fatals > 0 {
            let count = report.problems.fatals
            let first = report.problems.groups.first { $0.severity == .fatal }
            var detail = count == 1 ? "a problem makes the set unusable" : "\(Figures.grouped(count)) problems make the set unusable"
            if let first {
                let place = first.lines.first.map { " line \(Figures.grouped($0))" } ?? ""
                detail += count == 1 ? ": " : "; the first: "
                detail += "\(first.file)\(place): \(first.message)"
            }
            return Decision(succeeded: false, name: .fatalProblem, file: first?.file, rows: totals.rows, accepted: totals.accepted,
                            rejected: totals.rejected, fatalProblems: count, limit: limit, detail: detail)
        }

        if !report.modes.isEmpty && report.modes.values.allSatisfy({ $0 == Manifest.absent }) {
            return Decision(succeeded: true, name: .noChanges, file: nil, rows: 0, accepted: 0, rejected: 0, limit: limit,
                            detail: "the manifest gives every file as absent: no changes")
        }

        if !report.isDelta {
            for spec in profile.files where spec.required && !data.contains(where: { $0.role == spec.name }) {
                return Decision(succeeded: false, name: .requiredFileMissing, file: spec.fileName, rows: 0, accepted: 0, rejected: 0,
                                limit: limit, detail: "\(spec.fileName) (required) is not in the set; a full (bulk) set must include it")
            }
        }

        // "More than" the limit: a file at exactly the limit passes.
        let over = data.filter { $0.rows > 0 && Double($0.rejected) > limit * Double($0.rows) }
            .sorted { Double($0.rejected) / Double($0.rows) > Double($1.rejected) / Double($1.rows) }
        if let worst = over.first {
            var detail = "\(worst.path) rejected \(Figures.grouped(worst.rejected)) of \(Figures.rows(worst.rows)) "
                + "(\(Figures.percent(worst.rejected, of: worst.rows, apartFrom: limit))), above the \(limitText) limit"
            let others = over.dropFirst().map(\.path)
            if !others.isEmpty {
                let named = others.prefix(3).joined(separator: ", ") + (others.count > 3 ? " and \(others.count - 3) more" : "")
                detail += " (so \(others.count == 1 ? "is" : "are") \(named))"
            }
            return Decision(succeeded: false, name: .tooManyRejected, file: worst.path, rows: worst.rows, accepted: worst.accepted,
                            rejected: worst.rejected, limit: limit, detail: detail)
        }

        if !report.isDelta {
            for spec in profile.files where spec.required {
                guard let file = data.first(where: { $0.role == spec.name }), file.accepted == 0 else { continue }
                let rejected = file.rows == 0 ? "" : ": all \(Figures.grouped(file.rows)) were rejected"
                return Decision(succeeded: false, name: .requiredFileEmpty, file: file.path, rows: file.rows, accepted: 0,
                                rejected: file.rejected, limit: limit, detail: "\(file.path) (required) has no accepted rows\(rejected)")
            }
        }

        let detail: String
        if totals.rejected == 0 {
            detail = totals.rows == 1 ? "its one row accepted" : "all \(Figures.rows(totals.rows)) accepted"
        } else {
            detail = "\(Figures.grouped(totals.accepted)) of \(Figures.rows(totals.rows)) accepted; \(Figures.grouped(totals.rejected)) rejected "
                + "(\(Figures.percent(totals.rejected, of: totals.rows, apartFrom: nil))), no file above the \(limitText) limit"
        }
        return Decision(succeeded: true, name: .withinLimit, file: nil, rows: totals.rows, accepted: totals.accepted,
                        rejected: totals.rejected, limit: limit, detail: detail)
    }

    /// The files of the set that were used as one of the profile's files: not the manifest,
    /// not a file the manifest gives as absent, not an ignored one.
    public static func dataFiles(_ report: ValidationReport) -> [FileReport] {
        report.files.filter { $0.role != nil && $0.mode != Manifest.absent }
    }
}

/// Row counts added up over a set's data files.
public struct RowTotals: Sendable, Codable, Equatable {
    public var rows = 0
    public var accepted = 0
    public var rejected = 0
    public var warned = 0

    public init(_ files: [FileReport]) {
        for file in files {
            rows += file.rows
            accepted += file.accepted
            rejected += file.rejected
            warned += file.warned
        }
    }
}

/// Numbers as a district's IT person reads them: `10,443`, `0.03 %`.
public enum Figures {
    /// Digits grouped by thousands with commas.
    public static func grouped(_ number: Int) -> String {
        let digits = String(number.magnitude)
        var text = number < 0 ? "-" : ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    /// `1 row`, `10,446 rows`.
    public static func rows(_ count: Int) -> String {
        count == 1 ? "1 row" : "\(grouped(count)) rows"
    }

    /// A ratio (0.05) as a percentage (`5 %`, `2.5 %`).
    public static func percent(_ ratio: Double) -> String {
        var text = String(format: "%.4f", ratio * 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + " %"
    }

    /// `part` of `whole` as a percentage, with as few decimals as keep it honest: a whole
    /// number when it is one, never shown as 0 % or 100 % when it is not, and never shown
    /// equal to the limit (a ratio) it is compared with when it is not equal.
    public static func percent(_ part: Int, of whole: Int, apartFrom limit: Double?) -> String {
        guard whole > 0 else { return "0 %" }
        let value = Double(part) * 100 / Double(whole)
        if value == value.rounded() { return "\(Int(value)) %" }
        let misleading = [0, 100] + (limit.map { [($0 * 100 * 1e6).rounded() / 1e6] } ?? [])
        for decimals in (value < 1 ? 2 : 1)...6 {
            let text = String(format: "%.\(decimals)f", value)
            if let shown = Double(text), !misleading.contains(shown) { return text + " %" }
        }
        return String(format: "%.6f", value) + " %"
    }
}
