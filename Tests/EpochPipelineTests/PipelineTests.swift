import EpochFS
@testable import EpochPipeline
import EpochStore
import Foundation
import Ingest
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The pipeline's rules end to end, without a kernel and without sleeping: epochs are
/// uploaded through the kernel-less `FileSystem`, the clock is moved, and one sealer pass and
/// the processor's steps are run by the test.
@Suite struct PipelineTests {
    @Test func aMarkerSealsAtOnceAndTheEpochIsPublishedWithItsLogJSONAndChecksums() throws {
        let pipe = try PipelineHarness()
        // With a file of its own named like one publishing inserts.
        let epoch = try pipe.makeEpoch("20261129T020000Z", Sets.clever + [("SHA256SUMS", "the district's own list\n"), Sets.done])
        try pipe.seal("20261129T020000Z", quietFor: 0.1)
        #expect(try pipe.epoch("20261129T020000Z")?.state == .receiving, "not in the instant after the marker's close")
        try pipe.seal("20261129T020000Z", quietFor: 0.5)
        #expect(try pipe.epoch("20261129T020000Z")?.state == .sealed)
        #expect(pipe.process() == 1)

        #expect(try pipe.names(pipe.upload).isEmpty)
        #expect(try pipe.names(epoch) == (Sets.clever.map(\.0) + [".done", "SHA256SUMS", "SHA256SUMS.received",
                                                                    "processing-succeeded.log", "processing.json"]).sorted())
        #expect(try pipe.text(epoch, "SHA256SUMS.received") == "the district's own list\n")
        let result = try pipe.result("20261129T020000Z")
        #expect(result.outcome == "succeeded" && result.profile == "clever")
        #expect(result.files.first { $0.path == "students.csv" }?.rows == 3)
        // The checksums name every received file where it is now, with its bytes' hash.
        let sums = try pipe.text(epoch, "SHA256SUMS").split(separator: "\n")
        #expect(sums.count == Sets.clever.count + 2)
        #expect(sums.contains { $0.hasSuffix("  SHA256SUMS.received") } && !sums.contains { $0.hasSuffix("  SHA256SUMS") })
        let record = try #require(try pipe.epoch("20261129T020000Z"))
        #expect(record.state == .published && record.outcome == "succeeded" && record.published == pipe.clock.now)
        #expect(try pipe.text(epoch, "processing-succeeded.log").hasPrefix("Processing SUCCEEDED: alpha/20261129T020000Z\n"))
    }

    /// Only the names this publishing inserts push a received file aside, in the tree and in
    /// the lists that name it.
    @Test func aReceivedFileNamedLikeTheLogOfAnotherOutcomeKeepsItsName() throws {
        let pipe = try PipelineHarness()
        let epoch = try pipe.makeEpoch("1764374400", Sets.clever + [("processing-failed.log", "mine\n"), Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.text(epoch, "processing-failed.log") == "mine\n")
        #expect(try pipe.names(epoch).contains("processing-succeeded.log"))
        #expect(try pipe.result("1764374400").files.contains { $0.path == "processing-failed.log" })
        #expect(try pipe.text(epoch, "SHA256SUMS").contains("  processing-failed.log\n"))
    }

    /// The aside name skips every name in the epoch, directories too, and the lists name the
    /// file where publishing put it.
    @Test func aReceivedFileGoesAsidePastADirectoryOfTheAsideName() throws {
        let pipe = try PipelineHarness()
        let epoch = try pipe.makeEpoch("1764374400", Sets.clever + [("SHA256SUMS", "mine\n")])
        let directory = try pipe.fs.mkdir(parent: epoch, name: "SHA256SUMS.received", mode: 0o755, caller: alphaCaller).ino
        try pipe.put([("notes.txt", "kept\n"), Sets.done], into: directory)
        try pipe.put([Sets.done], into: epoch)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.text(epoch, "SHA256SUMS.received.2") == "mine\n")
        #expect(try pipe.result("1764374400").files.contains { $0.path == "SHA256SUMS.received.2" })
        #expect(try pipe.text(epoch, "SHA256SUMS").contains("  SHA256SUMS.received.2\n"))
    }

    @Test func reprocessingAPublishedEpochReplacesItsInsertedFilesInPlace() throws {
        let pipe = try PipelineHarness()
        let epoch = try pipe.makeEpoch("1764374400", Sets.clever + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        let first = try pipe.contents(epoch, "processing.json")
        pipe.clock.set(pipe.clock.now + 60 * second)
        _ = try Administration(pipe.fs).reprocessEpoch(epoch)
        #expect(pipe.process() == 1)
        #expect(try pipe.contents(epoch, "processing.json") != first, "a new processing.json")
        #expect(try pipe.names(pipe.processed) == ["1764374400"], "no second copy")
        #expect(try pipe.names(epoch) == (Sets.clever.map(\.0) + [".done", "SHA256SUMS", "processing-succeeded.log",
                                                                    "processing.json"]).sorted())
        #expect(try pipe.epoch("1764374400")?.published == pipe.clock.now)
    }

    @Test func anEpochSealsOnlyAfterItsLastWriterClosedAndTheSettlePeriod() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 300
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", Array(Sets.clever.prefix(2)))
        let (_, handle) = try pipe.fs.create(parent: epoch, name: "teachers.csv", mode: 0o644, flags: O_WRONLY | O_CREAT,
                                             caller: alphaCaller)
        try pipe.write(handle, Array(Sets.clever[2].1.utf8))
        try pipe.seal("1764374400", quietFor: 3600)
        #expect(try pipe.epoch("1764374400")?.state == .receiving)
        #expect(try pipe.waiting("1764374400")?.contains("open for writing") == true)
        try pipe.fs.flush(handle, caller: alphaCaller)
        pipe.fs.release(handle)
        try pipe.seal("1764374400", quietFor: 299)
        #expect(try pipe.epoch("1764374400")?.state == .receiving, "not before the settle period after the close")
        try pipe.seal("1764374400", quietFor: 300)
        #expect(try pipe.epoch("1764374400")?.state == .sealed)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
    }

    @Test func anInterruptedUploadNeverSealsItsEpochAndResumingItDoes() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", Array(Sets.clever.prefix(1)))
        let students = Array(Sets.clever[1].1.utf8)
        let cut = students.count / 2
        // The writer's close happens while it exits (a dropped session).
        let (created, handle) = try pipe.fs.create(parent: epoch, name: "students.csv", mode: 0o644, flags: O_WRONLY | O_CREAT,
                                                   caller: alphaCaller)
        try pipe.write(handle, Array(students.prefix(cut)))
        try pipe.fs.flush(handle, caller: Caller(uid: alphaUID, gid: alphaUID, pid: try exitedProcessID()))
        pipe.fs.release(handle)
        try pipe.seal("1764374400", quietFor: 600)
        #expect(try pipe.epoch("1764374400")?.sealed == nil)
        #expect(try pipe.waiting("1764374400")?.contains("interrupted upload of students.csv") == true)
        // The client reconnects and appends the rest (OpenSSH reput).
        let resumed = try pipe.fs.open(created.ino, flags: O_WRONLY | O_APPEND, caller: alphaCaller)
        try pipe.write(resumed, Array(students.dropFirst(cut)), at: Int64(cut))
        try pipe.fs.flush(resumed, caller: alphaCaller)
        pipe.fs.release(resumed)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        #expect(try pipe.contents(epoch, "students.csv") == students)
    }

    @Test func aTemporaryNameBlocksSealingUntilItIsRenamed() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", [("schools.csv.filepart", Sets.clever[0].1)] + Array(Sets.clever.dropFirst()))
        try pipe.seal("1764374400", quietFor: 10)
        #expect(try pipe.waiting("1764374400")?.contains("temporary name schools.csv.filepart") == true)
        try pipe.fs.rename(parent: epoch, name: "schools.csv.filepart", newParent: epoch, newName: "schools.csv", flags: [],
                           caller: alphaCaller)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
    }

    @Test func anEpochBlockedPastTheStallLimitIsStalledAndStaffAreToldFinishingItSealsIt() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        settings.stallSeconds = 2
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", Array(Sets.clever.dropFirst()) + [("schools.csv.part", Sets.clever[0].1)])
        try pipe.seal("1764374400", quietFor: 1.9)
        #expect(try pipe.epoch("1764374400")?.state == .receiving)
        try pipe.seal("1764374400", quietFor: 2)
        let stalled = try #require(try pipe.epoch("1764374400"))
        #expect(stalled.state == .stalled && stalled.reason.contains("schools.csv.part"))
        #expect(pipe.staffEvents.filter { $0.contains("\"event\":\"epoch.stalled\"") }.count == 1)
        // Not sealed: the client can still finish.
        try pipe.fs.rename(parent: epoch, name: "schools.csv.part", newParent: epoch, newName: "schools.csv", flags: [],
                           caller: alphaCaller)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
    }

    @Test func aBadlyNamedDirectoryIsReportedAndStaysWritableAndRenamedItIsProcessed() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("backup-old", Array(Sets.clever.prefix(2)))
        try pipe.seal("backup-old", quietFor: 1)
        let bad = try #require(try pipe.epoch("backup-old"))
        #expect(bad.state == .unrecognised && bad.sealed == nil && !bad.reason.isEmpty)
        #expect(pipe.staffEvents.contains { $0.contains("\"event\":\"epoch.bad-name\"") })
        try pipe.put(Array(Sets.clever.dropFirst(2)), into: epoch)
        try pipe.fs.rename(parent: pipe.upload, name: "backup-old", newParent: pipe.upload, newName: "1764374400", flags: [],
                           caller: alphaCaller)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
    }

    @Test func anUnrecognisedUploadStaysFrozenAndStaffAreToldAndALooseFileIsReportedOnce() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", [("old-system-dump.txt", "not a known format\n")])
        try pipe.put([("students.csv", "x\n")], into: pipe.upload)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        let left = try #require(try pipe.epoch("1764374400"))
        #expect(left.state == .unrecognised && !left.reason.isEmpty)
        #expect(try pipe.names(epoch) == ["old-system-dump.txt"], "left where it was")
        #expect(throws: Errno.accessDenied) {
            _ = try pipe.fs.create(parent: epoch, name: "more.csv", mode: 0o644, flags: O_WRONLY | O_CREAT, caller: alphaCaller)
        }
        _ = pipe.pipeline.inspectUnsealed()
        let events = pipe.staffEvents
        #expect(events.filter { $0.contains("\"event\":\"epoch.unrecognised\"") && $0.contains("\"district\":\"alpha\"") }.count == 1)
        #expect(events.filter { $0.contains("upload.loose-file") && $0.contains("students.csv") }.count == 1, "\(events)")
    }

    @Test func anOlderBulkSetSealedAfterANewerOneWasProcessedIsSupersededAndAReusedNameGetsDot2() throws {
        let pipe = try PipelineHarness()
        for name in ["1764460800", "1764374400", "1764460800"] {
            try pipe.makeEpoch(name, Sets.clever + [Sets.done])
            try pipe.seal(name, quietFor: 1)
            #expect(pipe.process() == 1, "\(name) processed")
        }
        #expect(try pipe.names(pipe.processed) == ["1764374400", "1764460800", "1764460800.2"])
        let older = try pipe.published("1764374400")
        #expect(try pipe.text(older, "processing-superseded.log").contains("1764460800"), "the log names the newer set")
        #expect(try pipe.result("1764374400").outcome == "superseded")
        #expect(try pipe.names(try pipe.published("1764460800.2")).contains("processing-succeeded.log"))
    }

    @Test func aZippedSetIsOpenedAndValidatedAndABrokenSetIsPublishedAsFailed() throws {
        let pipe = try PipelineHarness()
        let scratch = pipe.root + "/zip"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        for (name, text) in Sets.clever { try Data(text.utf8).write(to: URL(fileURLWithPath: scratch + "/" + name)) }
        let zip = Process()
        zip.executableURL = URL(fileURLWithPath: "/usr/bin/zip")
        zip.currentDirectoryURL = URL(fileURLWithPath: scratch)
        zip.arguments = ["-q", "-X", "set.zip"] + Sets.clever.map(\.0)
        try zip.run()
        zip.waitUntilExit()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: scratch + "/set.zip")))
        let zipped = try pipe.fs.mkdir(parent: pipe.upload, name: "1764374400", mode: 0o755, caller: alphaCaller).ino
        let (_, handle) = try pipe.fs.create(parent: zipped, name: "set.zip", mode: 0o644, flags: O_WRONLY | O_CREAT, caller: alphaCaller)
        try pipe.write(handle, bytes)
        try pipe.fs.flush(handle, caller: alphaCaller)
        pipe.fs.release(handle)
        try pipe.put([("_SUCCESS", "")], into: zipped)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        #expect(try pipe.result("1764374400").unzipped?.count == Sets.clever.count)

        try pipe.makeEpoch("1764460800", [("schools.csv", "School_id,School_name,School_number\r\n"),
                                          ("students.csv", "School_id,Student_id,Last_name\r\nS1,1001,Nunez\r\n"), Sets.done])
        try pipe.seal("1764460800", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764460800")?.outcome == "failed")
        let result = try pipe.result("1764460800")
        #expect(result.problems.contains { $0.file == "students.csv" && $0.severity == .fatal })
        #expect(try pipe.names(try pipe.published("1764460800")).contains("processing-failed.log"))
        #expect(pipe.staffEvents.contains { $0.contains("\"event\":\"epoch.failed\"") })
    }

    /// Deviations a careful integrator takes: what real exporters send (docs/profiles.md, "Tolerance").
    @Test func setsWithOnlyAcceptedOrNormalisedDeviationsSucceedWithOneWarningPerColumn() throws {
        // Clever: no School_number, dates M/D/YY, old-Mac CR-only lines, no final newline.
        var students = "School_id,Student_id,Last_name,First_name,DOB,Grade\r"
        for n in 0..<300 { students += "S1,\(3000 + n),Family\(n),Given\(n),\(n % 12 + 1)/\(n % 28 + 1)/\(10 + n % 5),\(n % 9 + 1)\r" }
        let clever: [(String, String)] = [
            ("schools.csv", "School_id,School_name\rS1,North High"),
            ("students.csv", students),
            ("teachers.csv", "School_id,Teacher_id,First_name,Last_name\rS1,T1,Dee,Park\r"),
            ("sections.csv", "School_id,Section_id,Teacher_id\rS1,SEC1,T1\r"),
            ("enrollments.csv", "School_id,Section_id,Student_id\rS1,SEC1,3000\rS1,SEC1,3001\r"),
        ]
        // OneRoster 1.1 as a spreadsheet saves it: booleans TRUE, dateLastModified a date, filled in a
        // bulk file (one warning for the column, whose values are ignored).
        var manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        for name in ["academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
                     "demographics", "enrollments", "lineItems", "resources", "results"] { manifest += "file.\(name),absent\n" }
        manifest += "file.orgs,bulk\nfile.users,bulk\n"
        let orgs = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,,2023-05-01,North District,district,D1,\n"
        var users = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName\n"
        for n in 0..<50 { users += "u\(n),,,TRUE,org1,Student,user\(n),Given\(n),Family\(n)\n" }
        let oneRoster = [("manifest.csv", manifest), ("orgs.csv", orgs), ("users.csv", users)]

        let pipe = try PipelineHarness()
        for (name, set, expected, file, rows) in [("1764374400", clever, ["schools.csv header.missing", "students.csv value.date-form"],
                                                   "students.csv", 300),
                                                  ("1764460800", oneRoster, ["orgs.csv mode.bulk-status"], "users.csv", 50)] {
            try pipe.makeEpoch(name, set + [Sets.done])
            try pipe.seal(name, quietFor: 1)
            pipe.process()
            let result = try pipe.result(name)
            #expect(result.outcome == "succeeded", "\(name)")
            #expect(result.problems.allSatisfy { $0.severity == .warning }, "\(result.problems)")
            var perColumn: [String: Int] = [:]
            for problem in result.problems { perColumn["\(problem.file) \(problem.code) \(problem.column)", default: 0] += 1 }
            #expect(perColumn.values.allSatisfy { $0 == 1 }, "one warning per (file, code, column): \(perColumn)")
            #expect(Set(result.problems.map { "\($0.file) \($0.code)" }).isSuperset(of: expected))
            #expect(result.files.first { $0.path == file }?.rows == rows)
        }
    }

    @Test func aOneRosterSetWhoseEveryUserIsRejectedFailsAndItsLogOpensWithWhy() throws {
        let pipe = try PipelineHarness()
        let epoch = try pipe.makeEpoch("1764374400", Sets.oneRosterBulk(users: 40, rejected: 40) + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        let lines = try pipe.text(epoch, "processing-failed.log").split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == ["Processing FAILED: alpha/1764374400",
                                           "Failed: users.csv rejected 40 of 40 rows (100 %), above the 5 % limit"])
        #expect(lines.filter { $0.contains("value.enum") }.count == 1, "one line for the 40 rows")
        let result = try pipe.result("1764374400")
        #expect(result.outcome == "failed" && result.reason == "users.csv rejected 40 of 40 rows (100 %), above the 5 % limit")
        #expect(result.rule?.name.rawValue == "too-many-rejected" && result.rule?.file == "users.csv" && result.rule?.limit == 0.05)
        #expect(result.totals?.rows == 41 && result.totals?.accepted == 1 && result.totals?.rejected == 40)
    }

    @Test func aCleverSetWithAFewRejectedRowsSucceedsAndItsLogGivesTheRepeatedProblemOneLine() throws {
        let pipe = try PipelineHarness()
        // Four students (lines 2, 52, 102 and 152) at a school schools.csv does not have.
        var set = Sets.clever(students: 200)
        for id in [2000, 2050, 2100, 2150] {
            set[1].1 = set[1].1.replacingOccurrences(of: "\r\nS1,\(id),", with: "\r\nS9,\(id),")
        }
        let epoch = try pipe.makeEpoch("1764374400", set + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        let log = try pipe.text(epoch, "processing-succeeded.log")
        let lines = log.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == ["Processing SUCCEEDED: alpha/1764374400",
                                           "Succeeded: 400 of 404 rows accepted; 4 rejected (0.99 %), no file above the 5 % limit"])
        let references = lines.filter { $0.contains("ref.unresolved") }
        #expect(references.count == 1)
        #expect(references.first?.hasPrefix("  REJECTED  students.csv column 1: ref.unresolved, 4 times, lines 2, 52, 102 and 1 more: ") == true)
        #expect(!log.contains("S9"), "no value from a row")
        #expect(lines.contains("Marker: .done") && !log.contains("file.marker"))
        let result = try pipe.result("1764374400")
        #expect(result.rule?.name.rawValue == "within-limit" && result.markers == [".done"])
        #expect(result.totals?.rows == 404 && result.totals?.rejected == 4)
    }

    @Test func aBulkSetThatDropsHalfTheEnrollmentsIsHeldAndStaffReleaseIt() throws {
        let pipe = try PipelineHarness()
        try pipe.makeEpoch("1764374400", Sets.clever(students: 200) + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        let second = try pipe.makeEpoch("1764460800", Sets.clever(students: 80) + [Sets.done])
        try pipe.seal("1764460800", quietFor: 1)
        pipe.process()
        let held = try #require(try pipe.epoch("1764460800"))
        #expect(held.state == .held && held.reason.contains("enrollments") && held.profile == "clever")
        #expect(try pipe.names(pipe.upload) == ["1764460800"], "held epochs stay in upload/")
        #expect(pipe.staffEvents.contains { $0.contains("\"event\":\"epoch.held\"") })
        _ = try Administration(pipe.fs).releaseEpoch(second, profile: nil)
        pipe.process()
        #expect(try pipe.epoch("1764460800")?.outcome == "succeeded")
    }

    /// Published epochs leave the quota, and a district cannot delete them: what they may hold
    /// is bounded, so that set after set cannot fill the shared disk.
    @Test func anEpochThatWouldTakeUploadProcessedPastMaxProcessedBytesIsHeldUntilOlderOnesGo() throws {
        let set = Sets.clever(students: 200) + [Sets.done]
        let size = set.reduce(0) { $0 + $1.1.utf8.count }
        var limits = DistrictLimits()
        // Room for one published set and its logs, not for two.
        limits.maxProcessedBytes = Int64(size * 3 / 2)
        let pipe = try PipelineHarness(limits: limits)
        let first = try pipe.makeEpoch("1764374400", set)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        let second = try pipe.makeEpoch("1764460800", set)
        try pipe.seal("1764460800", quietFor: 1)
        pipe.process()
        let held = try #require(try pipe.epoch("1764460800"))
        #expect(held.state == .held && held.reason.contains("max_processed_bytes"))
        // Retention (or staff) deletes the older one; staff then let the held one go on.
        for name in try pipe.names(first) { try pipe.fs.unlink(parent: first, name: name, caller: rootCaller) }
        try pipe.fs.rmdir(parent: pipe.processed, name: "1764374400", caller: rootCaller)
        _ = try Administration(pipe.fs).releaseEpoch(second, profile: nil)
        pipe.process()
        #expect(try pipe.epoch("1764460800")?.outcome == "succeeded")
    }

    @Test func aDeltaSetOlderThanOneAlreadyProcessedIsHeldNotApplied() throws {
        let pipe = try PipelineHarness()
        for (name, expected) in [("1764460800", EpochState.published), ("1764374400", .held)] {
            try pipe.makeEpoch(name, Sets.oneRosterDelta + [Sets.done])
            try pipe.seal(name, quietFor: 1)
            pipe.process()
            let record = try #require(try pipe.epoch(name))
            #expect(record.state == expected && record.profile == "oneroster-1.1")
            if expected == .published { #expect(record.outcome == "succeeded") }
        }
        #expect(try pipe.epoch("1764374400")?.reason.contains("1764460800") == true)
    }

    @Test func aSetWhoseManifestNamesAFileNotArrivedWaitsPastItsSettlePeriodWhileNoMarkerEndsTheUpload() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        settings.manifestWaitSeconds = 7200
        let pipe = try PipelineHarness(settings: settings)
        let manifest = Sets.oneRosterDelta[0].1.replacingOccurrences(of: "file.users,absent", with: "file.users,delta")
        let epoch = try pipe.makeEpoch("1764374400", [("manifest.csv", manifest), Sets.oneRosterDelta[1]])
        try pipe.seal("1764374400", quietFor: 7199)
        #expect(try pipe.epoch("1764374400")?.state == .receiving)
        #expect(try pipe.waiting("1764374400")?.contains("users.csv") == true)
        let users = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
            + "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
            + "u1,active,2026-11-28T00:00:00Z,true,org1,student,ana,,Ana,Nunez,,,,,,,09,\n"
        try pipe.put([("users.csv", users)], into: epoch)
        // Without a marker, the settle period after the last file decides.
        try pipe.seal("1764374400", quietFor: 0.9)
        #expect(try pipe.epoch("1764374400")?.state == .receiving)
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
    }

    @Test func aSetStillWaitingForItsManifestsFilesSealsAtTheManifestWait() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 1
        settings.manifestWaitSeconds = 7200
        let pipe = try PipelineHarness(settings: settings)
        try pipe.makeEpoch("1764374400", Sets.oneRoster12Delta("file.users,delta"))
        try pipe.seal("1764374400", quietFor: 7200)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "failed", "users is required")
        #expect(try pipe.result("1764374400").problems.contains { $0.code == "manifest.missing-file" && $0.file == "users.csv" })
    }

    @Test func aMarkerClosedLastSealsASetMissingAManifestFileAtOnceAndItFailsOnlyIfTheFileIsRequired() throws {
        let pipe = try PipelineHarness()
        for (name, missing, outcome, severity) in [("1764374400", "demographics", "succeeded", Severity.warning),
                                                   ("1764460800", "users", "failed", .fatal)] {
            let epoch = try pipe.makeEpoch(name, Sets.oneRoster12Delta("file.\(missing),delta") + [Sets.done])
            try pipe.seal(name, quietFor: 1)
            pipe.process()
            #expect(try pipe.epoch(name)?.outcome == outcome)
            let result = try pipe.result(name)
            #expect(result.profile == "oneroster-1.2")
            let reported = result.problems.filter { $0.code == "manifest.missing-file" }
            #expect(reported.count == 1 && reported.first?.file == "\(missing).csv" && reported.first?.severity == severity)
            let log = try pipe.text(epoch, "processing-\(outcome).log")
            #expect(log.contains(severity == .warning ? "the set is used without it" : "cannot be used without it"))
        }
    }

    @Test func aManifestRowWithNoModeIsAbsentAndTheSetSettlesAndSucceedsWithAWarning() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 2
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", Sets.oneRoster12Delta("file.scoreScales,"))
        try pipe.seal("1764374400", quietFor: 2)
        pipe.process()
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        let empty = try pipe.result("1764374400").problems.filter { $0.code == "manifest.empty-mode" }
        #expect(empty.count == 1 && empty.first?.severity == .warning && empty.first?.file == "manifest.csv")
        #expect(try pipe.text(epoch, "processing-succeeded.log").contains("`file.scoreScales` has no value"))
    }

    @Test func aRestartKeepsTheSettleAndStallClocks() throws {
        var settings = PipelineSettings()
        settings.settleSeconds = 10
        settings.stallSeconds = 2
        let pipe = try PipelineHarness(settings: settings)
        try pipe.makeEpoch("1764374400", Array(Sets.clever.dropFirst()) + [("schools.csv.part", Sets.clever[0].1)])
        try pipe.seal("1764374400", quietFor: 2)
        #expect(try pipe.epoch("1764374400")?.state == .stalled)
        try pipe.makeEpoch("1764460800", Sets.clever)
        let lastChange = try pipe.lastChange("1764460800")
        pipe.clock.set(lastChange + 6 * second)
        try pipe.restart()

        // Blocked for longer than the stall limit before the restart, so still stalled after it.
        // Taken from the inodes' ctimes, not the time of the restart 6 s later.
        #expect(try pipe.lastChange("1764460800") == lastChange)
        try pipe.seal("1764460800", quietFor: 9.9)
        #expect(try pipe.epoch("1764374400")?.state == .stalled)
        #expect(try pipe.epoch("1764460800")?.state == .receiving, "the settle period counts from the last change")
        try pipe.seal("1764460800", quietFor: 10)
        pipe.process()
        #expect(try pipe.epoch("1764460800")?.outcome == "succeeded")
        #expect(try pipe.epoch("1764374400")?.state == .stalled)
    }

    @Test func validationStillRunningAtItsTimeLimitStopsAndTheEpochIsPublishedAsFailed() throws {
        var settings = PipelineSettings()
        // A millisecond, against a set of 100,000 students and as many enrollments.
        settings.validationTimeoutSeconds = 0.001
        let pipe = try PipelineHarness(settings: settings)
        let epoch = try pipe.makeEpoch("1764374400", Sets.clever(students: 100_000) + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        pipe.process()
        let result = try pipe.result("1764374400")
        #expect(result.outcome == "failed" && result.reason.contains("time limit (0.001 s)"))
        let stops = result.problems.filter { $0.code == "processing.timeout" }
        #expect(stops.count == 1 && stops.first?.severity == .fatal)
        let lines = try pipe.text(epoch, "processing-failed.log").split(separator: "\n")
        #expect(lines.dropFirst().first?.hasPrefix("Failed: checking the files took longer than the time limit (0.001 s)") == true)
    }

    @Test func aHandOffRunsOnceForASucceededSetAndItsFailureFailsTheSet() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let script = scratch + "/hand-off"
        try Data("#!/bin/sh\necho \"$EPOCHFS_EPOCH\" >> \(scratch)/runs\n[ \"$EPOCHFS_EPOCH\" = 1764374400 ]\n".utf8)
            .write(to: URL(fileURLWithPath: script))
        chmod(script, 0o755)
        let pipe = try PipelineHarness(handOff: script)
        for name in ["1764374400", "1764460800"] {
            try pipe.makeEpoch(name, Sets.clever + [Sets.done])
            try pipe.seal(name, quietFor: 1)
            pipe.process()
        }
        #expect(try String(contentsOfFile: scratch + "/runs", encoding: .utf8) == "1764374400\n1764460800\n")
        #expect(try pipe.epoch("1764374400")?.outcome == "succeeded")
        let failed = try pipe.result("1764460800")
        #expect(failed.outcome == "failed" && failed.reason.hasPrefix("the hand-off command exited with 1"))
        #expect(try pipe.epoch("1764460800")?.handedOff == nil, "the record of the hand-off is cleared by publishing")
    }

    @Test func anEpochWhoseProcessingStartedThreeTimesIsHeld() throws {
        let pipe = try PipelineHarness()
        let epoch = try pipe.makeEpoch("1764374400", Sets.clever + [Sets.done])
        try pipe.seal("1764374400", quietFor: 1)
        // Three starts that never finished (the daemon crashed in each).
        for _ in 0..<3 { _ = try pipe.fs.startProcessing(epoch) }
        pipe.process()
        let held = try #require(try pipe.epoch("1764374400"))
        #expect(held.state == .held && held.reason.hasPrefix("processing started 3 times without finishing"))
    }
}
