@testable import EpochPipeline
import Foundation
import Ingest
import Testing

/// The log a district's IT person reads: the outcome and why first, then one line per group of
/// problems with an exact count and what to do, and never a value from a row.
@Suite struct ProcessingLogTests {
    static let schools = "School_id,School_name,School_number\nsch1,North High,101\n"

    /// Clever students, `bad` of them (every 7th row, from the first) at a school that schools.csv does not have.
    static func students(_ count: Int, bad: Int) -> String {
        var text = "School_id,Student_id,Last_name,First_name\n"
        var left = bad
        for n in 0..<count {
            let broken = left > 0 && n % 7 == 0
            if broken { left -= 1 }
            text += "\(broken ? "Nosuch\(n)" : "sch1"),st\(n),Family\(n),Given\(n)\n"
        }
        return text
    }

    /// Validates `set` as Clever (with a `.done` marker beside it) and makes the published result.
    private func publish(_ set: [String: String]) throws -> ProcessingResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var files: [SetFile] = []
        for (name, text) in (set.map { ($0.key, $0.value) } + [(".done", "")]).sorted(by: { $0.0 < $1.0 }) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
            files.append(SetFile(path: name, location: directory + "/" + name, size: Int64(text.utf8.count)))
        }
        let profile = ProfileLibrary.builtIn.first { $0.name == "clever" }!
        let report = try Validator.validate(files, profile: profile)
        let decision = OutcomeRule.decide(report, profile: profile)
        return ProcessingResult(
            district: "alpha", epoch: "1764374400", outcome: decision.succeeded ? "succeeded" : "failed",
            reason: decision.succeeded ? "" : decision.detail, profile: "clever", set: "bulk",
            files: files.map { file in
                let found = report.files.first { $0.path == file.path }
                return .init(path: file.path, size: file.size, sha256: "0", role: found?.role, rows: found?.rows,
                             accepted: found?.accepted, rejected: found?.rejected, warned: found?.warned)
            },
            markers: [".done"], totals: RowTotals(OutcomeRule.dataFiles(report)), rule: decision,
            problems: report.problems.problems, unreportedProblems: report.problems.unreported,
            problemGroups: report.problems.groupsBySeverity,
            timings: .init(sealed: "", processingStarted: "", published: "", validationSeconds: 0))
    }

    @Test func aRepeatedProblemIsOneLineWithAnExactCountAndNoRowValue() throws {
        let result = try publish(["schools.csv": Self.schools, "students.csv": Self.students(13_000, bad: 1_765)])
        let log = result.logText()
        let lines = log.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == ["Processing FAILED: alpha/1764374400",
                                           "Failed: students.csv rejected 1,765 of 13,000 rows (13.6 %), above the 5 % limit"], "\(log)")
        let references = lines.filter { $0.contains("ref.unresolved") }
        #expect(references == ["  REJECTED  students.csv column 1: ref.unresolved, 1,765 times, lines 2, 9, 16 and 1,762 more: "
                                 + "column `School_id` names an id that schools does not have. What to do: "
                                 + ProblemAdvice.text(for: "ref.unresolved")], "\(log)")
        #expect(!log.contains("Nosuch"), "no value from a row: \(log)")
        // processing.json keeps the listed problems up to the cap, and the exact counts.
        #expect(result.problems.count == 100 && result.unreportedProblems == ["ref.unresolved": 1_665])
        #expect(result.problemGroups?.first?.count == 1_765)
    }

    @Test func theLogOpensWithTheSentenceOfASuccessAndListsMarkersApart() throws {
        let result = try publish(["schools.csv": Self.schools, "students.csv": Self.students(10_446, bad: 3)])
        let log = result.logText()
        let lines = log.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == ["Processing SUCCEEDED: alpha/1764374400",
                                           "Succeeded: 10,444 of 10,447 rows accepted; 3 rejected (0.03 %), no file above the 5 % limit"],
                "\(log)")
        #expect(lines.contains("Marker: .done"), "\(log)")
        #expect(!lines.contains { $0.contains("  .done") }, "not among the files received: \(log)")
        #expect(!log.contains("file.marker"), "\(log)")
        #expect(lines.contains("  REJECTED  students.csv column 1: ref.unresolved, 3 times, lines 2, 9 and 16: "
                                + "column `School_id` names an id that schools does not have. What to do: "
                                + ProblemAdvice.text(for: "ref.unresolved")), "\(log)")
    }

    @Test func aFileNameWithALineBreakDoesNotForgeALineOfTheLog() throws {
        let result = try publish(["schools.csv": Self.schools, "students.csv": Self.students(10, bad: 0),
                                  "notes\nSucceeded: every row accepted.txt": "x\n", "\u{1B}[2Jcolour.csv": "a\n"])
        let log = result.logText()
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("Succeeded: every row") }, "\(log)")
        #expect(log.contains("notes\\nSucceeded") && !log.contains("\u{1B}"), "\(log)")
    }

    @Test func theMostSeriousProblemsComeFirst() throws {
        // A warning (a date of birth that is not one) comes first in the file, a rejected row
        // after it; a second file for one role is fatal.
        let students = "School_id,Student_id,Last_name,First_name,DOB\nsch1,st1,Family,Given,13/45/2010\nnone,st2,Family,Given,\n"
        let result = try publish(["schools.csv": Self.schools, "students.csv": students, "Schools.csv": Self.schools])
        let log = result.logText()
        let severities = log.split(separator: "\n").compactMap { line -> String? in
            ["FATAL", "REJECTED", "WARNING"].first { line.hasPrefix("  " + $0) }
        }
        #expect(severities.first == "FATAL" && severities.last == "WARNING" && severities.contains("REJECTED"), "\(log)")
        let order = ["FATAL", "REJECTED", "WARNING"]
        #expect(severities == severities.sorted { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! })
        #expect(log.split(separator: "\n")[1].hasPrefix("Failed: a problem makes the set unusable: schools.csv: a second file"), "\(log)")
    }
}
