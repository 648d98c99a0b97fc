import Foundation
@testable import Ingest
import Testing

/// The tolerance model: each deviation real exporters make, as each strictness treats it.
/// The fixtures are small sets of the project's own, one deviation class at a time.
@Suite struct ToleranceTests {
    // MARK: Accepted as is

    @Test func booleansAndEnumsInAnotherCaseAreTakenUnlessStrict() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",true,", with: ",TRUE,").replacingOccurrences(of: ",student,", with: ",Student,")
        set["orgs.csv"] = Sets.orgs.replacingOccurrences(of: ",school,", with: ",School,")
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems.problems.isEmpty, "\(standard.problems.problems)")
        #expect(standard.file("users")?.accepted == 3 && standard.file("orgs")?.accepted == 2)

        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.problems("value.boolean").count == 3 && strict.problems("value.enum").count == 2)
        #expect(strict.file("users")?.accepted == 0)
    }

    @Test func aValueThatMatchesTwoEnumValuesInAnotherCaseIsNotGuessed() {
        let values = ByteEnum(["active", "Active", "inactive"])
        let field = Array("ACTIVE".utf8)
        #expect(field.withUnsafeBufferPointer { !values.containsOnceIgnoringCase($0) })
        let other = Array("INACTIVE".utf8)
        #expect(other.withUnsafeBufferPointer { values.containsOnceIgnoringCase($0) })
    }

    @Test func aHeaderEndingInEmptyColumnsAndRowsThatStopBeforeThemAreTaken() throws {
        var set = Sets.oneRoster11
        // A spreadsheet's: the header has two empty names after the last column; one row has the
        // empty fields, another stops before them.
        let lines = Sets.orgs.split(separator: "\n").map(String.init)
        set["orgs.csv"] = lines[0] + ",,\n" + lines[1] + ",,\n" + lines[2] + "\n"
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems.problems.isEmpty, "\(standard.problems.problems)")
        #expect(standard.file("orgs")?.accepted == 2)

        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.problems("header.empty").map(\.column) == [8, 9])
        #expect(strict.problems("csv.field-count").map(\.line) == [3] && strict.file("orgs")?.rejected == 1)
    }

    @Test func aRowLongerThanTheHeaderIsRejectedEvenWhenWhatItAddsIsEmpty() throws {
        // An unquoted comma shifts the fields after it: the last may be empty either way.
        var set = Sets.oneRoster11
        set["orgs.csv"] = Sets.orgs.replacingOccurrences(of: "s1,,,School One,school,,d1", with: "s1,,,School, One,school,,d1,")
        for strictness in Strictness.allCases {
            let report = try Sets.validate(set, profile: "oneroster-1.1", strictness: strictness)
            #expect(report.problems("csv.field-count").map(\.line) == [2], "\(strictness)")
        }
    }

    @Test func crOnlyLinesNoFinalNewlineAndAByteOrderMarkAreRead() throws {
        var set = Sets.clever
        set["students.csv"] = "\u{FEFF}" + Sets.cleverStudents.replacingOccurrences(of: "\n", with: "\r").trimmingCharacters(in: .newlines)
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems.problems.isEmpty, "\(report.problems.problems)")
        #expect(report.file("students")?.rows == 3 && report.file("students")?.accepted == 3)
    }

    // MARK: Accepted and normalised, one warning per column

    @Test func usDatesWithTwoDigitYearsAreReadWithOneWarningForTheColumn() throws {
        var set = Sets.clever
        var students = "School_id,Student_id,Last_name,First_name,DOB\n"
        for index in 0..<1_000 { students += "sch1,st\(index),Smith,Ann,\(index % 12 + 1)/\(index % 28 + 1)/98\n" }
        set["students.csv"] = students
        set["enrollments.csv"] = "School_id,Section_id,Student_id\nsch1,se1,st1\n"
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.file("students")?.accepted == 1_000 && report.file("students")?.warned == 0)
        let forms = report.problems("value.date-form")
        #expect(forms.count == 1, "\(forms)")
        let form = try #require(forms.first)
        #expect(form.line == 2 && form.column == 5 && form.severity == .warning)
        #expect(form.message.contains("1,000 with a two-digit year, read as a year from 19"), "\(form.message)")
        #expect(!form.message.contains("98") && !form.message.contains("Smith"), "no value of a row is quoted")

        let strict = try Sets.validate(set, profile: "clever", strictness: .strict)
        #expect(strict.problems("value.date").count == 100 && strict.problems.counts["value.date"] == 1_000)
    }

    @Test func twoDigitYearsFallInTheHundredYearsEndingTenYearsAhead() {
        func read(_ text: String) -> ValueChecks.DateReading {
            Array(text.utf8).withUnsafeBufferPointer { ValueChecks.readDate($0, lastTwoDigitYear: 2036) }
        }
        #expect(read("11/1/98") == .dayMonth(monthFirst: 1998_11_01, dayFirst: 1998_01_11, twoDigitYear: true))
        #expect(read("9/1/36") == .dayMonth(monthFirst: 2036_09_01, dayFirst: 2036_01_09, twoDigitYear: true))
        #expect(read("9/1/37") == .dayMonth(monthFirst: 1937_09_01, dayFirst: 1937_01_09, twoDigitYear: true))
        #expect(read("25.12.2010") == .dayMonth(monthFirst: nil, dayFirst: 2010_12_25, twoDigitYear: false))
        #expect(read("2010/12/25") == .yearFirst(2010_12_25))
        #expect(read("2010-2-5") == .yearFirst(2010_02_05))
        #expect(read("13/13/2010") == .invalid)
        #expect(read("1/5-2010") == .invalid)
        #expect(read("2/30/2010") == .invalid && read("30/2/2010") == .invalid)
        #expect(read("1/5/201") == .invalid && read("") == .invalid && read("1//2010") == .invalid)
    }

    @Test func whetherTheDayOrTheMonthComesFirstIsDecidedForTheWholeColumn() throws {
        // Day first: 25/12 says so; 1/5 is then the first of May, whatever row it is on.
        var set = Sets.oneRoster11
        set["enrollments.csv"] = """
            sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
            e1,,,k1,s1,u1,teacher,true,1/5/2025,25/12/2025
            e2,,,k1,s1,u2,student,false,2/5/2025,13/6/2026

            """
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.file("enrollments")?.accepted == 2 && report.problems("value.date-order").isEmpty)
        let form = try #require(report.problems("value.date-form").first { $0.column == 10 })
        #expect(form.message.contains("day first"), "\(form.message)")
        // beginDate holds no date that says; it is read as the column beside it is not: by the profile's order.
        let begin = try #require(report.problems("value.date-form").first { $0.column == 9 })
        #expect(begin.message.contains("month first") && begin.message.contains("profile's order"), "\(begin.message)")
    }

    @Test func aDateOnlyTheOtherOrderReadsIsRejectedAndCountedOnce() throws {
        var set = Sets.oneRoster11
        // Month first, as three dates say; one says day first and cannot be right.
        set["enrollments.csv"] = """
            sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
            e1,,,k1,s1,u1,teacher,true,8/15/2025,12/20/2025
            e2,,,k1,s1,u2,student,false,8/25/2025,20/12/2025
            e3,,,k1,s1,u3,student,false,8/16/2025,12/21/2025

            """
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        let order = report.problems("value.date-order")
        #expect(order.map(\.line) == [3] && order.first?.column == 10 && order.first?.severity == .row)
        #expect(report.file("enrollments")?.accepted == 2 && report.file("enrollments")?.rejected == 1)
    }

    @Test func dateTimesWithoutAZoneOrWithoutATimeAreReadAsUTC() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: Sets.bulk11.merging(["orgs": "delta"]) { $1 })
        set["orgs.csv"] = """
            sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
            s1,active,2023-05-01,School One,school,,d1
            d1,active,2023-05-01T10:00:00,District One,district,,
            d2,active,2023-05-01 10:00:00Z,District Two,district,,
            d3,active,2023-05-01T10:00:00-05:00,District Three,district,,
            d4,active,2023-05-01T10:00:00.123Z,District Four,district,,

            """
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.file("orgs")?.accepted == 5)
        let forms = report.problems("value.datetime-form")
        #expect(forms.count == 1 && forms.first?.line == 2 && forms.first?.column == 3)
        let message = forms.first?.message ?? ""
        #expect(message.contains("without a time zone, read as UTC (1)") && message.contains("dates without a time, read as midnight UTC (1)")
                && message.contains("with an offset from UTC, converted to UTC (1)") && message.contains("with a space for the T (1)"), "\(message)")

        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.problems("value.datetime").map(\.line) == [2, 3, 4, 5])
    }

    @Test func statusAndDateLastModifiedFilledInABulkFileAreOneWarningEach() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",,,true,", with: ",active,2023-05-01T00:00:00Z,true,")
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems("mode.bulk-status").map(\.column) == [2, 3])
        #expect(standard.problems("mode.bulk-status").first?.message.contains("3 rows") == true)
        #expect(standard.file("users")?.accepted == 3 && standard.file("users")?.warned == 0)

        let lenient = try Sets.validate(set, profile: "oneroster-1.1", strictness: .lenient)
        #expect(lenient.problems.problems.isEmpty)
        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.file("users")?.rejected == 3)
    }

    // MARK: Columns and values

    @Test func schoolNumberLeftOutIsAWarningUnlessStrictOrTheProfileSaysOtherwise() throws {
        var set = Sets.clever
        set["schools.csv"] = "School_id,School_name\nsch1,North High\n"
        let standard = try Sets.validate(set, profile: "clever")
        let missing = try #require(standard.problems("header.missing").first)
        #expect(missing.severity == .warning && missing.message.contains("School_number") && !standard.fatal)
        #expect(standard.file("schools")?.accepted == 1)

        let strict = try Sets.validate(set, profile: "clever", strictness: .strict)
        #expect(strict.problems("header.missing").first?.severity == .fatal && strict.fatal)

        var own = Sets.profile("clever")
        own.toleranceOverrides[.omittedColumns] = .fail
        #expect(try Sets.validate(set, profile: own).fatal)
    }

    @Test func lenientIgnoresAnUnreadableOptionalValueAndKeepsTheRow() throws {
        var set = Sets.oneRoster11
        set["demographics.csv"] = Sets.demographics.replacingOccurrences(of: ",female,", with: ",X,")
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems("value.enum").count == 1 && standard.file("demographics")?.rejected == 1)

        let lenient = try Sets.validate(set, profile: "oneroster-1.1", strictness: .lenient)
        let ignored = try #require(lenient.problems("value.ignored").first)
        #expect(ignored.severity == .warning && ignored.column == 5 && !ignored.message.contains("X,"))
        #expect(lenient.file("demographics")?.accepted == 1)
    }

    // MARK: The set fails

    @Test func aFileInUTF16FailsTheSetWithWhatToDo() throws {
        var set = Sets.oneRoster11
        set["users.csv"] = nil
        let report = try Sets.validate(set, profile: "oneroster-1.1") { directory in
            var bytes: [UInt8] = [0xFF, 0xFE]
            for unit in Sets.users11.utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
            try directory.write("users.csv", bytes)
        }
        let encoding = try #require(report.problems("csv.encoding").first)
        #expect(encoding.file == "users.csv" && encoding.severity == .fatal && encoding.message.contains("UTF-16"))
        #expect(report.fatal && report.problems.problems.count == 1, "\(report.problems.problems)")
    }

    // MARK: What the tolerance must not hide

    @Test func aValueUnderATrailingNamelessColumnIsAShiftedRow() throws {
        // Rows stop before the header's empty name; one has an unquoted comma in its last
        // column, which pushes the rest of the street into the nameless column.
        var set = Sets.clever
        set["students.csv"] = """
            School_id,Student_id,Last_name,First_name,DOB,Grade,IEP_status,Student_street,
            sch1,st1,Smith,Ann,03/04/2010,9,N,1 Main St
            sch1,st2,Nuñez,José,12/31/2009,10,Y,2 Oak Ave, Apt 4

            """
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("csv.field-count").map(\.line) == [3], "\(report.problems.problems)")
        #expect(report.file("students")?.accepted == 1 && report.file("students")?.rejected == 1)
    }

    @Test func aRowThatStopsPartWayThroughTrailingEmptyColumnsIsAShiftedRow() throws {
        // The rows stop before the two empty names; one has an unquoted comma and an empty last
        // column, so it ends one field past them, and its fields are shifted (First_name " Jr.").
        var set = Sets.clever
        set["students.csv"] = """
            School_id,Student_id,Last_name,First_name,Student_street,,
            sch1,st1,Smith,Ann,1 Main St
            sch1,st2,Nuñez, Jr.,José,

            """
        let report = try Sets.validate(set, profile: "clever")
        #expect(report.problems("csv.field-count").map(\.line) == [3], "\(report.problems.problems)")
        #expect(report.file("students")?.accepted == 1 && report.file("students")?.rejected == 1)
    }

    @Test func anOrderedPairOfDatesEitherOrderReadsIsCheckedInTheColumnsOrder() throws {
        // Clever: US dates, month first; the term starts on March 1 and ends on February 1.
        var clever = Sets.clever
        clever["sections.csv"] = Sets.cleverSections + "sch1,se2,te1,Geometry,3/1/2026,2/1/2026\n"
        for strictness in Strictness.allCases {
            let report = try Sets.validate(clever, profile: "clever", strictness: strictness)
            let order = report.problems("value.order")
            #expect(order.map(\.line) == [3] && order.first?.column == 6 && order.first?.severity == .warning, "\(strictness)")
            #expect(report.file("sections")?.warned == 1 && report.file("sections")?.accepted == 2, "\(strictness)")
        }

        // OneRoster, regional dates: the columns are read day first (25/8 and 20/12 say so), so
        // 5/1/2026–1/6/2026 is January 5 to June 1 (in order) and 2/6/2026–1/6/2026 is June 2
        // to June 1 (not).
        var oneRoster = Sets.oneRoster11
        oneRoster["academicSessions.csv"] = """
            sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
            y1,,,2025-26,schoolYear,25/8/2025,20/12/2025,,2026
            t1,,,Spring,term,5/1/2026,1/6/2026,y1,2026
            t2,,,Summer,term,2/6/2026,1/6/2026,y1,2026

            """
        let report = try Sets.validate(oneRoster, profile: "oneroster-1.1")
        let order = report.problems("value.order")
        #expect(order.map(\.line) == [4] && order.first?.column == 7 && order.first?.severity == .row, "\(report.problems.problems)")
        #expect(report.file("academicSessions")?.accepted == 2 && report.file("academicSessions")?.rejected == 1)
    }

    @Test func moreOrderedPairsThanCanBeKeptForTheEndFailTheFileWhenTheyAreOutOfOrder() throws {
        // 1/5/2026 to 2/3/2026 is in order month first and not day first; 25/1 decides day first.
        var set = Sets.oneRoster11
        var sessions = Sets.academicSessions + "a0,,,Winter,term,25/1/2026,26/1/2026,y1,2026\n"
        for index in 1...FileChecker.orderRowLimit + 2 { sessions += "a\(index),,,Winter,term,1/5/2026,2/3/2026,y1,2026\n" }
        set["academicSessions.csv"] = sessions
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.problems.counts["value.order"] == FileChecker.orderRowLimit + 1)
        let fatal = try #require(report.problems("value.order").first { $0.severity == .fatal })
        #expect(fatal.column == 7 && fatal.message.contains("on 2 rows past the first 250,000"), "\(fatal.message)")
        #expect(report.file("academicSessions")?.rejected == FileChecker.orderRowLimit && report.fatal)
    }

    @Test func strictChecksTheOrderOfUSDatesOnlyInTheirOwnForm() throws {
        // Strict: 2026-03-01 is not a US date (a warning in this column) and is not compared.
        var set = Sets.clever
        set["sections.csv"] = Sets.cleverSections + "sch1,se2,te1,Geometry,2026-03-01,02/01/2026\n"
        let strict = try Sets.validate(set, profile: "clever", strictness: .strict)
        #expect(strict.problems("value.date").map(\.line) == [3])
        #expect(strict.problems("value.order").isEmpty, "\(strict.problems.problems)")
    }

    @Test func aRowWithUnresolvedReferencesIntoTwoFilesIsRejectedOnce() throws {
        // b is read before a (a references b), so a row of b waits for its own file and for a.
        let profile = try Profile.decode(json: Data("""
            {"name": "cycle", "recognition": {"fileNames": ["a.csv", "b.csv"], "withoutFiles": ["manifest.csv"]},
             "files": [
               {"name": "a", "key": "id", "columns": [{"name": "id", "required": true, "valueRequired": true}, {"name": "b", "references": "b"}]},
               {"name": "b", "key": "id", "columns": [{"name": "id", "required": true, "valueRequired": true},
                                                       {"name": "parent", "references": "b"}, {"name": "a", "references": "a"}]}
             ]}
            """.utf8))
        let report = try Sets.validate(["a.csv": "id,b\na1,b1\n", "b.csv": "id,parent,a\nb1,b9,a9\nb2,,a1\n"], profile: profile)
        #expect(report.problems("ref.unresolved").count == 2)
        #expect(report.file("b")?.rows == 2 && report.file("b")?.rejected == 1 && report.file("b")?.accepted == 1)
    }

    @Test func whatABulkFileFillsInWhereItLeavesBlankIsIgnoredWhateverItHolds() throws {
        // A spreadsheet's date-time and a status of its own: ignored, as the warning says, and
        // so never a reason to reject the row.
        var set = Sets.oneRoster11
        set["users.csv"] = Sets.users11.replacingOccurrences(of: ",,,true,", with: ",Enabled,5/1/2023 10:00,true,")
        let standard = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(standard.problems("mode.bulk-status").map(\.column) == [2, 3])
        #expect(standard.problems("value.enum").isEmpty && standard.problems("value.datetime").isEmpty, "\(standard.problems.problems)")
        #expect(standard.file("users")?.accepted == 3 && standard.file("users")?.warned == 0)

        let lenient = try Sets.validate(set, profile: "oneroster-1.1", strictness: .lenient)
        #expect(lenient.problems.problems.isEmpty && lenient.file("users")?.accepted == 3, "\(lenient.problems.problems)")
        let strict = try Sets.validate(set, profile: "oneroster-1.1", strictness: .strict)
        #expect(strict.file("users")?.rejected == 3)
    }

    @Test func asManyDatesOnlyEachOrderReadsLeaveTheOrderToTheProfileAndTheWarningSaysSo() throws {
        var set = Sets.oneRoster11
        set["enrollments.csv"] = Sets.enrollments.replacingOccurrences(of: "true,2025-08-15", with: "true,12/25/2025")
            .replacingOccurrences(of: "false,,", with: "false,25/12/2025,")
        let report = try Sets.validate(set, profile: "oneroster-1.1")
        #expect(report.problems("value.date-order").map(\.line) == [3])
        let form = try #require(report.problems("value.date-form").first)
        #expect(form.message.contains("profile's order") && !form.message.contains("can only be read that way"), "\(form.message)")
    }

    @Test func aDateOnlyTheOtherOrderReadsIsAsSevereAsAnyUnreadableValueOfItsColumn() throws {
        // Clever's DOB is a warning when it cannot be read: a date only day first reads, in a
        // column read month first, is one too, as strict makes it; the row is kept.
        var set = Sets.clever
        set["students.csv"] = Sets.cleverStudents.replacingOccurrences(of: "12/31/2009", with: "25/12/2009")
            + "sch1,st3,Lee,Bo,12/24/2009,9,N,\n"
        for strictness in Strictness.allCases {
            let report = try Sets.validate(set, profile: "clever", strictness: strictness)
            let code = strictness == .strict ? "value.date" : "value.date-order"
            #expect(report.problems(code).map(\.line) == [4] && report.problems(code).first?.severity == .warning, "\(strictness)")
            #expect(report.file("students")?.accepted == 4 && report.file("students")?.warned == 1, "\(strictness)")
        }

        // Lenient ignores an unreadable value of an optional column, and so this one.
        var oneRoster = Sets.oneRoster11
        oneRoster["demographics.csv"] = Sets.demographics.replacingOccurrences(of: "2010-03-04", with: "25/12/2010")
            + "u1,,,12/24/1980,male,false,false,false,false,true,false,false,US,CA,Fresno,\n"
            + "u3,,,12/23/1980,male,false,false,false,false,true,false,false,US,CA,Fresno,\n"
        let lenient = try Sets.validate(oneRoster, profile: "oneroster-1.1", strictness: .lenient)
        #expect(lenient.problems("value.date-order").isEmpty && lenient.problems("value.ignored").first?.line == 2, "\(lenient.problems.problems)")
        #expect(lenient.file("demographics")?.accepted == 3)
        let standard = try Sets.validate(oneRoster, profile: "oneroster-1.1")
        #expect(standard.problems("value.date-order").map(\.line) == [2] && standard.file("demographics")?.rejected == 1)
    }

    @Test func aRowWarnedAtTheEndOfItsFileAndRejectedForAReferenceLaterIsNotCountedWarned() throws {
        // The DOB of a2 is a warning once the column is read month first; its parent is
        // resolved after that, and is not there.
        let profile = try Profile.decode(json: Data("""
            {"name": "people", "recognition": {"fileNames": ["people.csv"]},
             "files": [{"name": "people", "key": "id", "columns": [
               {"name": "id", "required": true, "valueRequired": true}, {"name": "parent", "references": "people"},
               {"name": "dob", "type": "usDate", "whenInvalid": "warning"}]}]}
            """.utf8))
        let report = try Sets.validate(["people.csv": "id,parent,dob\na1,,12/25/2010\na2,a9,25/12/2010\na3,,12/24/2010\n"],
                                       profile: profile)
        #expect(report.problems("value.date-order").first?.severity == .warning && report.problems("ref.unresolved").count == 1)
        #expect(report.file("people")?.accepted == 2 && report.file("people")?.rejected == 1 && report.file("people")?.warned == 0)
    }

    @Test func eachByteOrderMarkNamesItsEncoding() {
        func encoding(_ bytes: [UInt8]) -> String? {
            bytes.withUnsafeBufferPointer { CSVReader.foreignEncoding($0) }
        }
        let text = Array("a,b\n".utf8)
        #expect(encoding([0xFF, 0xFE, 0, 0] + text) == "UTF-32" && encoding([0, 0, 0xFE, 0xFF] + text) == "UTF-32")
        #expect(encoding([0xFF, 0xFE] + text) == "UTF-16" && encoding([0xFE, 0xFF] + text) == "UTF-16")
        #expect(encoding([0xEF, 0xBB, 0xBF] + text) == nil && encoding(text) == nil)
    }

    // MARK: The profile's data

    @Test func aProfileSetsSingleTreatmentsOverItsStrictness() throws {
        var json = try Sets.profile("clever").encodedJSON()
        // The encoder writes the keys in no fixed order: "name" may be the last, without a comma.
        json = json.replacingOccurrences(of: "\"name\" : \"clever\"", with: """
            "name" : "clever-strict", "strictness": "strict", "tolerance": {"regionalDates": "normalise"}, "dateOrder": "dayFirst"
            """)
        let profile = try Profile.decode(json: Data(json.utf8))
        let tolerance = profile.tolerance(storeStrictness: .lenient)
        #expect(tolerance[.regionalDates] == .normalise && tolerance[.valueCase] == .reject && profile.dateOrder == .dayFirst)
        #expect(try Profile.decode(json: Data(profile.encodedJSON().utf8)) == profile)

        let unknown = json.replacingOccurrences(of: "\"regionalDates\"", with: "\"regionalDate\"")
        #expect(throws: DecodingError.self) { try Profile.decode(json: Data(unknown.utf8)) }
        let wrong = json.replacingOccurrences(of: "\"regionalDates\": \"normalise\"", with: "\"regionalDates\": \"fail\"")
        let error = #expect(throws: ProfileError.self) { try Profile.decode(json: Data(wrong.utf8)) }
        #expect(error?.message.contains("tolerance.regionalDates") == true)
    }
}
