import EpochCore
import Foundation
import ZIPFoundation

#if canImport(Glibc)
import Glibc
#endif

/// A set uploaded as one `.zip` whose top level holds the files.
///
/// Archives come from outside and are treated as hostile: entry names that would leave the
/// extraction directory, symbolic links and duplicates are refused, sizes and compression
/// ratios are bounded, and nothing is written anywhere but the directory given. The sizes an
/// archive declares are hostile too: an archive whose directory declares what it cannot hold
/// is refused before ZIPFoundation reads it (`ZipDirectory`), declared sizes are never added
/// or multiplied unchecked, and the limits hold on the bytes really written.
public enum ZipSet {
    /// Bounds on what one archive may unpack to.
    public struct Limits: Sendable {
        public var maxEntries = 10_000
        public var maxTotalBytes: Int64 = 64 << 30
        /// Uncompressed bytes per compressed byte of one entry; CSV compresses about 5 to 20 times,
        /// a zip bomb thousands of times.
        public var maxRatio = 200
        public init() {}
    }

    /// The zip to open, if the set is a single zip: the only data file at the top level (strays,
    /// markers and sub-folders aside) is a `.zip`.
    public static func holdsSet(_ files: [SetFile], markers: Set<String> = FileRole.defaultMarkers) -> SetFile? {
        let data = SetInventory(files, markers: markers).data
        guard data.count == 1, let only = data.first, only.path.lowercased().hasSuffix(".zip") else { return nil }
        return only
    }

    /// What the archive says it unpacks to (its entries' declared sizes added up, saturating),
    /// or nil when it cannot be read. For a look at the room there is before extracting, never
    /// as a limit: a declared size can lie, and `extract` bounds the bytes really written.
    public static func declaredSize(_ zip: SetFile, limits: Limits = Limits()) -> Int64? {
        guard case .success = ZipDirectory.check(archiveAt: zip.location, entries: limits.maxEntries + 1),
              let archive = try? Archive(url: URL(fileURLWithPath: zip.location), accessMode: .read, pathEncoding: nil) else { return nil }
        var total: Int64 = 0
        for entry in archive.prefix(limits.maxEntries) {
            let (sum, overflow) = total.addingReportingOverflow(Int64(clamping: entry.uncompressedSize))
            total = overflow ? .max : sum
        }
        return total
    }

    /// Extracts into `directory` (created by the caller, empty, private) safely and returns the files as SetFiles (location inside `directory`) plus the problems (unsafe names, absolute paths, `..`, symlink entries, duplicates, nested folders, limits exceeded, a truncated/corrupt archive). Never writes outside `directory`. Streams entries (never the whole archive in memory).
    ///
    /// Only top-level file entries are written, each created new (`O_EXCL | O_NOFOLLOW`) under
    /// a name without `/`, so no entry can reach outside `directory`. Throws only when a file
    /// cannot be written in `directory`; what is wrong with the archive is a problem.
    public static func extract(_ zip: SetFile, into directory: String, limits: Limits = Limits()) throws -> (files: [SetFile], problems: [Problem]) {
        var problems: [Problem] = []
        func add(_ file: String, _ code: String, _ severity: Severity, _ message: String) {
            problems.append(Problem(file: file, line: 0, column: 0, code: code, severity: severity, message: message))
        }
        let layout: [ZipDirectory.EntryData]
        switch ZipDirectory.check(archiveAt: zip.location, entries: limits.maxEntries + 1) {
        case .success(let entries):
            layout = entries
        case .failure(let flaw):
            add(zip.path, "zip.corrupt", .fatal, "not a readable zip archive: \(flaw.reason): nothing is extracted")
            return ([], problems)
        }
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: zip.location), accessMode: .read)
        } catch {
            add(zip.path, "zip.corrupt", .fatal, "not a readable zip archive (cut off during the upload?): \(error)")
            return ([], problems)
        }
        // Deflated data is read from here, not by ZIPFoundation (see `inflate`).
        let archiveFD = open(zip.location, O_RDONLY | O_CLOEXEC)
        guard archiveFD >= 0 else {
            add(zip.path, "zip.corrupt", .fatal, "not a readable zip archive: cannot be opened: \(String(cString: strerror(errno)))")
            return ([], problems)
        }
        defer { close(archiveFD) }
        var files: [SetFile] = []
        var names = Set<String>()
        var folders = Set<String>()
        var entries = 0
        var total: Int64 = 0
        for entry in archive {
            entries += 1
            if entries > limits.maxEntries {
                add(zip.path, "zip.limit", .fatal, "more than \(limits.maxEntries) entries: the rest is not extracted")
                break
            }
            let components = entry.path.replacingOccurrences(of: "\\", with: "/").split(separator: "/", omittingEmptySubsequences: false)
            guard let name = safeName(entry.path, components) else {
                add(zip.path, "zip.unsafe-entry", .fatal, "entry \(entries) has a name that would leave the set (absolute, `..` or a drive): refused")
                continue
            }
            if entry.type == .symlink {
                add(zip.path, "zip.unsafe-entry", .fatal, "entry `\(name)` is a symbolic link: refused")
                continue
            }
            let parts = components.filter { !$0.isEmpty && $0 != "." }
            if parts.count > 1 || entry.type == .directory {
                let folder = String(parts.first ?? "")
                if folders.insert(folder).inserted {
                    add(folder + "/", "zip.nested-folder", .warning,
                        "a folder inside the archive: the set's files are at the archive's top level, so the folder is not used")
                }
                continue
            }
            // No file name is longer on Linux (ENAMETOOLONG), nor in an epoch (the filesystem's
            // limit): refused here, it is the district's to fix, not a file we cannot write.
            guard name.utf8.count <= 255 else {
                add(zip.path, "zip.unsafe-entry", .fatal, "entry \(entries) has a name longer than 255 bytes, more than a file name can be: refused")
                continue
            }
            guard names.insert(name).inserted else {
                add(name, "zip.duplicate-entry", .fatal, "the archive has this name twice: which one is meant is unclear")
                continue
            }
            // What the headers declare refuses an entry early; it can lie either way, so no sum
            // or product of it is formed unchecked, and what is written is bounded on its own.
            let declared = Int64(clamping: entry.uncompressedSize)
            let compressed = Int64(clamping: entry.compressedSize)
            let ratio = Int64(limits.maxRatio)
            if declared > 0 && (compressed == 0 || declared / compressed > ratio) {
                add(name, "zip.limit", .fatal, "compressed more than \(limits.maxRatio) to 1 (a zip bomb?): not extracted")
                continue
            }
            if declared > limits.maxTotalBytes - total {  // total never passes maxTotalBytes
                add(name, "zip.limit", .fatal, "the archive unpacks to more than \(limits.maxTotalBytes >> 20) MiB: the rest is not extracted")
                break
            }
            // No entry's compressed bytes outnumber the archive's, whatever its headers say.
            let (product, overflow) = min(compressed, zip.size).multipliedReportingOverflow(by: ratio)
            let location = directory + "/" + name
            // The directory was checked entry by entry, in the order ZIPFoundation lists them.
            guard entries <= layout.count else {
                add(zip.path, "zip.corrupt", .fatal, "entry \(entries) is not in the archive's directory as checked: the rest is not extracted")
                break
            }
            let outcome = try write(entry, data: layout[entries - 1], of: archive, archiveFD: archiveFD, to: location,
                                    ratioLimit: overflow ? .max : product, totalLeft: limits.maxTotalBytes - total)
            switch outcome {
            case .written(let size):
                total += size
                files.append(SetFile(path: name, location: location, size: size))
            case .tooLarge:
                add(name, "zip.limit", .fatal, "unpacks to more than its header says or the limits allow: not extracted")
            case .corrupt(let reason):
                add(name, "zip.corrupt", .fatal, "the entry cannot be read (the archive is cut off or damaged): \(reason)")
            }
            if case .written = outcome { continue }
            if case .corrupt = outcome { break }
        }
        return (files, problems)
    }

    private enum Outcome {
        case written(Int64)
        case tooLarge
        case corrupt(String)
    }

    /// Thrown from the consumer to stop an entry that unpacks to more than allowed.
    private struct TooLarge: Error {}

    private struct ChecksumMismatch: Error, CustomStringConvertible {
        var description: String { "the CRC-32 of the unpacked bytes does not match the archive's" }
    }

    /// Streams one entry into a new file; a file not written in full is removed.
    private static func write(_ entry: Entry, data entryData: ZipDirectory.EntryData, of archive: Archive, archiveFD: Int32, to location: String,
                              ratioLimit: Int64, totalLeft: Int64) throws -> Outcome {
        let fd = open(location, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileWriteError(path: location, errno: errno) }
        var written: Int64 = 0
        var writeErrno: Int32 = 0
        do {
            let consumer: Consumer = { data in
                written += Int64(data.count)
                // The header's sizes can lie: the bytes really written are what is bounded.
                if written > ratioLimit || written > totalLeft { throw TooLarge() }
                do {
                    try data.withUnsafeBytes { try Sys.writeAll(fd, $0) }
                } catch let error as SystemError {
                    writeErrno = error.errno
                    throw FileWriteError(path: location, errno: error.errno)
                }
            }
            let checksum = entryData.method == CompressionMethod.deflate.rawValue
                ? try inflate(entryData, from: archiveFD, consumer)
                : try archive.extract(entry, skipCRC32: false, consumer: consumer)
            // Extracting to a consumer computes the checksum but leaves comparing it to the caller.
            if checksum != entry.checksum { throw ChecksumMismatch() }
        } catch {
            close(fd)
            unlink(location)
            if writeErrno != 0 { throw FileWriteError(path: location, errno: writeErrno) }
            if error is TooLarge { return .tooLarge }
            return .corrupt("\(error)")
        }
        guard close(fd) == 0 else {
            unlink(location)
            throw FileWriteError(path: location, errno: errno)
        }
        return .written(written)
    }

    /// Inflates an entry's deflated data, read from the archive's bytes no further than its
    /// compressed size, with ZIPFoundation's inflater. ZIPFoundation's own reading (0.9.20) goes
    /// on past the entry to the archive's end, and when the stream has not ended there, asks for
    /// more forever: a damaged or crafted entry would hang processing.
    ///
    /// The inflater takes every chunk to be as long as it asked for, whatever the chunk's count:
    /// the last one is filled up with zeros (never memory past it; what the zeros may inflate to
    /// is bounded like any output, and fails the CRC), and a stream that has not ended by then is
    /// refused at the next request.
    private static func inflate(_ entry: ZipDirectory.EntryData, from fd: Int32, _ consumer: Consumer) throws -> CRC32 {
        var position = entry.offset
        let end = entry.offset + entry.compressedSize
        return try Data.decompress(size: Int64(entry.compressedSize), bufferSize: 16 << 10, skipCRC32: false, provider: { _, size in
            guard position < end else { throw StreamNotEnded() }
            var chunk = Data(count: size)
            let wanted = Int(min(UInt64(size), end - position))
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, wanted, off_t(position)) }
            guard count > 0 else { throw StreamNotEnded() }
            position += UInt64(count)
            return chunk
        }, consumer: consumer)
    }

    private struct StreamNotEnded: Error, CustomStringConvertible {
        var description: String { "the compressed data ends before the compressed stream does" }
    }

    /// The entry's name when it is safe to create in the directory, else nil: no absolute path,
    /// no drive letter, no `..`, no NUL. (A name with folders is safe here and handled as nested.)
    private static func safeName(_ path: String, _ components: [Substring]) -> String? {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("\\"), !path.contains("\0") else { return nil }
        if let first = components.first, first.count == 2, first.last == ":" { return nil }
        guard !components.contains("..") else { return nil }
        let parts = components.filter { !$0.isEmpty && $0 != "." }
        guard let last = parts.last else { return nil }
        return parts.count == 1 ? String(last) : parts.joined(separator: "/")
    }
}

/// A file could not be written (a file extracted from a zip, a generated benchmark file).
public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
