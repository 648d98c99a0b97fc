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

    /// Found by fuzzing (Fuzz/Corpus/zip/found-stream-never-ends.zip): ZIPFoundation reads a
    /// deflated entry on past its end, and at the archive's end, with the stream still open, it
    /// asked for more bytes forever: extracting this archive never returned.
    @Test func aDeflatedStreamStillOpenAtTheArchivesEndIsCorruptNotAHang() throws {
        let test = try ZipCase()
        defer { test.remove() }
        let archive = "UEsDBC0AAAAIAAAAIQBgDGUT///4//////+UABwAc2MMCJOrMTXDUMcvv6gkQwEkqmNoYKhjqWdoxAUAUEsBAi0DLQAAAAgAAAAhAGAMZUBCAAAAUgAAAAsA"
            + "AAAAAAAAAAAAAIABAAAAAHNjaG9vbEMBJKpjaGCoY6lnaMQFAFBLAQItAy0AAAAIAAAAIQBgDGVAQgAAAFIAAAALAAAAAAAAACAAAACAAQAAAABzY2hv"
            + "b2xzLmNzdlBLBQYAAAAAAQABADgAAAB/AAAAAAA="
        try Data(base64Encoded: archive)!.write(to: URL(fileURLWithPath: test.epoch.path + "/upload.zip"))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: test.output.path).isEmpty)
    }

    /// The same with a stored block that announces more than the entry and the rest of the
    /// archive hold: ZIPFoundation took what follows the entry, then memory past the bytes it
    /// had read, as the block's data, and then waited for more forever.
    @Test func aDeflatedStreamThatDoesNotEndInItsDataIsCorrupt() throws {
        let test = try ZipCase()
        defer { test.remove() }
        let path = test.epoch.path + "/upload.zip"
        // Compressed to some hundreds of bytes, so that its ratio limit is above what the
        // inflater is given at once (16 KiB).
        let students = (0..<200).map { "st\($0),Name\($0 * 7919 % 1000),\($0 * 104_729 % 9973)\n" }.joined()
        try makeZip(at: path, [("students.csv", students)])
        // The data follows the 30-byte local header, its name and its extra field. A stored
        // block is put there that announces 65,535 bytes, far more than the archive holds.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let data = 30 + (Int(bytes[26]) | Int(bytes[27]) << 8) + (Int(bytes[28]) | Int(bytes[29]) << 8)
        bytes.replaceSubrange(data..<data + 5, with: [0x00, 0xFF, 0xFF, 0x00, 0x00])
        try bytes.write(to: URL(fileURLWithPath: path))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: test.output.path).isEmpty)
    }

    /// Found by fuzzing: a name longer than a file name can be made extracting throw (the file
    /// could not be created), so the epoch was held for staff instead of failing for the district.
    @Test func anEntryNameLongerThan255BytesIsRefused() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try makeZip(at: test.epoch.path + "/upload.zip", [(String(repeating: "é", count: 128) + ".csv", "a\n"), ("schools.csv", "a\n")])
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.map(\.path) == ["schools.csv"])
        #expect(problems.map(\.code) == ["zip.unsafe-entry"])
    }

    @Test(arguments: ["a damaged second entry", "bytes before the archive"])
    func aDamagedArchiveIsRefusedRatherThanReadInPart(damage: String) throws {
        let test = try ZipCase()
        defer { test.remove() }
        let path = test.epoch.path + "/upload.zip"
        try makeZip(at: path, Sets.clever.map { ($0.key, $0.value) }, compression: .none)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        if damage == "bytes before the archive" {
            bytes = Data(repeating: 0x20, count: 1000) + bytes
        } else {
            // The second local header's signature (the first is at offset 0).
            let signature = Data([0x50, 0x4B, 0x03, 0x04])
            let second = try #require(bytes.range(of: signature, in: 4..<bytes.count))
            bytes[second.lowerBound] = 0
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"], "\(problems)")
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

    // MARK: Declared sizes near the top of UInt64

    @Test func theHandWrittenZIP64ArchiveIsReadWhenItsSizesAreTrue() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try Data(CraftedZip.bytes([.stored("a.csv", "id\n1\n"), .deflated("b.csv", "b")])).write(to: URL(fileURLWithPath: test.epoch.path + "/upload.zip"))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(problems == [])
        #expect(files.map(\.path) == ["a.csv", "b.csv"])
        #expect(try String(contentsOfFile: test.output.path + "/b.csv", encoding: .utf8) == "b")
    }

    /// Archives whose second entry declares sizes or an offset no archive of this length can
    /// hold. Each of them once trapped the process: in the sums and products of `extract`, or
    /// inside ZIPFoundation, which converts declared values to Int64 and adds them unchecked.
    static let lyingEntries: [CraftedZip.Entry] = [
        .stored("b.csv", "b", uncompressedSize: UInt64(Int64.max), compressedSize: .max),
        .stored("b.csv", "b", uncompressedSize: 100, compressedSize: .max),
        .deflated("b.csv", "b", compressedSize: .max),
        .stored("b.csv", "b", uncompressedSize: .max, compressedSize: .max, flags: 1 << 3),  // sizes in a data descriptor
        .stored("b.csv", "b", localHeaderOffset: .max),
    ]

    @Test(arguments: lyingEntries)
    func anArchiveDeclaringImpossibleSizesIsCorruptAndNothingIsExtracted(entry: CraftedZip.Entry) throws {
        let test = try ZipCase()
        defer { test.remove() }
        try Data(CraftedZip.bytes([.stored("a.csv", "id\n1\n"), entry])).write(to: URL(fileURLWithPath: test.epoch.path + "/upload.zip"))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
        #expect(problems.first?.severity == .fatal)
        #expect(try FileManager.default.contentsOfDirectory(atPath: test.output.path).isEmpty)
    }

    @Test func anArchiveWhoseDirectoryIsSaidToBeginPastItsEndIsCorrupt() throws {
        let test = try ZipCase()
        defer { test.remove() }
        try Data(CraftedZip.bytes([.stored("a.csv", "id\n1\n")], directoryOffset: .max)).write(to: URL(fileURLWithPath: test.epoch.path + "/upload.zip"))
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path)
        #expect(files.isEmpty)
        #expect(problems.map(\.code) == ["zip.corrupt"])
    }

    @Test func declaredSizesAreNeitherAddedNorMultipliedUnchecked() throws {
        let test = try ZipCase()
        defer { test.remove() }
        // A deflated entry whose compressed size is true and whose uncompressed size is not.
        try Data(CraftedZip.bytes([.stored("a.csv", "id\n1\n"), .deflated("b.csv", "b", uncompressedSize: .max)]))
            .write(to: URL(fileURLWithPath: test.epoch.path + "/upload.zip"))
        var limits = ZipSet.Limits()
        limits.maxRatio = .max
        let (files, problems) = try ZipSet.extract(test.zip, into: test.output.path, limits: limits)
        #expect(files.map(\.path) == ["a.csv"])
        #expect(problems.map(\.code) == ["zip.limit"])
    }
}

/// A ZIP64 archive written byte by byte, so that its headers can declare what no zip library
/// would write: every entry has its sizes (and, if given, its local header's offset) in a ZIP64
/// extra field, and the archive ends with a ZIP64 end of central directory record and locator.
enum CraftedZip {
    struct Entry: Sendable, CustomTestStringConvertible {
        var name: String
        /// The entry's bytes as the archive holds them.
        var data: [UInt8]
        var method: UInt16
        var crc: UInt32
        var uncompressedSize: UInt64
        var compressedSize: UInt64
        /// nil: where the local header really is.
        var localHeaderOffset: UInt64?
        var flags: UInt16 = 0

        /// Stored as it is; the sizes are the text's unless given.
        static func stored(_ name: String, _ text: String, uncompressedSize: UInt64? = nil, compressedSize: UInt64? = nil,
                           localHeaderOffset: UInt64? = nil, flags: UInt16 = 0) -> Entry {
            let data = Data(text.utf8)
            return Entry(name: name, data: Array(data), method: 0, crc: data.crc32(checksum: 0),
                         uncompressedSize: uncompressedSize ?? UInt64(data.count), compressedSize: compressedSize ?? UInt64(data.count),
                         localHeaderOffset: localHeaderOffset, flags: flags)
        }

        /// Deflated as one stored block (`text` is under 64 KiB); the sizes are true unless given.
        static func deflated(_ name: String, _ text: String, uncompressedSize: UInt64? = nil, compressedSize: UInt64? = nil) -> Entry {
            let data = Data(text.utf8)
            let length = UInt16(data.count)
            let block = [0x01] + bytes(length) + bytes(~length) + Array(data)
            return Entry(name: name, data: block, method: 8, crc: data.crc32(checksum: 0),
                         uncompressedSize: uncompressedSize ?? UInt64(data.count), compressedSize: compressedSize ?? UInt64(block.count),
                         localHeaderOffset: nil)
        }

        var testDescription: String {
            "method \(method), sizes \(uncompressedSize)/\(compressedSize), offset \(localHeaderOffset.map { "\($0)" } ?? "true"), flags \(flags)"
        }
    }

    /// `directoryOffset` is where the ZIP64 end record says the central directory begins; nil: where it does.
    static func bytes(_ entries: [Entry], directoryOffset: UInt64? = nil) -> [UInt8] {
        var archive: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = UInt64(archive.count)
            let name = Array(entry.name.utf8)
            var sizes = bytes(entry.uncompressedSize) + bytes(entry.compressedSize)
            archive += bytes(UInt32(0x0403_4B50)) + bytes(UInt16(45)) + bytes(entry.flags) + bytes(entry.method) + bytes(UInt32(0))
            archive += bytes(entry.crc) + bytes(UInt32.max) + bytes(UInt32.max) + bytes(UInt16(name.count)) + bytes(UInt16(4 + sizes.count))
            archive += name + bytes(UInt16(1)) + bytes(UInt16(sizes.count)) + sizes + entry.data
            if let declared = entry.localHeaderOffset { sizes += bytes(declared) }
            central += bytes(UInt32(0x0201_4B50)) + bytes(UInt16(45)) + bytes(UInt16(45)) + bytes(entry.flags) + bytes(entry.method)
            central += bytes(UInt32(0)) + bytes(entry.crc) + bytes(UInt32.max) + bytes(UInt32.max)
            central += bytes(UInt16(name.count)) + bytes(UInt16(4 + sizes.count)) + bytes(UInt16(0)) + bytes(UInt16(0)) + bytes(UInt16(0))
            central += bytes(UInt32(0)) + bytes(entry.localHeaderOffset == nil ? UInt32(offset) : UInt32.max)
            central += name + bytes(UInt16(1)) + bytes(UInt16(sizes.count)) + sizes
        }
        let centralOffset = UInt64(archive.count)
        archive += central
        let recordOffset = UInt64(archive.count)
        archive += bytes(UInt32(0x0606_4B50)) + bytes(UInt64(44)) + bytes(UInt16(45)) + bytes(UInt16(45)) + bytes(UInt32(0)) + bytes(UInt32(0))
        archive += bytes(UInt64(entries.count)) + bytes(UInt64(entries.count)) + bytes(UInt64(central.count)) + bytes(directoryOffset ?? centralOffset)
        archive += bytes(UInt32(0x0706_4B50)) + bytes(UInt32(0)) + bytes(recordOffset) + bytes(UInt32(1))
        archive += bytes(UInt32(0x0605_4B50)) + bytes(UInt16(0)) + bytes(UInt16(0)) + bytes(UInt16.max) + bytes(UInt16.max)
        archive += bytes(UInt32.max) + bytes(UInt32.max) + bytes(UInt16(0))
        return archive
    }

    /// Little-endian, as every number in a zip archive is.
    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
