import EpochCore
#if canImport(Glibc)
import Glibc
#endif

/// The sizes and offsets a zip archive's directory declares, checked before ZIPFoundation reads
/// the archive.
///
/// ZIPFoundation (0.9.20) converts what an archive declares to `Int64` and `off_t`, and adds
/// it, without overflow checks: a ZIP64 field near `UInt64.max` traps the process inside it,
/// some of them while merely listing the entries, before any of our code sees the entry. No
/// true offset or compressed size goes past the archive's end, and neither does the size of
/// stored (uncompressed) data, so each of these values is compared with the archive's length,
/// found the way ZIPFoundation finds it. The uncompressed size of deflated data is the one
/// value that may truly be larger: ZIPFoundation does not use it to read, and `ZipSet` bounds
/// the bytes it really writes.
enum ZipDirectory {
    /// Where one entry's data lies in the archive, as its headers say once checked.
    struct EntryData {
        /// The local header's compression method, the one ZIPFoundation reads the data by.
        var method: UInt16
        /// Of the first byte after the local header; it and the size are within the archive's
        /// length, so their sum does not overflow.
        var offset: UInt64
        var compressedSize: UInt64
    }

    /// Why an archive is refused, for staff.
    struct Flaw: Error {
        var reason: String
    }

    /// Where the data of each of the first `entries` entries of the directory lies, when
    /// everything ZIPFoundation will read of them lies within the archive at `path`; else why not.
    static func check(archiveAt path: String, entries limit: Int) -> Result<[EntryData], Flaw> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Flaw(reason: "cannot be opened: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return .failure(Flaw(reason: "cannot be read: \(String(cString: strerror(errno)))")) }
        let archive = ArchiveBytes(fd: fd, length: UInt64(max(status.st_size, 0)))

        // The end of central directory record: the last one in the archive's last 64 KiB (its
        // comment is at most that long). ZIPFoundation looks further back, a byte at a time.
        let tailLength = Int(min(archive.length, UInt64(22 + 0xFFFF)))
        guard let tail = archive.bytes(at: archive.length - UInt64(tailLength), count: tailLength),
              let endIndex = stride(from: tailLength - 22, through: 0, by: -1).first(where: { tail.uint32(at: $0) == 0x0605_4B50 })
        else {
            return .failure(Flaw(reason: "no end of central directory record in its last 64 KiB (cut off during the upload, or data added after it?)"))
        }
        let end = archive.length - UInt64(tailLength - endIndex)
        var entryCount = UInt64(tail.uint16(at: endIndex + 10))
        var directory = UInt64(tail.uint32(at: endIndex + 16))
        // A ZIP64 end of central directory record replaces those, if it is right before its
        // locator, which is right before the end record (where ZIPFoundation looks for it).
        if end > 20 + 56, let locator = archive.bytes(at: end - 20, count: 4), locator.uint32(at: 0) == 0x0706_4B50,
           let record = archive.bytes(at: end - 20 - 56, count: 56), record.uint32(at: 0) == 0x0606_4B50, record.uint16(at: 14) >= 45 {
            entryCount = record.uint64(at: 32)
            directory = record.uint64(at: 48)
        }
        guard directory <= archive.length else {
            return .failure(Flaw(reason: "its directory is said to begin past the archive's end (damaged or crafted)"))
        }

        var position = directory
        var entries: [EntryData] = []
        for index in 0..<Int(min(entryCount, UInt64(max(limit, 0)))) {
            // ZIPFoundation's listing would end quietly at a header it cannot read, and the
            // entries after it would be lost without a word: a damaged archive is refused.
            let unreadable = Flaw(reason: "entry \(index + 1) of \(entryCount) cannot be read (a damaged archive, or data added before it)")
            guard let header = archive.bytes(at: position, count: 46), header.uint32(at: 0) == 0x0201_4B50 else { return .failure(unreadable) }
            let nameLength = Int(header.uint16(at: 28))
            let extraLength = Int(header.uint16(at: 30))
            let commentLength = Int(header.uint16(at: 32))
            guard let extra = archive.bytes(at: position + 46 + UInt64(nameLength), count: extraLength),
                  archive.bytes(at: position + 46 + UInt64(nameLength + extraLength), count: commentLength) != nil else {
                return .failure(unreadable)
            }
            let declared = DeclaredEntry(header: header, extra: extra)
            let problem = Flaw(reason: "entry \(index + 1) declares a size or an offset past the archive's end (damaged or crafted)")
            guard declared.compressedSize <= archive.length, declared.localHeaderOffset <= archive.length else { return .failure(problem) }
            guard let local = archive.bytes(at: declared.localHeaderOffset, count: 30), local.uint32(at: 0) == 0x0403_4B50 else {
                return .failure(unreadable)
            }
            // Stored data is read by its uncompressed size (ZIPFoundation picks by the local
            // header's method, and finds a data descriptor by the directory's).
            if header.uint16(at: 10) == 0 || local.uint16(at: 8) == 0, declared.uncompressedSize > archive.length { return .failure(problem) }
            entries.append(EntryData(method: local.uint16(at: 8),
                                     offset: declared.localHeaderOffset + 30 + UInt64(local.uint16(at: 26)) + UInt64(local.uint16(at: 28)),
                                     compressedSize: declared.compressedSize))
            position += UInt64(46 + nameLength + extraLength + commentLength)
        }
        return .success(entries)
    }

    /// The sizes and offset of one central directory header, as ZIPFoundation takes them: a
    /// 32-bit value of all ones is replaced by the next 64-bit value of a ZIP64 extra field of
    /// exactly the length those values need, when that value is not 0.
    private struct DeclaredEntry {
        var uncompressedSize: UInt64
        var compressedSize: UInt64
        var localHeaderOffset: UInt64

        init(header: [UInt8], extra: [UInt8]) {
            uncompressedSize = UInt64(header.uint32(at: 24))
            compressedSize = UInt64(header.uint32(at: 20))
            localHeaderOffset = UInt64(header.uint32(at: 42))
            let wide = [uncompressedSize == 0xFFFF_FFFF, compressedSize == 0xFFFF_FFFF, localHeaderOffset == 0xFFFF_FFFF]
            let diskLength = header.uint16(at: 34) == 0xFFFF ? 4 : 0
            var offset = 0
            while offset < extra.count - 4 {
                let next = offset + 4 + Int(extra.uint16(at: offset + 2))
                guard next <= extra.count else { return }
                guard extra.uint16(at: offset) != 0x0001 else {
                    guard next - offset == 4 + 8 * wide.filter({ $0 }).count + diskLength else { return }
                    var field = offset + 4
                    func value(_ present: Bool) -> UInt64 {
                        guard present else { return 0 }
                        defer { field += 8 }
                        return extra.uint64(at: field)
                    }
                    let sizes = (value(wide[0]), value(wide[1]), value(wide[2]))
                    if sizes.0 > 0 { uncompressedSize = sizes.0 }
                    if sizes.1 > 0 { compressedSize = sizes.1 }
                    if sizes.2 > 0 { localHeaderOffset = sizes.2 }
                    return
                }
                offset = next
            }
        }
    }

    /// The archive's bytes, read where asked.
    private struct ArchiveBytes {
        let fd: Int32
        let length: UInt64

        /// `count` bytes at `offset`, or nil when the archive ends before them.
        func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
            guard offset <= length, UInt64(count) <= length - offset else { return nil }
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let got = try? bytes.withUnsafeMutableBytes {
                    try Sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: $0[done...]), Int64(offset) + Int64(done))
                }
                guard let got, got > 0 else { return nil }
                done += got
            }
            return bytes
        }
    }
}

private extension Array where Element == UInt8 {
    /// Little-endian, as every number in a zip archive is.
    func uint16(at index: Int) -> UInt16 { UInt16(self[index]) | UInt16(self[index + 1]) << 8 }
    func uint32(at index: Int) -> UInt32 { UInt32(uint16(at: index)) | UInt32(uint16(at: index + 2)) << 16 }
    func uint64(at index: Int) -> UInt64 { UInt64(uint32(at: index)) | UInt64(uint32(at: index + 4)) << 32 }
}
