import Foundation
import Ingest
import Testing
import ZIPFoundation

@Suite struct ZipSetTests {
    /// Writes a zip of `entries` (path → contents; a nil content makes a directory entry).
    private func makeZip(at path: String, _ entries: [(String, String?)], compression: CompressionMethod = .deflate) throws {
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for (name, text) in entries {
            if let text {
                let data = Data(text.utf8)
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: compression) { (position: Int64, size: Int) -> Data in
                    data.subdata(in: Int(position)..<Int(position) + size)
                }
            } else {
                try archive.addEntry(with: name, type: .directory, uncompressedSize: 0) { (_: Int64, _: Int) -> Data in Data() }
            }
        }
    }

    /// An epoch directory holding one zip, and an empty extraction directory beside it.
    private struct ZipCase {
        let epoch: TestDirectory
        let output: TestDirectory
        var zip: SetFile { epoch.files.first { $0.path.hasSuffix(".zip") }! }

        init() throws {
            epoch = try TestDirectory()
            output = try TestDirectory()
        }

        func remove() {
            epoch.remove()
            output.remove()
        }
    }

    @Test func aZippedCleverSetIsExtractedRecognisedAndValid() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try makeZip(at: test.epoch.path + "/upload.zip", Sets.clever.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        try test.epoch.write(".done", "")
        let zip = try #require(ZipSet.holdsSet(test.epoch.files))
        #expect(zip.path == "upload.zip")
        let (files, problems) = try ZipSet.extract(zip, into: test.output.path)
        #expect(problems == [])
        #expect(files.map(\.path) == ["enrollments.csv", "schools.csv", "sections.csv", "staff.csv", "students.csv", "teachers.csv"])
        #expect(files.allSatisfy { $0.location.hasPrefix(test.output.path + "/") })
        guard case .recognised(let profile) = Recogniser.recognise(files, profiles: ProfileLibrary.builtIn) else {
            Issue.record("the extracted set is not recognised")
            return
        }
        let report = try Validator.validate(files, profile: profile)
        #expect(!report.fatal && report.problems.problems == [])
        #expect(report.file("students")?.rows == 3)
    }

    @Test func aSetIsAZipOnlyWhenTheZipIsItsOnlyDataFile() throws {
        let zip = SetFile(path: "Upload.ZIP", location: "/x", size: 1)
        #expect(ZipSet.holdsSet([zip, SetFile(path: "Thumbs.db", location: "/y", size: 1)]) == zip)
        #expect(ZipSet.holdsSet([zip, SetFile(path: "students.csv", location: "/y", size: 1)]) == nil)
        #expect(ZipSet.holdsSet([SetFile(path: "students.csv", location: "/y", size: 1)]) == nil)
    }

    @Test(arguments: ["../x", "../../etc/x", "/tmp/x", "a/../../x", "..\\x", "C:/x"])
    func anEntryEscapingTheDirectoryIsRefusedAndNothingIsWrittenOutside(name: String) throws {
        let test = try ZipCase()
        defer { test.remove() }
        let parent = (test.output.path as NSString).deletingLastPathComponent
        try makeZip(at: test.epoch.path + "/evil.zip", [(name, "payload"), ("students.csv", Sets.cleverStudents)])
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(problems.map(\.code) == ["zip.unsafe-entry"])
        #expect(problems.first?.severity == .fatal)
        #expect(files.map(\.path) == ["students.csv"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: test.output.path) == ["students.csv"])
        // Where each name would have led: beside the output, above it, or by its absolute path.
        for escaped in [parent + "/x", (parent as NSString).deletingLastPathComponent + "/x", "/tmp/x", "/etc/x", test.output.path + "/..\\x"] {
            #expect(!FileManager.default.fileExists(atPath: escaped), "\(escaped)")
        }
    }

    @Test func aCutOffZipIsCorrupt() throws {
        let test = try ZipCase()
        defer { test.remove() }
        let path = test.epoch.path + "/upload.zip"
        try makeZip(at: path, Sets.clever.map { ($0.key, $0.value) })
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size / 2)) == 0)
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
        #expect(problems.first?.severity == .fatal)
    }

    @Test func aDamagedEntryIsCorruptAndLeavesNoPartialFile() throws {
        let test = try ZipCase()
        defer { test.remove() }
        let path = test.epoch.path + "/upload.zip"
        let text = String(repeating: "sch1,st1,Smith,Ann\n", count: 200)
        try makeZip(at: path, [("students.csv", text)], compression: .none)
        // Flip a byte of the stored data: the CRC no longer matches.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[100] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: test.output.path).isEmpty)
    }

    @Test func nestedFoldersAreWarnedOnceAndNotExtracted() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try makeZip(at: test.epoch.path + "/upload.zip", [
            ("students.csv", Sets.cleverStudents), ("old/", nil), ("old/students.csv", "x"), ("old/teachers.csv", "y"),
            ("__MACOSX/._students.csv", "z"),
        ])
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.map(\.path) == ["students.csv"])
        #expect(problems.map(\.code) == ["zip.nested-folder", "zip.nested-folder"])
        #expect(problems.map(\.file) == ["old/", "__MACOSX/"])
        #expect(problems.allSatisfy { $0.severity == .warning })
    }

    @Test func duplicateAndSymlinkEntriesAreRefused() throws {
        let test = try ZipCase()
        defer { test.remove() }
        let path = test.epoch.path + "/upload.zip"
        try makeZip(at: path, [("students.csv", Sets.cleverStudents), ("students.csv", "again")])
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .update)
        let target = Data("/etc/passwd".utf8)
        try archive.addEntry(with: "link.csv", type: .symlink, uncompressedSize: Int64(target.count)) { (position: Int64, size: Int) -> Data in
            target.subdata(in: Int(position)..<Int(position) + size)
        }
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.map(\.path) == ["students.csv"])
        #expect(problems.map(\.code) == ["zip.duplicate-entry", "zip.unsafe-entry"])
        #expect(try String(contentsOfFile: test.output.path + "/students.csv", encoding: .utf8) == Sets.cleverStudents)
    }

    @Test func aZipBombIsStoppedByTheRatioAndTheLimits() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try makeZip(at: test.epoch.path + "/upload.zip", [("students.csv", String(repeating: "0", count: 1 << 20)), ("a.csv", "b")])
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(problems.map(\.code) == ["zip.limit"])
        #expect(files.map(\.path) == ["a.csv"])
        var limits = ZipSet.Limits()
        limits.maxEntries = 1
        limits.maxRatio = 1_000_000
        let output = try TestDirectory()
        defer { output.remove() }
        let limited = try ZipSet.extract(test.zip, into: output.path, limits: limits)
        #expect(limited.problems.map(\.code) == ["zip.limit"])
        #expect(limited.files.map(\.path) == ["students.csv"])
    }
}
