import Ingest
import Testing

/// Problems counted in groups of one file, code and column: exact counts past the per-code cap.
@Suite struct ProblemLogTests {
    private func problem(_ line: Int, code: String = "value.date", column: Int = 4, severity: Severity = .row,
                         file: String = "students.csv") -> Problem {
        Problem(file: file, line: line, column: column, code: code, severity: severity, message: "column `DOB` is not a date")
    }

    @Test func aRepeatedProblemIsOneGroupWithAnExactCount() {
        var log = ProblemLog()
        for line in 2...1_766 { log.add(problem(line)) }
        #expect(log.problems.count == 100 && log.unreported == ["value.date": 1_665])
        #expect(log.groups.count == 1)
        let group = try? #require(log.groups.first)
        #expect(group?.count == 1_765 && group?.lines == [2, 3, 4])
        #expect(group?.file == "students.csv" && group?.column == 4 && group?.severity == .row)
    }

    @Test func groupsAreByFileCodeAndColumn() {
        var log = ProblemLog()
        log.add(problem(2))
        log.add(problem(3, column: 5))
        log.add(problem(4, file: "teachers.csv"))
        log.add(problem(5, code: "value.missing"))
        log.add(problem(6))
        #expect(log.groups.map(\.count) == [2, 1, 1, 1])
        #expect(log.groups[0].lines == [2, 6])
    }

    @Test func aLineIsListedOnceAndWholeFileProblemsHaveNone() {
        var log = ProblemLog()
        // Two bad elements of one list field.
        log.add(problem(7))
        log.add(problem(7))
        log.add(problem(9))
        log.add(problem(0, code: "file.no-rows", column: 0, severity: .warning))
        #expect(log.groups[0].count == 3 && log.groups[0].lines == [7, 9])
        #expect(log.groups[1].lines.isEmpty)
    }

    @Test func theMostSeriousGroupsComeFirst() {
        var log = ProblemLog()
        log.add(problem(2, code: "header.unknown", severity: .warning))
        log.add(problem(3, code: "value.date", severity: .row))
        log.add(problem(0, code: "file.duplicate-role", severity: .fatal))
        log.add(problem(4, code: "value.enum", severity: .row))
        #expect(log.groupsBySeverity.map(\.code) == ["file.duplicate-role", "value.date", "value.enum", "header.unknown"])
    }

    /// A set whose every bad value is unique and recognisable: none may reach a message.
    @Test func noRowValueReachesAMessage() throws {
        var students = "School_id,Student_id,Last_name,First_name,DOB,Grade,IEP_status\n"
        for n in 0..<1_765 {
            students += "sch1,ID\(n)X,Lastname\(n)X,First\(n)X,Dob\(n)X,Gr\(n)X,Iep\(n)X\n"
        }
        students += "nosuch1X,okid,Last,First,03/04/2010,09,N\n"
        var set = Sets.clever
        set["students.csv"] = students
        set["enrollments.csv"] = "School_id,Section_id,Student_id\nsch1,se1,ID0X\nsch1,nosuch2X,ID1X\n"
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems.groups.count >= 4)
        let date = try #require(report.problems.groups.first { $0.code == "value.date" })
        #expect(date.count == 1_765 && date.lines == [2, 3, 4])
        let value = try Regex(#"[A-Za-z]+[0-9]+X|nosuch"#)
        for message in report.problems.problems.map(\.message) + report.problems.groups.map(\.message) {
            #expect(!message.contains(value), "\(message)")
        }
    }

    /// A file sent as the manifest by mistake holds rows: a repeated property is named by its line.
    @Test func aRepeatedManifestPropertyIsNamedByItsLine() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: Sets.bulk11) + "Student42X,a\nStudent42X,b\n"
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let repeated = try #require(report.problems("manifest.repeated-property").first)
        #expect(!repeated.message.contains("Student42X"), "\(repeated.message)")
        #expect(repeated.message == "the property of line \(repeated.line - 1) is given again: the first row counts")
    }
}
