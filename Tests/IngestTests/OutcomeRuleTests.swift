import Ingest
import Testing

/// The outcome rule: `succeeded` only for a set a downstream system can use.
@Suite struct OutcomeRuleTests {
    private let oneRoster = Sets.profile("oneroster-1.1")
    private let clever = Sets.profile("clever")

    private func file(_ role: String, rows: Int, rejected: Int = 0, mode: String? = "bulk") -> FileReport {
        FileReport(path: role + ".csv", size: 100, role: role, mode: mode, rows: rows, accepted: rows - rejected, rejected: rejected)
    }

    private func report(_ files: [FileReport], delta: Bool = false, problems: [Problem] = []) -> ValidationReport {
        var log = ProblemLog()
        for problem in problems { log.add(problem) }
        return ValidationReport(profile: "test", problems: log, files: files, isDelta: delta)
    }

    /// The two files OneRoster requires, valid.
    private var orgsAndUsers: [FileReport] { [file("orgs", rows: 2), file("users", rows: 40)] }

    @Test func aFatalProblemFailsTheSetAndTheSentenceNamesIt() {
        let fatal = Problem(file: "users.csv", line: 1, column: 0, code: "header.missing", severity: .fatal,
                            message: "required column `role` is missing")
        let decision = OutcomeRule.decide(report(orgsAndUsers, problems: [fatal]), profile: oneRoster)
        #expect(!decision.succeeded && decision.name == .fatalProblem && decision.fatalProblems == 1)
        #expect(decision.sentence == "Failed: a problem makes the set unusable: users.csv line 1: required column `role` is missing")

        let warning = Problem(file: "users.csv", line: 1, column: 3, code: "header.unknown", severity: .warning, message: "x")
        #expect(OutcomeRule.decide(report(orgsAndUsers, problems: [warning]), profile: oneRoster).succeeded)
    }

    @Test func aRequiredFileMissingFromABulkSetFailsIt() {
        let decision = OutcomeRule.decide(report([file("orgs", rows: 2), file("classes", rows: 5)]), profile: oneRoster)
        #expect(!decision.succeeded && decision.name == .requiredFileMissing && decision.file == "users.csv")
        #expect(decision.sentence == "Failed: users.csv (required) is not in the set; a full (bulk) set must include it")
        // A manifest that gives the file as absent leaves it out just the same.
        let absent = OutcomeRule.decide(report(orgsAndUsers.dropLast() + [file("users", rows: 3, mode: "absent")]), profile: oneRoster)
        #expect(absent.name == .requiredFileMissing)
        // A set without a manifest is bulk: Clever without students.csv.
        let cleverSet = OutcomeRule.decide(report([file("schools", rows: 1, mode: nil)]), profile: clever)
        #expect(cleverSet.name == .requiredFileMissing && cleverSet.file == "students.csv")
        #expect(OutcomeRule.decide(report(orgsAndUsers), profile: oneRoster).succeeded)
    }

    @Test func aDeltaSetMayLeaveOutRequiredFiles() {
        let decision = OutcomeRule.decide(report([file("orgs", rows: 1, mode: "delta")], delta: true), profile: oneRoster)
        #expect(decision.succeeded && decision.name == .withinLimit)
        #expect(decision.sentence == "Succeeded: its one row accepted")
        // And one with a required file without rows is not failed for it.
        let empty = OutcomeRule.decide(report([file("orgs", rows: 1, mode: "delta"), file("users", rows: 0, mode: "delta")], delta: true),
                                       profile: oneRoster)
        #expect(empty.succeeded)
    }

    @Test func aRequiredFileWithNoAcceptedRowsFailsABulkSet() {
        let noRows = OutcomeRule.decide(report([file("schools", rows: 2, mode: nil), file("students", rows: 0, mode: nil)]), profile: clever)
        #expect(!noRows.succeeded && noRows.name == .requiredFileEmpty && noRows.file == "students.csv")
        #expect(noRows.sentence == "Failed: students.csv (required) has no accepted rows")
        // With a limit that lets every row be rejected, the required file still needs one.
        var lenient = clever
        lenient.maxRejectedRatio = 1
        let allRejected = OutcomeRule.decide(report([file("schools", rows: 2, mode: nil), file("students", rows: 7, rejected: 7, mode: nil)]),
                                             profile: lenient)
        #expect(allRejected.name == .requiredFileEmpty)
        #expect(allRejected.sentence == "Failed: students.csv (required) has no accepted rows: all 7 were rejected")
        let oneAccepted = OutcomeRule.decide(report([file("schools", rows: 2, mode: nil), file("students", rows: 7, rejected: 6, mode: nil)]),
                                             profile: lenient)
        #expect(oneAccepted.succeeded)
        // A file that is not required may be empty.
        let noTeachers = OutcomeRule.decide(report([file("schools", rows: 2, mode: nil), file("students", rows: 3, mode: nil),
                                                    file("teachers", rows: 0, mode: nil)]), profile: clever)
        #expect(noTeachers.succeeded)
    }

    @Test func everyRowOfAFileRejectedFailsTheSet() {
        let decision = OutcomeRule.decide(report([file("orgs", rows: 1), file("users", rows: 40, rejected: 40)]), profile: oneRoster)
        #expect(!decision.succeeded && decision.name == .tooManyRejected && decision.file == "users.csv")
        #expect(decision.rows == 40 && decision.rejected == 40 && decision.limit == 0.05)
        #expect(decision.sentence == "Failed: users.csv rejected 40 of 40 rows (100 %), above the 5 % limit")
    }

    @Test func theRejectedShareIsComparedWithTheLimit() {
        func decide(rejected: Int) -> OutcomeRule.Decision {
            OutcomeRule.decide(report([file("orgs", rows: 1), file("users", rows: 1_000, rejected: rejected)]), profile: oneRoster)
        }
        #expect(decide(rejected: 49).succeeded)
        // "More than" the limit: exactly at it passes, one row more fails.
        #expect(decide(rejected: 50).succeeded)
        let above = decide(rejected: 51)
        #expect(!above.succeeded && above.name == .tooManyRejected)
        #expect(above.sentence == "Failed: users.csv rejected 51 of 1,000 rows (5.1 %), above the 5 % limit")
        // A profile's own limit.
        var strict = oneRoster
        strict.maxRejectedRatio = 0.01
        #expect(OutcomeRule.decide(report([file("orgs", rows: 1), file("users", rows: 1_000, rejected: 11)]), profile: strict).sentence
            == "Failed: users.csv rejected 11 of 1,000 rows (1.1 %), above the 1 % limit")
        // Any file, required or not; the worst is named, and the others after it.
        let classes = OutcomeRule.decide(report(orgsAndUsers + [file("classes", rows: 10, rejected: 1), file("courses", rows: 10, rejected: 3)]),
                                         profile: oneRoster)
        #expect(classes.sentence == "Failed: courses.csv rejected 3 of 10 rows (30 %), above the 5 % limit (so is classes.csv)")
    }

    @Test func theSentenceOfASuccessGivesTheNumbers() {
        let decision = OutcomeRule.decide(report([file("orgs", rows: 46), file("users", rows: 10_400, rejected: 3)]), profile: oneRoster)
        #expect(decision.succeeded && decision.rows == 10_446 && decision.accepted == 10_443 && decision.rejected == 3)
        #expect(decision.sentence == "Succeeded: 10,443 of 10,446 rows accepted; 3 rejected (0.03 %), no file above the 5 % limit")
        #expect(OutcomeRule.decide(report(orgsAndUsers), profile: oneRoster).sentence == "Succeeded: all 42 rows accepted")
    }

    @Test func aManifestGivingEveryFileAsAbsentIsNoChanges() throws {
        let modes = Sets.bulk11.mapValues { _ in "absent" }
        let report = try Sets.validate(["manifest.csv": Sets.manifest(version: "1.1", modes: modes)], profile: "oneroster-1.1")
        let decision = OutcomeRule.decide(report, profile: oneRoster)
        #expect(decision.succeeded && decision.name == .noChanges)
        #expect(decision.sentence == "Succeeded: the manifest gives every file as absent: no changes")
        // A manifest that gives no file a mode at all is no such thing: the set's files are not
        // used, and a bulk set without its required files fails.
        var set = Sets.oneRoster11
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: [:])
        let unlisted = OutcomeRule.decide(try Sets.validate(set, profile: "oneroster-1.1"), profile: oneRoster)
        #expect(!unlisted.succeeded && unlisted.name == .requiredFileMissing)
    }

    @Test func aValidatedSetWithEveryUserRejectedFails() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",true,", with: ",yes,")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(!report.fatal)
        let decision = OutcomeRule.decide(report, profile: oneRoster)
        #expect(decision.sentence == "Failed: users.csv rejected 3 of 3 rows (100 %), above the 5 % limit")
        #expect(OutcomeRule.decide(try Sets.validate(Sets.oneRoster11, profile: "oneroster-1.1"), profile: oneRoster).succeeded)
    }

    @Test func figuresForAPerson() {
        #expect(Figures.grouped(0) == "0" && Figures.grouped(999) == "999" && Figures.grouped(1_000) == "1,000")
        #expect(Figures.grouped(1_234_567) == "1,234,567")
        #expect(Figures.percent(0.05) == "5 %" && Figures.percent(0.025) == "2.5 %")
        #expect(Figures.percent(3, of: 10_446, apartFrom: nil) == "0.03 %")
        #expect(Figures.percent(1, of: 1_000_000, apartFrom: nil) == "0.0001 %")
        #expect(Figures.percent(9_999, of: 10_000, apartFrom: nil) == "99.99 %")
        // Never shown equal to the limit it is compared with.
        #expect(Figures.percent(501, of: 10_000, apartFrom: 0.05) == "5.01 %")
        #expect(Figures.percent(499, of: 10_000, apartFrom: 0.05) == "4.99 %")
        #expect(Figures.percent(1, of: 3, apartFrom: 0.05) == "33.3 %")
    }
}
