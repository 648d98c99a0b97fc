import Foundation
import Ingest
import Testing

@Suite struct ValidatorTests {
    // MARK: Valid sets

    @Test(arguments: ["oneroster-1.1", "oneroster-1.2", "clever"])
    func aValidSetHasNoProblems(name: String) throws {
        let set = switch name {
        case "oneroster-1.1": Sets.oneRoster11
        case "oneroster-1.2": Sets.oneRoster12
        default: Sets.clever
        }
        let report = try Sets.validate(set, profile: name)
        #expect(report.problems.problems == [])
        #expect(!report.fatal && !report.isDelta)
        let used = report.files.filter { $0.role != nil }
        #expect(used.count == set.count - (name == "clever" ? 0 : 1))
        #expect(used.allSatisfy { $0.rows > 0 && $0.accepted == $0.rows && $0.rejected == 0 })
        if name != "clever" {
            #expect(report.file("users")?.mode == "bulk")
            #expect(report.file("users")?.rows == 3)
        } else {
            #expect(report.file("students")?.rows == 3, "a student repeated on several rows is legal")
        }
    }

    @Test func lineEndsAndAByteOrderMarkChangeNothing() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = "\u{FEFF}" + Sets.users11.replacingOccurrences(of: "\n", with: "\r\n")
        set["orgs.csv"] = String(Sets.orgs.dropLast())  // no final newline
        set["courses.csv"] = Sets.courses.replacingOccurrences(of: "\n", with: "\r")
        set["academicSessions.csv"] = Sets.academicSessions.replacingOccurrences(of: ",Fall,", with: ",\"Fall\r\nterm\",")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.problems.problems == [])
        #expect(report.file("users")?.accepted == 3)
        #expect(report.file("academicSessions")?.accepted == 2)
    }

    // MARK: Defects, as FORMATS.md lists them

    @Test func windows1252NamesRejectTheRow() throws {
        var bytes = Array(Sets.users11.utf8)
        let at = bytes.firstIndex(of: UInt8(ascii: "J"))!  // Jones → J\xF1nes on line 2
        bytes[at + 1] = 0xF1
        let report = try Sets.validate(Sets.oneRoster11, profile: "oneroster-1.1") { try $0.write("users.csv", bytes) }
        let problem = try #require(report.problems("csv.invalid-utf8").first)
        #expect(problem.file == "users.csv" && problem.line == 2 && problem.column == 10 && problem.severity == .row)
        #expect(report.file("users")?.rejected == 1)
        #expect(report.file("users")?.accepted == 2)
    }

    @Test func spreadsheetDamageIsReportedAtItsField() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",u3,09,", with: ",u3,9,")
        set["enrollments.csv"] = Sets.enrollments.replacingOccurrences(of: "true,2025-08-15", with: "true,8/15/2025")
            + "e3,,,k1,s1,1.23E+15,student,false,,\n"
        // Strict: the grade and the date are the format's, or their rows are rejected.
        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        let grade = try #require(strict.problems("value.grade").first)
        #expect(grade.file == "users.csv" && grade.line == 3 && grade.column == 17 && grade.severity == .row)
        let date = try #require(strict.problems("value.date").first)
        #expect(date.file == "enrollments.csv" && date.line == 2 && date.column == 9)
        let scientific = try #require(strict.problems("value.scientific-notation").first)
        #expect(scientific.line == 4 && scientific.column == 6 && scientific.severity == .warning)
        #expect(strict.problems("ref.unresolved").map(\.line) == [4])
        #expect(strict.file("enrollments")?.rejected == 2)
        #expect(!strict.fatal)

        // Standard: both are read as meant, and one warning per column says how.
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems("value.grade").isEmpty && standard.problems("value.date").isEmpty)
        let zero = try #require(standard.problems("value.grade-form").first)
        #expect(zero.file == "users.csv" && zero.line == 3 && zero.column == 17 && zero.severity == .warning)
        let form = try #require(standard.problems("value.date-form").first)
        #expect(form.file == "enrollments.csv" && form.line == 2 && form.column == 9 && form.message.contains("month first"))
        #expect(standard.file("users")?.rejected == 0)
        #expect(standard.file("enrollments")?.rejected == 1)
    }

    @Test func anUnquotedCommaShiftsTheFieldsAndAStrayQuoteIsAWarning() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",Ann,Smith,", with: ",Ann,Smith, Jr.,")
            .replacingOccurrences(of: ",Tom,Jones,", with: ",Tom,O\"Connor,")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let count = try #require(report.problems("csv.field-count").first)
        #expect(count.line == 3 && count.severity == .row)
        #expect(report.problems("csv.quote-in-unquoted-field").map(\.line) == [2])
        #expect(report.file("users")?.rejected == 1)
        #expect(report.file("users")?.warned == 1)
        // The skipped row's id was still read: its enrollment and demographics do not report it again.
        #expect(report.problems("ref.unresolved").isEmpty)
        #expect(report.problems.problems.allSatisfy { !$0.message.contains("Smith") && !$0.message.contains("Connor") })
    }

    @Test func aRenamedRequiredHeaderIsFatalAndNamesTheColumnThatWasMeant() throws {
        var set = Sets.oneRoster11
        set["classes.csv"] = Sets.classes.replacingOccurrences(of: "termSourcedIds", with: "termSourcedId")
        set["users.csv"] = Sets.users11.replacingOccurrences(of: "sourcedId,status", with: "sourceID,status")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let missing = report.problems("header.missing")
        #expect(missing.map(\.file).sorted() == ["classes.csv", "users.csv"])
        let term = try #require(missing.first { $0.file == "classes.csv" })
        #expect(term.line == 1 && term.column == 11 && term.severity == .fatal)
        #expect(term.message.contains("`termSourcedIds`") && term.message.contains("column 11 looks like it was meant"))
        #expect(missing.first { $0.file == "users.csv" }?.column == 1)
        #expect(report.fatal)
        // References into the unusable users file are not checked against half its ids.
        #expect(report.problems("ref.unresolved").isEmpty)
    }

    @Test func aMiscasedHeaderIsTakenUnlessStrict() throws {
        var oneRoster = Sets.oneRoster11
        oneRoster["orgs.csv"] = Sets.orgs.replacingOccurrences(of: "sourcedId,status", with: "SourcedId,status")
        let strict = try Sets.validate(oneRoster, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.problems("header.missing").first?.message.contains("column 1 looks like it was meant") == true)
        #expect(strict.fatal)
        let standard = try Sets.validate(oneRoster, profile: "oneroster-1.1")
        #expect(standard.problems.problems.isEmpty && standard.file("orgs")?.accepted == 2)

        var overridden = try Sets.profile("oneroster-1.1")
        overridden.toleranceOverrides[.headerCase] = .normalise
        let warned = try Sets.validate(oneRoster, profile: overridden)
        #expect(warned.problems("header.case").map(\.column) == [1] && !warned.fatal)

        var clever = Sets.clever
        clever["students.csv"] = Sets.cleverStudents.replacingOccurrences(of: "DOB", with: "Dob")
            .replacingOccurrences(of: "Student_street", with: "Student_Street")
        for strictness in Strictness.allCases {
            let report = try Sets.validate(clever, profile: "clever", strictness: strictness)
            #expect(report.problems("header.case").isEmpty && !report.fatal, "\(strictness)")
            #expect(report.file("students")?.accepted == 3)
        }
    }

    @Test func cleverFileNamesInAnotherCaseAreAcceptedWithAWarning() throws {
        var set = Sets.clever
        set["Students.csv"] = set.removeValue(forKey: "students.csv")
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("file.name-case").map(\.file) == ["Students.csv"])
        #expect(report.file("students")?.path == "Students.csv")
        #expect(!report.fatal)
    }

    @Test func aDuplicateSourcedIdFailsOneRosterAndCleverKeepsTheFirstRow() throws {
        var set = Sets.oneRoster11
        set["orgs.csv"] = Sets.orgs + "s1,,,Another School,school,,d1\n"
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let duplicate = try #require(report.problems("row.duplicate-id").first)
        #expect(duplicate.file == "orgs.csv" && duplicate.line == 4 && duplicate.column == 1 && duplicate.severity == .fatal)
        #expect(report.fatal)

        var clever = Sets.clever
        clever["teachers.csv"] = Sets.cleverTeachers + Sets.cleverTeachers.split(separator: "\n")[1] + "\n"
        let kept = try Sets.validate(clever, profile: "clever")
        let repeated = try #require(kept.problems("row.duplicate-id").first)
        #expect(repeated.file == "teachers.csv" && repeated.severity == .row && !kept.fatal)
        #expect(kept.file("teachers")?.rejected == 1)
        #expect(kept.problems("ref.unresolved").isEmpty)
    }

    @Test func danglingReferencesAreRowProblemsIncludingListElementsAndParents() throws {
        var set = Sets.oneRoster11
        set["enrollments.csv"] = Sets.enrollments.replacingOccurrences(of: "e2,,,k1,s1,u2", with: "e2,,,k9,s1,u2")
        set["classes.csv"] = Sets.classes.replacingOccurrences(of: "\"t1,y1\"", with: "\"t1, t7\"")
        set["orgs.csv"] = Sets.orgs.replacingOccurrences(of: ",,d1", with: ",,d9")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let unresolved = report.problems("ref.unresolved").map { "\($0.file):\($0.line):\($0.column)" }
        #expect(unresolved.sorted() == ["classes.csv:2:11", "enrollments.csv:3:4", "orgs.csv:2:7"])
        // The parent is checked when the whole file is read: the row was counted as accepted, then rejected.
        #expect(report.file("orgs")?.accepted == 1 && report.file("orgs")?.rejected == 1)
        #expect(report.file("classes")?.rejected == 1)
    }

    @Test func aCleverSectionWithoutATeacherIsRejected() throws {
        var set = Sets.clever
        set["sections.csv"] = Sets.cleverSections + "sch1,se2,,Biology,,\n"
        let report = try Sets.validate(set, profile: "clever")
        let missing = try #require(report.problems("value.missing").first)
        #expect(missing.file == "sections.csv" && missing.line == 3 && missing.column == 3)
        #expect(report.file("sections")?.rejected == 1)
    }

    @Test func cleverRepeatsAStudentButNotATeacher() throws {
        var set = Sets.clever
        set["teachers.csv"] = Sets.cleverTeachers + "sch1,te1,Tina,Jones,tina@example.org\n"
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("row.duplicate-id").map(\.file) == ["teachers.csv"])
    }

    @Test func cleverEnrollmentsHaveExactlyTheirThreeColumns() throws {
        var set = Sets.clever
        set["enrollments.csv"] = "School_id,Section_id,Student_id,Role\nsch1,se1,st1,student\n"
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("header.unexpected").map(\.column) == [4])
        #expect(report.fatal)
    }

    @Test func bulkWithStatusIsAWarningAndDeltaWithoutItRejectsTheRow() throws {
        var set = Sets.oneRoster11
        set["orgs.csv"] = Sets.orgs.replacingOccurrences(of: "s1,,,", with: "s1,active,2025-01-01T00:00:00Z,")
        var modes = Sets.bulk11
        modes["users"] = "delta"
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: modes)
        set["users.csv"] = Sets.users11.replacingOccurrences(of: "u1,,,", with: "u1,active,2025-09-01T10:00:00.000Z,")
            .replacingOccurrences(of: "u2,,,", with: "u2,tobedeleted,2025-09-01T10:00:00Z,")
            .replacingOccurrences(of: "u3,,,", with: "u3,,2025-09-01T10:00:00Z,")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let bulk = report.problems("mode.bulk-status")
        #expect(bulk.map { "\($0.file):\($0.line):\($0.column)" } == ["orgs.csv:2:2", "orgs.csv:2:3"])
        #expect(bulk.allSatisfy { $0.severity == .warning })
        let delta = try #require(report.problems("mode.delta-status").first)
        #expect(delta.file == "users.csv" && delta.line == 4 && delta.column == 2 && delta.severity == .row)
        #expect(report.isDelta)
        #expect(report.file("users")?.mode == "delta")
        // A delta file holds changes only: references into it are not checked.
        #expect(report.problems("ref.unresolved").isEmpty)
    }

    @Test func aHeaderOnlyFileAndAZeroByteFileAreFatal() throws {
        var set = Sets.oneRoster11
        set["demographics.csv"] = String(Sets.demographics.prefix { $0 != "\n" }) + "\n"
        set["enrollments.csv"] = ""
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.problems("file.no-rows").map(\.file) == ["demographics.csv"])
        #expect(report.problems("file.empty").map(\.file) == ["enrollments.csv"])
        #expect(report.problems("file.no-rows").first?.severity == .fatal)
        #expect(report.fatal)
    }

    @Test func aHeaderOnlyCleverFileIsOnlyAWarning() throws {
        var set = Sets.clever
        set["staff.csv"] = "School_id,Staff_id,Staff_email,First_name,Last_name\n"
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("file.no-rows").first?.severity == .warning)
        #expect(!report.fatal)
    }

    @Test func strayNestedAndUnknownFilesAreWarningsAndAMarkerIsNoProblem() throws {
        let report = try Sets.validate(Sets.clever, profile: "clever") { directory in
            try directory.write("Thumbs.db", "x")
            try directory.write("~$students.csv", "x")
            try directory.write("_SUCCESS", "")
            try directory.write("old/students.csv", Sets.cleverStudents)
            try directory.write("notes.txt", "call the district")
        }
        #expect(report.problems("file.stray").map(\.file) == ["Thumbs.db", "~$students.csv"])
        // A marker seals the epoch: the log lists it apart from the data, not as a problem.
        #expect(!report.problems.problems.contains { $0.file == "_SUCCESS" })
        #expect(report.problems("file.nested").map(\.file) == ["old/"])
        #expect(report.problems("file.unknown").map(\.file) == ["notes.txt"])
        #expect(report.problems.problems.allSatisfy { $0.severity == .warning })
        #expect(report.files.count == 11)
    }

    /// `markers = READY` in epochfs.conf: a READY file seals the epoch like `.done`, and is no
    /// more data to validation and recognition than `.done` is.
    @Test func aConfiguredMarkerIsAMarkerToValidationAndRecognition() throws {
        let set = Sets.oneRoster11.merging(["READY": ""]) { $1 }
        let profile = Sets.profile("oneroster-1.1")
        let configured = try Sets.validate(set, profile: profile, markers: ["READY"])
        #expect(configured.problems.problems.isEmpty, "\(configured.problems.problems)")
        let unconfigured = try Sets.validate(set, profile: profile)
        #expect(unconfigured.problems("file.unknown").map(\.file) == ["READY"])

        // A zipped set with its marker beside it is still one zip.
        let zipped = [SetFile(path: "set.zip", location: "/nonexistent", size: 1), SetFile(path: "READY", location: "/nonexistent", size: 0)]
        #expect(ZipSet.holdsSet(zipped, markers: ["READY"])?.path == "set.zip")
        #expect(ZipSet.holdsSet(zipped) == nil)
    }

    @Test func theManifestDecidesWhichFilesArePresent() throws {
        var set = Sets.oneRoster11
        set["results.csv"] = "sourcedId,status,dateLastModified\nr1,,\n"
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let absent = try #require(report.problems("manifest.absent-file-present").first)
        #expect(absent.file == "results.csv" && absent.severity == .warning)
        #expect(report.files.first { $0.path == "results.csv" }?.mode == "absent")
        #expect(!report.fatal)
    }

    /// A marker seals a set even when files its manifest names never came: the set is usable
    /// without a file it does not need, and not without one it does.
    @Test func aFileTheManifestNamesButTheSetLacksIsFatalOnlyWhenTheProfileRequiresIt() throws {
        var withoutDemographics = Sets.oneRoster11
        withoutDemographics["demographics.csv"] = nil
        let used = try Sets.validate(withoutDemographics, profile: "oneroster-1.1")
        let warning = try #require(used.problems("manifest.missing-file").first)
        #expect(warning.file == "demographics.csv" && warning.severity == .warning)
        #expect(warning.message.contains("`demographics` is bulk") && warning.message.contains("used without it"), "\(warning.message)")
        #expect(!used.fatal)

        var withoutUsers = Sets.oneRoster11
        withoutUsers["users.csv"] = nil
        let unusable = try Sets.validate(withoutUsers, profile: "oneroster-1.1")
        let fatal = try #require(unusable.problems("manifest.missing-file").first)
        #expect(fatal.file == "users.csv" && fatal.severity == .fatal)
        #expect(fatal.message.contains("cannot be used without it"), "\(fatal.message)")
        #expect(unusable.fatal)
    }

    @Test func anEmptyModeIsAbsentWithAWarningNamingTheProperty() throws {
        var set = Sets.oneRoster12
        var modes = Sets.bulk11
        for role in ["lineItemLearningObjectiveIds", "lineItemScoreScales", "resultLearningObjectiveIds", "resultScoreScales",
                     "userProfiles", "userResources"] {
            modes[role] = "absent"
        }
        modes["roles"] = "bulk"
        modes["scoreScales"] = ""
        set["manifest.csv"] = Sets.manifest(version: "1.2", modes: modes)
        #expect(set["manifest.csv"]!.contains("\nfile.scoreScales,\n"))
        let report = try Sets.validate(set, profile: "oneroster-1.2")
        let empty = try #require(report.problems("manifest.empty-mode").first)
        #expect(empty.file == "manifest.csv" && empty.severity == .warning && empty.column == 2)
        #expect(empty.message.contains("`file.scoreScales`") && empty.message.contains("absent"), "\(empty.message)")
        #expect(report.problems("manifest.invalid-mode").isEmpty)
        #expect(report.problems("manifest.missing-file").isEmpty)
        #expect(!report.fatal, "\(report.problems.problems)")
    }

    /// A careful integrator takes a mode that can mean only one thing, and says so.
    @Test func aModeInAnotherCaseOrWithSpacesIsTakenWithAWarning() throws {
        var set = Sets.oneRoster11
        var modes = Sets.bulk11
        modes["users"] = "Bulk"
        modes["orgs"] = " bulk "
        modes["courses"] = "BULK"
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: modes)
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let spelled = report.problems("manifest.mode-spelling")
        #expect(spelled.count == 3 && spelled.allSatisfy { $0.severity == .warning })
        #expect(spelled.contains { $0.message.contains("`users` is written `Bulk`: read as bulk") }, "\(spelled)")
        #expect(report.file("users")?.mode == "bulk" && report.file("orgs")?.mode == "bulk")
        #expect(report.files.filter { $0.role != nil }.allSatisfy { $0.accepted == $0.rows })
        #expect(!report.fatal, "\(report.problems.problems)")
    }

    @Test func aManifestLargerThanAManifestIsFatalAndNotReadToItsEnd() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = set["manifest.csv"]! + String(repeating: "metadata.note," + String(repeating: "x", count: 1000) + "\n", count: 50_000)
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let rows = try #require(report.files.first { $0.path == "manifest.csv" }?.rows)
        #expect(rows < 1_100, "about 1 MiB of its 1 KB rows is read, not 50 MB")
        let fatal = report.fatal
        #expect(fatal)
        let problem = try #require(report.problems("csv.file-too-large").first)
        #expect(problem.file == "manifest.csv" && problem.severity == .fatal)
    }

    @Test func aManifestOfMoreRowsThanAManifestHasIsFatal() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = set["manifest.csv"]! + String(repeating: "metadata.note,x\n", count: 20_000)
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.files.first { $0.path == "manifest.csv" }?.rows == 10_001, "reading stops at the first row past the cap")
        let fatal = report.fatal
        #expect(fatal)
        let problem = try #require(report.problems("manifest.too-many-rows").first)
        #expect(problem.file == "manifest.csv" && problem.severity == .fatal)
    }

    @Test func anAllAbsentManifestIsAValidSetWithNoChanges() throws {
        let modes = Sets.bulk11.mapValues { _ in "absent" }
        let report = try Sets.validate(["manifest.csv": Sets.manifest(version: "1.1", modes: modes)], profile: "oneroster-1.1")
        #expect(report.problems.problems == [])
        #expect(!report.fatal)
    }

    @Test func valuesOutsideTheirTypeAndDatesOutOfOrder() throws {
        var set = Sets.oneRoster11
        set["academicSessions.csv"] = Sets.academicSessions.replacingOccurrences(of: "Fall,term,2025-08-15,2025-12-20", with: "Fall,quarter,2025-12-20,2025-08-15")
        set["users.csv"] = Sets.users11.replacingOccurrences(of: "u1,,,true,", with: "u1,,,yes,")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.problems("value.enum").map { "\($0.file):\($0.line):\($0.column)" } == ["academicSessions.csv:3:5"])
        #expect(report.problems("value.order").map { "\($0.file):\($0.line):\($0.column)" } == ["academicSessions.csv:3:7"])
        #expect(report.problems("value.boolean").map { "\($0.file):\($0.line):\($0.column)" } == ["users.csv:2:4"])
        #expect(report.problems("value.enum").first?.message.contains("gradingPeriod, semester, schoolYear, term") == true)
        // Messages say what and where, never the value.
        #expect(report.problems.problems.allSatisfy { !$0.message.contains("quarter") && !$0.message.contains("yes") })
    }

    @Test func twoFilesForOneRoleAndABadModeAreFatal() throws {
        var clever = Sets.clever
        clever["Students.csv"] = Sets.cleverStudents
        let twice = try Sets.validate(clever, profile: "clever")
        #expect(twice.problems("file.duplicate-role").map(\.file) == ["students.csv"])
        #expect(twice.fatal)

        var oneRoster = Sets.oneRoster11
        var modes = Sets.bulk11
        modes["users"] = "full"
        oneRoster["manifest.csv"] = Sets.manifest(version: "1.1", modes: modes)
        let badMode = try Sets.validate(oneRoster, profile: "oneroster-1.1")
        let problem = try #require(badMode.problems("manifest.invalid-mode").first)
        #expect(problem.file == "manifest.csv" && problem.line == 16 && problem.column == 2)
        #expect(badMode.fatal)
    }

    @Test func theBenchmarkSetIsAValidOneRosterSet() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        let files = try IngestBenchmark.writeOneRosterSet(into: directory.path, approximateBytes: 300_000)
        guard case .recognised(let profile) = Recogniser.recognise(files, profiles: ProfileLibrary.builtIn) else {
            Issue.record("the benchmark set is not recognised")
            return
        }
        let measurement = try IngestBenchmark.measure(files, profile: profile)
        #expect(measurement.report.problems.problems == [])
        #expect(measurement.report.file("enrollments")?.accepted == 1_200)
        #expect(measurement.bytes > 250_000)
    }

    // MARK: Time limit

    @Test func validationPastItsTimeLimitStopsWithAFatalProblem() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(Sets.clever)
        let report = try Validator.validate(directory.files, profile: Sets.profile("clever"), timeLimit: .zero)
        #expect(report.timedOut && report.fatal)
        let stop = try #require(report.problems("processing.timeout").first)
        #expect(report.problems("processing.timeout").count == 1)
        // Past before the first file was opened: nothing was read.
        #expect(stop.line == 0 && stop.severity == .fatal && Sets.clever.keys.contains(stop.file), "\(stop)")
        #expect(stop.message.contains("time limit of 0 s"), "\(stop.message)")
        #expect(report.files.allSatisfy { $0.rows == 0 })
        #expect(report.problems.problems.filter { $0.code != "processing.timeout" } == [])
    }

    @Test func aTimeLimitNotReachedChangesNothing() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(Sets.oneRoster11)
        let files = directory.files
        let profile = Sets.profile("oneroster-1.1")
        let unlimited = try Validator.validate(files, profile: profile)
        let limited = try Validator.validate(files, profile: profile, timeLimit: .seconds(3600))
        #expect(!limited.timedOut && !limited.fatal)
        #expect(limited.files == unlimited.files && limited.problems.problems == unlimited.problems.problems)
    }

    // MARK: Mass drop

    @Test func aMassDropIsAWarningWithBothCounts() throws {
        let report = try Sets.validate(Sets.oneRoster11, profile: "oneroster-1.1")
        let profile = Sets.profile("oneroster-1.1")
        let drops = Validator.massDrops(report, previousRows: ["enrollments": 400, "users": 4], profile: profile)
        #expect(drops.map(\.code) == ["set.mass-drop"])
        #expect(drops.first?.message.contains("2 rows") == true && drops.first?.message.contains("400") == true)
        #expect(drops.first?.severity == .warning)
        #expect(Validator.massDrops(report, previousRows: ["enrollments": 3], profile: profile).isEmpty, "fewer than the minimum")
        let steady = Validator.massDrops(report, previousRows: ["enrollments": 2], profile: profile)
        #expect(steady.isEmpty)
        var held = report
        held.add(drops)
        #expect(held.problems.counts["set.mass-drop"] == 1 && !held.fatal)
    }
}
