import Foundation
import Ingest
import Testing

@Suite struct RecogniserTests {
    private func recognise(_ set: [String: String], extra: (TestDirectory) throws -> Void = { _ in }) throws -> Recognition {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(set)
        try extra(directory)
        return Recogniser.recognise(directory.files, profiles: ProfileLibrary.builtIn)
    }

    private func name(_ recognition: Recognition) -> String? {
        if case .recognised(let profile) = recognition { return profile.name }
        return nil
    }

    private func reason(_ recognition: Recognition) -> String {
        if case .unrecognised(let reason) = recognition { return reason }
        return ""
    }

    @Test func eachBuiltInSetIsRecognised() throws {
        #expect(name(try recognise(Sets.oneRoster11)) == "oneroster-1.1")
        #expect(name(try recognise(Sets.oneRoster12)) == "oneroster-1.2")
        #expect(name(try recognise(Sets.clever)) == "clever")
    }

    @Test func cleverFileNamesMatchInAnyCaseAndOneFileIsEnough() throws {
        #expect(name(try recognise(["Students.csv": Sets.cleverStudents])) == "clever")
        #expect(name(try recognise(["SECTIONS.CSV": Sets.cleverSections, "notes.txt": "x"])) == "clever")
    }

    @Test func straysAndMarkersDoNotChangeRecognition() throws {
        let recognition = try recognise(Sets.clever) { directory in
            try directory.write("Thumbs.db", "x")
            try directory.write(".DS_Store", "x")
            try directory.write("~$students.csv", "x")
            try directory.write(".done", "")
        }
        #expect(name(recognition) == "clever")
        #expect(name(try recognise(["Thumbs.db": "x", ".done": ""])) == nil)
    }

    @Test func aOneRosterLookingSetWithoutManifestIsLeftForStaffWithWhatItLacks() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = nil
        set["notes.txt"] = "from the district"
        let recognition = try recognise(set)
        #expect(name(recognition) == nil)
        let said = reason(recognition)
        // Both versions know every one of its files.
        #expect(said.hasPrefix("looks like oneroster-1.1 or oneroster-1.2 (academicSessions.csv, classes.csv, courses.csv, "
                               + "demographics.csv, enrollments.csv, orgs.csv, users.csv are their files) but has no manifest.csv; "
                               + "a oneroster-1.1 or oneroster-1.2 set needs manifest.csv with the header propertyName,value "
                               + "and manifest.version 1.0 and oneroster.version 1.1 or 1.2 (a OneRoster 1.0 export has none"), "\(said)")
        #expect(said.hasSuffix("; other files: notes.txt"), "\(said)")
        #expect(!said.contains("from the district"), "never a file's contents")
    }

    @Test func aSetWithoutManifestIsNamedAfterTheProfileThatKnowsMostOfItsFiles() throws {
        // roles.csv is a file of OneRoster 1.2 only; students.csv is Clever's.
        let said = reason(try recognise(["users.csv": Sets.users12, "roles.csv": Sets.roles12, "students.csv": Sets.cleverStudents]))
        #expect(said.hasPrefix("looks like oneroster-1.2 (roles.csv, users.csv are its files) but has no manifest.csv; "
                               + "a oneroster-1.2 set needs manifest.csv with the header propertyName,value "
                               + "and manifest.version 1.0 and oneroster.version 1.2 ("), "\(said)")
        #expect(said.hasSuffix("; other files: students.csv"), "\(said)")
    }

    @Test func aManifestOfAnotherVersionIsNamedInTheReason() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.0\n"
        let recognition = try recognise(set)
        #expect(name(recognition) == nil)
        #expect(reason(recognition).contains("oneroster.version is `1.0`"))
    }

    @Test func aManifestWithAnotherHeaderIsNotOneRoster() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = "property,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        let recognition = try recognise(set)
        #expect(name(recognition) == nil)
        #expect(reason(recognition).contains("header"))
    }

    @Test func aManifestOfFiftyMegabytesIsNotAManifest() throws {
        // Its first rows are a valid manifest: read to its end, it would be recognised.
        var set = Sets.oneRoster11
        set["manifest.csv"] = set["manifest.csv"]! + String(repeating: "metadata.note," + String(repeating: "x", count: 1000) + "\n", count: 50_000)
        let recognition = try recognise(set)
        #expect(name(recognition) == nil)
        #expect(reason(recognition).contains("manifest.csv is not a manifest: larger than 1 MiB"))
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(set)
        #expect(Recogniser.awaitedFiles(directory.files, profiles: ProfileLibrary.builtIn).isEmpty)
    }

    @Test func aManifestOfMoreRowsThanAManifestHasIsNotAManifest() throws {
        var set = Sets.oneRoster11
        set["manifest.csv"] = set["manifest.csv"]! + String(repeating: "metadata.note,x\n", count: 20_000)
        let recognition = try recognise(set)
        #expect(name(recognition) == nil)
        #expect(reason(recognition).contains("manifest.csv is not a manifest: more than 10000 rows"))
    }

    @Test func nothingKnownIsUnrecognisedWithTheFilesListed() throws {
        let recognition = try recognise(["grades.xlsx": "x", "roster.txt": "y"])
        #expect(reason(recognition).hasPrefix("no manifest.csv and none of the file names of clever"))
        #expect(reason(recognition).hasSuffix("files: grades.xlsx, roster.txt"))
    }

    @Test func aSetOfOneZipMustBeExtractedFirst() throws {
        let recognition = try recognise(["upload.zip": "PK"])
        #expect(reason(recognition).contains("zip"))
    }

    @Test func nestedFilesAreNotUsedForRecognition() throws {
        #expect(name(try recognise(["sub/students.csv": Sets.cleverStudents])) == nil)
    }

    @Test func theManifestsBulkAndDeltaFilesNotYetUploadedAreAwaited() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        var set = Sets.oneRoster11
        set["users.csv"] = nil
        set["enrollments.csv"] = nil
        try directory.write(set)
        #expect(Recogniser.awaitedFiles(directory.files, profiles: ProfileLibrary.builtIn) == ["users.csv", "enrollments.csv"])
        try directory.write("users.csv", Sets.users11)
        try directory.write("enrollments.csv", Sets.enrollments)
        #expect(Recogniser.awaitedFiles(directory.files, profiles: ProfileLibrary.builtIn).isEmpty)
    }

    @Test func aFileWhoseModeIsEmptyOrNotAModeIsNotAwaited() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        var set = Sets.oneRoster11
        set["users.csv"] = nil
        set["enrollments.csv"] = nil
        set["courses.csv"] = nil
        var modes = Sets.bulk11
        modes["users"] = ""
        modes["enrollments"] = "full"
        modes["courses"] = "Bulk"
        set["manifest.csv"] = Sets.manifest(version: "1.1", modes: modes)
        try directory.write(set)
        #expect(Recogniser.awaitedFiles(directory.files, profiles: ProfileLibrary.builtIn) == ["courses.csv"])
    }

    @Test func nothingIsAwaitedWithoutAManifest() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(Sets.clever)
        #expect(Recogniser.awaitedFiles(directory.files, profiles: ProfileLibrary.builtIn).isEmpty)
    }
}
