import Glibc
import Testing

/// One POSIX behaviour, checked as root inside a fresh empty directory. Every check holds on a
/// local disk filesystem, so the list is also run against a plain directory to prove the checks
/// themselves right (after go-fuse's `posixtest`).
struct POSIXCheck: Sendable, CustomTestStringConvertible {
    let name: String
    let run: @Sendable (_ directory: String) throws -> Void

    var testDescription: String { name }
}

extension POSIXCheck {
    static let all: [POSIXCheck] = [
        POSIXCheck(name: "create, write, read back") { try createWriteRead($0) },
        POSIXCheck(name: "writes at offsets, holes read as zeros") { try writeAtOffsets($0) },
        POSIXCheck(name: "large sequential file") { try largeSequential($0) },
        POSIXCheck(name: "empty file") { try emptyFile($0) },
        POSIXCheck(name: "O_TRUNC") { try openTruncate($0) },
        POSIXCheck(name: "O_APPEND") { try openAppend($0) },
        POSIXCheck(name: "O_EXCL") { try openExclusive($0) },
        POSIXCheck(name: "truncate grows and shrinks") { try truncatePath($0) },
        POSIXCheck(name: "ftruncate grows and shrinks") { try truncateOpenFile($0) },
        POSIXCheck(name: "ftruncate through the descriptor that created a mode 0 file") { try truncateCreatedUnwritable($0) },
        POSIXCheck(name: "write seen through a second descriptor") { try coherentDescriptors($0) },
        POSIXCheck(name: "lseek SEEK_END and writes past the end") { try seekPastEnd($0) },
        POSIXCheck(name: "unlink of an open file") { try unlinkOpenFile($0) },
        POSIXCheck(name: "rename overwrites a file") { try renameOverwrite($0) },
        POSIXCheck(name: "rename onto an empty directory") { try renameOntoEmptyDirectory($0) },
        POSIXCheck(name: "rename onto a non-empty directory: ENOTEMPTY") { try renameOntoNonEmptyDirectory($0) },
        POSIXCheck(name: "rename a file onto a directory: EISDIR") { try renameFileOntoDirectory($0) },
        POSIXCheck(name: "rename a directory with its contents") { try renameDirectoryTree($0) },
        POSIXCheck(name: "rename into its own subdirectory: EINVAL") { try renameIntoSubdirectory($0) },
        POSIXCheck(name: "RENAME_NOREPLACE") { try renameNoReplace($0) },
        POSIXCheck(name: "RENAME_EXCHANGE") { try renameExchange($0) },
        POSIXCheck(name: "rename of an open directory") { try renameOpenDirectory($0) },
        POSIXCheck(name: "mkdir of an existing name: EEXIST") { try mkdirExisting($0) },
        POSIXCheck(name: "rmdir and unlink errors") { try removeErrors($0) },
        POSIXCheck(name: "ENOENT") { try missingNames($0) },
        POSIXCheck(name: "ENOTDIR") { try notDirectory($0) },
        POSIXCheck(name: "EISDIR") { try isDirectory($0) },
        POSIXCheck(name: "names over 255 bytes: ENAMETOOLONG") { try nameTooLong($0) },
        POSIXCheck(name: "modes: create, mkdir, chmod") { try modes($0) },
        POSIXCheck(name: "utimensat with UTIME_NOW and UTIME_OMIT") { try setTimes($0) },
        POSIXCheck(name: "times set to now: by the owner or a writer") { try timesToNowPermission($0) },
        POSIXCheck(name: "changes update mtime and ctime") { try timestampsFollowChanges($0) },
        POSIXCheck(name: "fsync and fdatasync") { try sync($0) },
        POSIXCheck(name: "readdir of 3000 entries") { try largeDirectory($0) },
        POSIXCheck(name: "readdir sees creates, renames and unlinks") { try directoryFollowsChanges($0) },
        POSIXCheck(name: "st_blocks") { try blocks($0) },
        POSIXCheck(name: "statfs") { try fileSystemStatistics($0) },
        POSIXCheck(name: "inode numbers") { try inodeNumbers($0) },
        POSIXCheck(name: "access") { try accessChecks($0) },
    ]
}

// MARK: Reading and writing

private func createWriteRead(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(100_003)
    let file = try OpenFile(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
    try file.write(data)
    try file.close()

    let st = try Files.stat(path)
    #expect(st.st_mode & S_IFMT == S_IFREG)
    #expect(st.st_size == data.count)
    #expect(st.st_nlink == 1)
    #expect(st.st_uid == 0)
    expectBytes(try Files.read(path), data, "content read back")
    #expect(names(in: directory) == ["file"])
}

private func writeAtOffsets(_ directory: String) throws {
    let path = directory + "/file"
    let file = try OpenFile(path, O_RDWR | O_CREAT | O_TRUNC)
    var model = [UInt8]()
    func write(_ bytes: [UInt8], at offset: Int) throws {
        try file.write(bytes, at: offset)
        if model.count < offset + bytes.count {
            model += [UInt8](repeating: 0, count: offset + bytes.count - model.count)
        }
        model.replaceSubrange(offset..<offset + bytes.count, with: bytes)
    }
    for (offset, count) in [(0, 10), (4095, 2), (131_071, 3), (200_000, 5000), (1 << 20, 1)] {
        try write(TestData.random(count), at: offset)
    }
    for _ in 0..<40 {
        try write(TestData.random(Int.random(in: 1...70_000)), at: Int.random(in: 0..<(1 << 20)))
    }
    expectBytes(try file.read(count: model.count + 100), model, "read through the writing descriptor")
    #expect(file.attributes()?.st_size == model.count)
    try file.close()

    expectBytes(try Files.read(path), model, "read after close")
    #expect(attributes(of: path)?.st_size == model.count)
}

private func largeSequential(_ directory: String) throws {
    let path = directory + "/large"
    let data = TestData.random(8 << 20)
    let file = try OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC)
    for start in stride(from: 0, to: data.count, by: 1 << 20) {
        try file.write(Array(data[start..<start + (1 << 20)]))
    }
    try file.sync()
    try file.close()
    #expect(attributes(of: path)?.st_size == data.count)
    expectBytes(try Files.read(path), data, "8 MiB file read back")
}

private func emptyFile(_ directory: String) throws {
    let path = directory + "/empty"
    try OpenFile(path, O_WRONLY | O_CREAT | O_EXCL).close()
    #expect(attributes(of: path)?.st_size == 0)
    #expect(contents(of: path) == [])
}

private func openTruncate(_ directory: String) throws {
    let path = directory + "/file"
    try Files.write(path, TestData.random(5000))
    let file = try OpenFile(path, O_WRONLY | O_TRUNC)
    #expect(file.attributes()?.st_size == 0)
    let data = TestData.random(10)
    try file.write(data)
    try file.close()
    expectBytes(try Files.read(path), data, "content after O_TRUNC and a write")
    #expect(attributes(of: path)?.st_size == 10)
}

private func openAppend(_ directory: String) throws {
    let path = directory + "/file"
    let first = TestData.random(3000), second = TestData.random(5000), third = TestData.random(7)
    try Files.write(path, first)
    let file = try OpenFile(path, O_WRONLY | O_APPEND)
    try file.seek(0, SEEK_SET)
    try file.write(second)
    try file.close()
    let again = try OpenFile(path, O_RDWR | O_APPEND)
    try again.write(third)
    expectBytes(try again.read(count: 9000), first + second + third, "read through the appending descriptor")
    try again.close()
    expectBytes(try Files.read(path), first + second + third, "content after two appends")
}

private func openExclusive(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(100)
    try OpenFile(path, O_WRONLY | O_CREAT | O_EXCL).close()
    #expect(openErrno(path, O_WRONLY | O_CREAT | O_EXCL) == .EEXIST)
    try Files.write(path, data)
    #expect(openErrno(path, O_RDWR | O_CREAT) == nil)
    expectBytes(try Files.read(path), data, "O_CREAT without O_EXCL keeps the content")
    try Files.mkdir(directory + "/dir")
    #expect(openErrno(directory + "/dir", O_WRONLY | O_CREAT | O_EXCL) == .EEXIST)
}

private func truncatePath(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(1000)
    try Files.write(path, data)
    try sys("truncate grow") { truncate(path, 5000) }
    #expect(attributes(of: path)?.st_size == 5000)
    expectBytes(try Files.read(path), data + [UInt8](repeating: 0, count: 4000), "grown by truncate")
    try sys("truncate shrink") { truncate(path, 300) }
    #expect(attributes(of: path)?.st_size == 300)
    expectBytes(try Files.read(path), Array(data[..<300]), "shrunk by truncate")
    try sys("truncate to the same size") { truncate(path, 300) }
    expectBytes(try Files.read(path), Array(data[..<300]), "truncated to its own size")
    try sys("truncate to zero") { truncate(path, 0) }
    #expect(contents(of: path) == [])
}

private func truncateOpenFile(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(200_000)
    let file = try OpenFile(path, O_RDWR | O_CREAT | O_TRUNC)
    try file.write(data)
    try file.truncate(50_000)
    #expect(file.attributes()?.st_size == 50_000)
    try file.truncate(300_000)
    let tail = TestData.random(100)
    try file.write(tail, at: 250_000)
    var model = Array(data[..<50_000]) + [UInt8](repeating: 0, count: 250_000)
    model.replaceSubrange(250_000..<250_100, with: tail)
    expectBytes(try file.read(count: 400_000), model, "read through the descriptor after ftruncate")
    try file.close()
    expectBytes(try Files.read(path), model, "read after close")
}

/// A new file's mode governs later opens, not the descriptor that created it (pjdfstest
/// ftruncate/00). The district makes the call: it is the one user, besides root, that reaches
/// the directory both on the mount and on a plain disk.
private func truncateCreatedUnwritable(_ directory: String) throws {
    let district = District.alpha
    try sys("chown the directory to the district") { chown(directory, district.uid, district.gid) }
    let path = directory + "/file"
    #expect(district.identity.attempt(.createAndTruncate(path, mode: 0, size: 1234)) == nil)
    let st = try Files.stat(path)
    #expect(st.st_size == 1234)
    #expect(st.st_uid == district.uid)
    #expect(st.st_mode & 0o700 == 0, "the owner's bits are the mode it was created with")
}

private func coherentDescriptors(_ directory: String) throws {
    let path = directory + "/file"
    let writer = try OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC)
    let data = TestData.random(70_000)
    try writer.write(data)
    let reader = try OpenFile(path, O_RDONLY)
    expectBytes(try reader.readToEnd(), data, "read by a second descriptor while the writer is open")
    #expect(attributes(of: path)?.st_size == data.count)
    try reader.close()
    try writer.close()
}

private func seekPastEnd(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(1234)
    try Files.write(path, data)
    let file = try OpenFile(path, O_RDWR)
    let end = try file.seek(0, SEEK_END)
    #expect(end == 1234)
    try file.seek(10_000, SEEK_SET)
    let tail = TestData.random(10)
    try file.write(tail)
    try file.close()
    expectBytes(try Files.read(path), data + [UInt8](repeating: 0, count: 10_000 - 1234) + tail, "hole then tail")
}

private func unlinkOpenFile(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(300_000)
    try Files.write(path, data)
    let file = try OpenFile(path, O_RDWR)
    try sys("unlink") { unlink(path) }

    #expect(statErrno(path) == .ENOENT)
    #expect(names(in: directory) == [])
    expectBytes(try file.readToEnd(), data, "read through a descriptor of the unlinked file")
    #expect(file.attributes()?.st_nlink == 0)
    let more = TestData.random(1000)
    try file.write(more, at: data.count)
    expectBytes(try file.readToEnd(), data + more, "written after unlink")

    let replacement = TestData.random(50)
    try Files.write(path, replacement)
    expectBytes(try Files.read(path), replacement, "a new file under the old name")
    expectBytes(try file.readToEnd(), data + more, "the unlinked file is unchanged by the new one")
    try file.close()
    expectBytes(try Files.read(path), replacement, "the new file after the old one is closed")
}

// MARK: Rename

private func renameOverwrite(_ directory: String) throws {
    let a = directory + "/a", b = directory + "/b"
    let dataA = TestData.random(10_000), dataB = TestData.random(20_000)
    try Files.write(a, dataA)
    try Files.write(b, dataB)
    let oldB = try OpenFile(b, O_RDONLY)
    try sys("rename a b") { rename(a, b) }
    #expect(statErrno(a) == .ENOENT)
    expectBytes(try Files.read(b), dataA, "b after a was renamed onto it")
    expectBytes(try oldB.readToEnd(), dataB, "the replaced b, through a descriptor opened before")
    try oldB.close()
    #expect(names(in: directory) == ["b"])
}

private func renameOntoEmptyDirectory(_ directory: String) throws {
    let d1 = directory + "/d1", d2 = directory + "/d2"
    try Files.mkdir(d1)
    try Files.mkdir(d2)
    let data = TestData.random(100)
    try Files.write(d1 + "/f", data)
    try sys("rename d1 d2") { rename(d1, d2) }
    #expect(statErrno(d1) == .ENOENT)
    expectBytes(try Files.read(d2 + "/f"), data, "file moved with its directory")
    #expect(names(in: directory) == ["d2"])
}

private func renameOntoNonEmptyDirectory(_ directory: String) throws {
    let d1 = directory + "/d1", d2 = directory + "/d2"
    try Files.mkdir(d1)
    try Files.mkdir(d2)
    try Files.write(d2 + "/f", TestData.random(10))
    #expect(errnoOf { rename(d1, d2) } == .ENOTEMPTY)
    #expect(Files.exists(d1))
    #expect(Files.exists(d2 + "/f"))
}

private func renameFileOntoDirectory(_ directory: String) throws {
    let file = directory + "/f", dir = directory + "/d"
    try Files.write(file, TestData.random(10))
    try Files.mkdir(dir)
    #expect(errnoOf { rename(file, dir) } == .EISDIR)
    #expect(errnoOf { rename(dir, file) } == .ENOTDIR)
    #expect(Files.exists(file))
    #expect(attributes(of: dir)?.fileType == S_IFDIR)
}

private func renameDirectoryTree(_ directory: String) throws {
    let data = TestData.random(4096)
    try Files.mkdir(directory + "/d")
    try Files.mkdir(directory + "/d/e")
    try Files.mkdir(directory + "/d/e/f")
    try Files.write(directory + "/d/e/f/file", data)
    let inode = try Files.stat(directory + "/d/e/f/file").st_ino
    try sys("rename d z") { rename(directory + "/d", directory + "/z") }
    expectBytes(try Files.read(directory + "/z/e/f/file"), data, "file below a renamed directory")
    #expect(attributes(of: directory + "/z/e/f/file")?.st_ino == inode)
    #expect(statErrno(directory + "/d/e/f/file") == .ENOENT)
    #expect(statErrno(directory + "/d") == .ENOENT)
    try sys("rename z/e/f/file z/moved") { rename(directory + "/z/e/f/file", directory + "/z/moved") }
    expectBytes(try Files.read(directory + "/z/moved"), data, "file moved between directories")
    try sys("rename z onto itself") { rename(directory + "/z", directory + "/z") }
    #expect(names(in: directory + "/z")?.sorted() == ["e", "moved"])
}

private func renameIntoSubdirectory(_ directory: String) throws {
    try Files.mkdir(directory + "/d")
    try Files.mkdir(directory + "/d/sub")
    #expect(errnoOf { rename(directory + "/d", directory + "/d/sub/x") } == .EINVAL)
    #expect(Files.exists(directory + "/d/sub"))
}

private func renameNoReplace(_ directory: String) throws {
    let a = directory + "/a", b = directory + "/b", c = directory + "/c"
    let dataA = TestData.random(100), dataB = TestData.random(200)
    try Files.write(a, dataA)
    try Files.write(b, dataB)
    #expect(errnoOf { LinuxCalls.renameat2(a, b, RENAME_NOREPLACE) } == .EEXIST)
    expectBytes(try Files.read(a), dataA, "source after a refused RENAME_NOREPLACE")
    expectBytes(try Files.read(b), dataB, "target after a refused RENAME_NOREPLACE")
    try sys("renameat2 NOREPLACE a c") { LinuxCalls.renameat2(a, c, RENAME_NOREPLACE) }
    expectBytes(try Files.read(c), dataA, "renamed with RENAME_NOREPLACE")
    #expect(statErrno(a) == .ENOENT)
}

private func renameExchange(_ directory: String) throws {
    let a = directory + "/a", b = directory + "/b", d = directory + "/d"
    let dataA = TestData.random(1000), dataB = TestData.random(2000)
    try Files.write(a, dataA)
    try Files.write(b, dataB)
    try sys("renameat2 EXCHANGE a b") { LinuxCalls.renameat2(a, b, RENAME_EXCHANGE) }
    expectBytes(try Files.read(a), dataB, "a after the exchange")
    expectBytes(try Files.read(b), dataA, "b after the exchange")

    try Files.mkdir(d)
    try Files.write(d + "/inner", dataA)
    try sys("renameat2 EXCHANGE a d") { LinuxCalls.renameat2(a, d, RENAME_EXCHANGE) }
    #expect(attributes(of: a)?.fileType == S_IFDIR)
    expectBytes(try Files.read(a + "/inner"), dataA, "inside the exchanged directory")
    expectBytes(try Files.read(d), dataB, "the file exchanged with a directory")
    #expect(errnoOf { LinuxCalls.renameat2(b, directory + "/missing", RENAME_EXCHANGE) } == .ENOENT)
}

private func renameOpenDirectory(_ directory: String) throws {
    try Files.mkdir(directory + "/d")
    let data = TestData.random(500)
    try Files.write(directory + "/d/file", data)
    let fd = try sys("open d") { open(directory + "/d", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    try sys("rename d e") { rename(directory + "/d", directory + "/e") }
    var st = stat()
    try sys("fstat of the renamed directory") { fstat(fd, &st) }
    #expect(st.st_mode & S_IFMT == S_IFDIR)
    let child = try sys("openat file") { openat(fd, "file", O_RDONLY | O_CLOEXEC) }
    var buffer = [UInt8](repeating: 0, count: 1000)
    let count = read(child, &buffer, 1000)
    close(child)
    #expect(Array(buffer[..<max(count, 0)]) == data)
    try sys("fsync of a directory") { fsync(fd) }
}

// MARK: Errors

private func mkdirExisting(_ directory: String) throws {
    try Files.mkdir(directory + "/d")
    try Files.write(directory + "/f", [])
    #expect(errnoOf { mkdir(directory + "/d", 0o755) } == .EEXIST)
    #expect(errnoOf { mkdir(directory + "/f", 0o755) } == .EEXIST)
}

private func removeErrors(_ directory: String) throws {
    try Files.mkdir(directory + "/d")
    try Files.write(directory + "/d/f", [1])
    #expect(errnoOf { rmdir(directory + "/d") } == .ENOTEMPTY)
    #expect(errnoOf { rmdir(directory + "/d/f") } == .ENOTDIR)
    #expect(errnoOf { unlink(directory + "/d") } == .EISDIR)
    try sys("unlink d/f") { unlink(directory + "/d/f") }
    try sys("rmdir d") { rmdir(directory + "/d") }
    #expect(errnoOf { rmdir(directory + "/d") } == .ENOENT)
    #expect(names(in: directory) == [])
}

private func missingNames(_ directory: String) throws {
    let missing = directory + "/missing"
    #expect(statErrno(missing) == .ENOENT)
    #expect(openErrno(missing, O_RDONLY) == .ENOENT)
    #expect(errnoOf { unlink(missing) } == .ENOENT)
    #expect(errnoOf { rmdir(missing) } == .ENOENT)
    #expect(errnoOf { rename(missing, directory + "/other") } == .ENOENT)
    #expect(errnoOf { chmod(missing, 0o644) } == .ENOENT)
    #expect(errnoOf { truncate(missing, 0) } == .ENOENT)
    #expect(openErrno(missing + "/child", O_WRONLY | O_CREAT) == .ENOENT)
    #expect(errnoOf { mkdir(missing + "/child", 0o755) } == .ENOENT)
    #expect(getxattrErrno(missing, "user.sha256") == .ENOENT)
}

private func notDirectory(_ directory: String) throws {
    let file = directory + "/file"
    try Files.write(file, [1, 2, 3])
    #expect(statErrno(file + "/x") == .ENOTDIR)
    #expect(errnoOf { mkdir(file + "/x", 0o755) } == .ENOTDIR)
    #expect(openErrno(file + "/x", O_WRONLY | O_CREAT) == .ENOTDIR)
    #expect(openErrno(file, O_RDONLY | O_DIRECTORY) == .ENOTDIR)
    #expect(errnoOf { rename(file, file + "/x") } == .ENOTDIR)
    let directoryStream = opendir(file)
    #expect(directoryStream == nil && Errno.current == .ENOTDIR, "opendir of a file")
    if let directoryStream { closedir(directoryStream) }
}

private func isDirectory(_ directory: String) throws {
    let dir = directory + "/d"
    try Files.mkdir(dir)
    #expect(openErrno(dir, O_WRONLY) == .EISDIR)
    #expect(openErrno(dir, O_RDWR) == .EISDIR)
    #expect(errnoOf { truncate(dir, 0) } == .EISDIR)
    let fd = try sys("open d") { open(dir, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 16)
    #expect(errnoOf { read(fd, &buffer, 16) } == .EISDIR)
}

private func nameTooLong(_ directory: String) throws {
    let longest = String(repeating: "n", count: 255)
    let tooLong = String(repeating: "n", count: 256)
    let accents = String(repeating: "é", count: 127)
    let tooManyAccents = String(repeating: "é", count: 128)
    let data = TestData.random(10)

    try Files.write(directory + "/" + longest, data)
    expectBytes(try Files.read(directory + "/" + longest), data, "file with a 255-byte name")
    try Files.mkdir(directory + "/" + accents)
    #expect(names(in: directory).map(Set.init) == [longest, accents])

    for name in [tooLong, tooManyAccents, String(repeating: "x", count: 1000)] {
        let path = directory + "/" + name
        #expect(openErrno(path, O_WRONLY | O_CREAT) == .ENAMETOOLONG, "create, \(name.utf8.count) bytes")
        #expect(errnoOf { mkdir(path, 0o755) } == .ENAMETOOLONG, "mkdir, \(name.utf8.count) bytes")
        #expect(statErrno(path) == .ENAMETOOLONG, "lookup, \(name.utf8.count) bytes")
        #expect(errnoOf { rename(directory + "/" + longest, path) } == .ENAMETOOLONG, "rename, \(name.utf8.count) bytes")
    }
    #expect(names(in: directory).map(Set.init) == [longest, accents])
}

// MARK: Attributes

private func modes(_ directory: String) throws {
    let umask = currentUmask()
    let file = directory + "/file", dir = directory + "/dir"
    try OpenFile(file, O_WRONLY | O_CREAT | O_EXCL, mode: 0o644).close()
    #expect(attributes(of: file)?.st_mode == S_IFREG | (0o644 & ~umask))
    try Files.mkdir(dir, mode: 0o755)
    #expect(attributes(of: dir)?.st_mode == S_IFDIR | (0o755 & ~umask))
    for mode: mode_t in [0o640, 0o444, 0o755, 0o644] {
        try sys("chmod \(String(mode, radix: 8))") { chmod(file, mode) }
        #expect(attributes(of: file)?.st_mode == S_IFREG | mode)
    }
    let open = try OpenFile(file, O_RDONLY)
    try sys("fchmod") { fchmod(open.fd, 0o640) }
    #expect(open.attributes()?.st_mode == S_IFREG | 0o640)
    try open.close()
    for mode: mode_t in [0o750, 0o755] {
        try sys("chmod dir \(String(mode, radix: 8))") { chmod(dir, mode) }
        #expect(attributes(of: dir)?.st_mode == S_IFDIR | mode)
    }
}

private func setTimes(_ directory: String) throws {
    let path = directory + "/file"
    try Files.write(path, TestData.random(100))
    let atime = timespec(tv_sec: 1_000_000_000, tv_nsec: 123_456_789)
    let mtime = timespec(tv_sec: 1_100_000_000, tv_nsec: 987_654_321)
    try Files.setTimes(path, access: atime, modification: mtime)
    var st = try Files.stat(path)
    #expect(st.st_atim.nanoseconds == atime.nanoseconds)
    #expect(st.st_mtim.nanoseconds == mtime.nanoseconds)

    let before = timespec.now.nanoseconds - 1_000_000_000
    try Files.setTimes(path, access: timespec(tv_sec: 0, tv_nsec: UTIME_NOW), modification: timespec(tv_sec: 0, tv_nsec: UTIME_OMIT))
    let after = timespec.now.nanoseconds + 1_000_000_000
    st = try Files.stat(path)
    #expect((before...after).contains(st.st_atim.nanoseconds), "UTIME_NOW sets atime to now")
    #expect(st.st_mtim.nanoseconds == mtime.nanoseconds, "UTIME_OMIT keeps mtime")
    #expect((before...after).contains(st.st_ctim.nanoseconds), "utimensat sets ctime to now")

    try Files.setTimes(path, access: timespec(tv_sec: 0, tv_nsec: UTIME_OMIT), modification: timespec(tv_sec: 0, tv_nsec: UTIME_NOW))
    st = try Files.stat(path)
    #expect((before...after).contains(st.st_mtim.nanoseconds), "UTIME_NOW sets mtime to now")
    #expect((before...after).contains(st.st_atim.nanoseconds), "UTIME_OMIT keeps atime")

    let file = try OpenFile(path, O_RDONLY)
    let times = [atime, mtime]
    try sys("futimens") { futimens(file.fd, times) }
    st = try file.stat()
    try file.close()
    #expect(st.st_atim.nanoseconds == atime.nanoseconds, "futimens atime")
    #expect(st.st_mtim.nanoseconds == mtime.nanoseconds, "futimens mtime")

    try Files.mkdir(directory + "/d")
    try Files.setTimes(directory + "/d", access: atime, modification: mtime)
    #expect(attributes(of: directory + "/d")?.st_mtim.nanoseconds == mtime.nanoseconds, "directory mtime")
}

/// Setting both times to now takes ownership or write permission (pjdfstest utimensat/06).
private func timesToNowPermission(_ directory: String) throws {
    let district = District.alpha
    let path = directory + "/file"
    try Files.write(path, [1])
    try sys("chmod 0644") { chmod(path, 0o644) }
    #expect(district.identity.attempt(.touch(path)) == .EACCES, "neither the owner nor a writer")
    try sys("chmod 0666") { chmod(path, 0o666) }
    #expect(district.identity.attempt(.touch(path)) == nil, "a writer who is not the owner")
    try sys("chown to the district") { chown(path, district.uid, district.gid) }
    try sys("chmod 0444") { chmod(path, 0o444) }
    #expect(district.identity.attempt(.touch(path)) == nil, "the owner, without write permission")
}

private func timestampsFollowChanges(_ directory: String) throws {
    let old = timespec(tv_sec: 1_000_000_000, tv_nsec: 0)
    let path = directory + "/file", sub = directory + "/sub"
    try Files.write(path, TestData.random(100))
    try Files.mkdir(sub)

    func expectRecent(_ time: timespec, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let now = timespec.now.nanoseconds
        #expect(
            (now - 5_000_000_000...now + 1_000_000_000).contains(time.nanoseconds),
            "\(what): \(time.tv_sec).\(time.tv_nsec), now \(now / 1_000_000_000)", sourceLocation: sourceLocation)
    }
    func age(_ path: String) throws { try Files.setTimes(path, access: old, modification: old) }

    try age(path)
    let file = try OpenFile(path, O_WRONLY)
    try file.write(TestData.random(10), at: 50)
    try file.close()
    var st = try Files.stat(path)
    expectRecent(st.st_mtim, "file mtime after a write")
    expectRecent(st.st_ctim, "file ctime after a write")

    try age(path)
    try sys("truncate") { truncate(path, 20) }
    expectRecent(try Files.stat(path).st_mtim, "file mtime after truncate")

    try age(path)
    try sys("chmod") { chmod(path, 0o640) }
    st = try Files.stat(path)
    #expect(st.st_mtim.nanoseconds == old.nanoseconds, "chmod leaves mtime")
    expectRecent(st.st_ctim, "file ctime after chmod")

    try age(directory)
    try Files.write(directory + "/new", [])
    expectRecent(try Files.stat(directory).st_mtim, "directory mtime after a create")
    try age(directory)
    try sys("unlink") { unlink(directory + "/new") }
    expectRecent(try Files.stat(directory).st_mtim, "directory mtime after an unlink")
    try age(directory)
    try sys("rename") { rename(path, directory + "/renamed") }
    expectRecent(try Files.stat(directory).st_mtim, "directory mtime after a rename")
    try age(directory)
    try sys("mkdir") { mkdir(directory + "/dir", 0o755) }
    expectRecent(try Files.stat(directory).st_mtim, "directory mtime after mkdir")
    try age(sub)
    try sys("rename into sub") { rename(directory + "/renamed", sub + "/moved") }
    expectRecent(try Files.stat(sub).st_mtim, "target directory mtime after a rename into it")
}

private func sync(_ directory: String) throws {
    let path = directory + "/file"
    let data = TestData.random(1 << 20)
    let file = try OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC)
    try file.write(Array(data[..<500_000]))
    try file.sync()
    try file.write(Array(data[500_000...]))
    try file.syncData()
    try file.close()
    let reader = try OpenFile(path, O_RDONLY)
    try reader.sync()
    expectBytes(try reader.readToEnd(), data, "content after fsync and fdatasync")
    try reader.close()
    let fd = try sys("open directory") { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(fd) }
    try sys("fsync directory") { fsync(fd) }
}

private func largeDirectory(_ directory: String) throws {
    let names = (0..<3000).map { index in
        "entry-\(index)-" + String(repeating: "x", count: index % 7 == 0 ? 200 : index % 40)
    }
    for name in names { try OpenFile(directory + "/" + name, O_WRONLY | O_CREAT | O_EXCL).close() }
    var listed = try Files.list(directory)
    #expect(listed.count == names.count, "readdir returns every entry once")
    #expect(Set(listed) == Set(names))

    let removed = Set(names.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
    for name in removed { try sys("unlink \(name)") { unlink(directory + "/" + name) } }
    listed = try Files.list(directory)
    #expect(listed.count == names.count - removed.count)
    #expect(Set(listed) == Set(names).subtracting(removed))
}

private func directoryFollowsChanges(_ directory: String) throws {
    #expect(names(in: directory) == [])
    try Files.write(directory + "/a", [])
    #expect(names(in: directory) == ["a"])
    try sys("rename a b") { rename(directory + "/a", directory + "/b") }
    #expect(names(in: directory) == ["b"])
    try Files.mkdir(directory + "/c")
    #expect(names(in: directory)?.sorted() == ["b", "c"])
    try sys("unlink b") { unlink(directory + "/b") }
    try sys("rmdir c") { rmdir(directory + "/c") }
    #expect(names(in: directory) == [])
}

private func blocks(_ directory: String) throws {
    let empty = directory + "/empty", full = directory + "/full"
    try Files.write(empty, [])
    #expect(attributes(of: empty)?.st_blocks == 0)
    let size = (1 << 20) + 100
    try Files.write(full, TestData.random(size))
    let st = try Files.stat(full)
    #expect(st.st_blocks * 512 >= size, "st_blocks covers the content")
    #expect(st.st_blocks * 512 <= size + 65536, "st_blocks is not far above the content")
    #expect(st.st_blksize > 0)
}

private func fileSystemStatistics(_ directory: String) throws {
    var st = statvfs()
    try sys("statvfs") { statvfs(directory, &st) }
    #expect(st.f_bsize > 0)
    #expect(st.f_frsize > 0)
    #expect(st.f_blocks > 0)
    #expect(st.f_bfree <= st.f_blocks)
    #expect(st.f_bavail <= st.f_bfree)
    #expect(st.f_namemax == 255)
}

private func inodeNumbers(_ directory: String) throws {
    var inodes = Set<UInt>()
    for index in 0..<20 {
        let path = directory + "/f\(index)"
        try Files.write(path, [UInt8(index)])
        let inode = try Files.stat(path).st_ino
        #expect(attributes(of: path)?.st_ino == inode, "st_ino is stable")
        inodes.insert(UInt(inode))
    }
    try Files.mkdir(directory + "/d")
    inodes.insert(UInt(try Files.stat(directory + "/d").st_ino))
    #expect(inodes.count == 21, "every entry has its own inode number")
    #expect(attributes(of: directory)?.st_ino != attributes(of: directory + "/d")?.st_ino)
}

private func accessChecks(_ directory: String) throws {
    let path = directory + "/file"
    try Files.write(path, [1])
    #expect(access(path, R_OK | W_OK) == 0)
    #expect(access(directory, R_OK | W_OK | X_OK) == 0)
    #expect(errnoOf { access(directory + "/missing", F_OK) } == .ENOENT)
}
