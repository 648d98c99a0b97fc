import Foundation
import Glibc
import Testing

/// An open file descriptor that checks every call, and closes itself if a test throws first.
final class OpenFile {
    let path: String
    let fd: Int32
    private var isOpen = true

    init(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws {
        self.path = path
        fd = try sys("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    deinit {
        if isOpen { Glibc.close(fd) }
    }

    /// Writes all of `bytes` at the current offset.
    func write(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            done += try sys("write \(path)") {
                bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            }
        }
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            done += try sys("pwrite \(path) at \(offset + done)") {
                bytes.withUnsafeBytes {
                    Glibc.pwrite(fd, $0.baseAddress! + done, $0.count - done, offset + done)
                }
            }
        }
    }

    /// Reads up to `count` bytes at `offset`, stopping early only at end of file.
    func read(count: Int, at offset: Int = 0) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try sys("pread \(path) at \(offset + done)") {
                buffer.withUnsafeMutableBytes {
                    Glibc.pread(fd, $0.baseAddress! + done, count - done, offset + done)
                }
            }
            if n == 0 { break }
            done += n
        }
        return Array(buffer[..<done])
    }

    /// Everything from `offset` to end of file.
    func readToEnd(from offset: Int = 0) throws -> [UInt8] {
        var result = [UInt8]()
        while true {
            let chunk = try read(count: 1 << 20, at: offset + result.count)
            result += chunk
            if chunk.count < 1 << 20 { return result }
        }
    }

    @discardableResult
    func seek(_ offset: Int, _ whence: Int32) throws -> Int {
        try sys("lseek \(path)") { Glibc.lseek(fd, offset, whence) }
    }

    func truncate(_ size: Int) throws {
        try sys("ftruncate \(path) \(size)") { Glibc.ftruncate(fd, size) }
    }

    func sync() throws {
        try sys("fsync \(path)") { Glibc.fsync(fd) }
    }

    func syncData() throws {
        try sys("fdatasync \(path)") { Glibc.fdatasync(fd) }
    }

    /// `fstat`, or nil with an issue recorded; for use inside `#expect`.
    func attributes(sourceLocation: SourceLocation = #_sourceLocation) -> stat? {
        recording(sourceLocation) { try stat() }
    }

    func stat() throws -> stat {
        var st = Glibc.stat()
        try sys("fstat \(path)") { Glibc.fstat(fd, &st) }
        return st
    }

    /// Closes the descriptor; a failed close is a failed upload, so it throws.
    func close() throws {
        guard isOpen else { return }
        isOpen = false
        try sys("close \(path)") { Glibc.close(fd) }
    }
}

/// Whole-file and directory helpers, each failing with the call and path that failed.
enum Files {
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let file = try OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
        try file.write(bytes)
        try file.close()
    }

    static func read(_ path: String) throws -> [UInt8] {
        let file = try OpenFile(path, O_RDONLY)
        let bytes = try file.readToEnd()
        try file.close()
        return bytes
    }

    static func stat(_ path: String) throws -> stat {
        var st = Glibc.stat()
        try sys("stat \(path)") { fstatat(AT_FDCWD, path, &st, 0) }
        return st
    }

    static func mkdir(_ path: String, mode: mode_t = 0o755) throws {
        try sys("mkdir \(path)") { Glibc.mkdir(path, mode) }
    }

    static func exists(_ path: String) -> Bool {
        statErrno(path) == nil
    }

    /// Names in a directory, without `.` and `..`, in readdir order.
    static func list(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            throw SystemCallError(call: "opendir \(path)", errno: .current)
        }
        defer { closedir(directory) }
        var names = [String]()
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw SystemCallError(call: "readdir \(path)", errno: .current) }
                return names
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// The regular files below `path`, as paths relative to it. Entries that go away while
    /// they are listed (a store's blobs being reclaimed) are left out.
    static func regularFiles(under path: String) throws -> [String] {
        var result = [String]()
        for name in try list(path) {
            let child = path + "/" + name
            let st: stat
            do {
                st = try stat(child)
            } catch let error as SystemCallError where error.errno == .ENOENT {
                continue
            }
            if st.st_mode & S_IFMT == S_IFDIR {
                result += try regularFiles(under: child).map { name + "/" + $0 }
            } else if st.st_mode & S_IFMT == S_IFREG {
                result.append(name)
            }
        }
        return result
    }

    /// `user.sha256` of a file, as text.
    static func sha256Attribute(_ path: String) throws -> String {
        String(decoding: try LinuxCalls.getxattr(path, "user.sha256"), as: UTF8.self)
    }

    static func setTimes(_ path: String, access: timespec, modification: timespec) throws {
        let times = [access, modification]
        try sys("utimensat \(path)") { utimensat(AT_FDCWD, path, times, 0) }
    }
}

/// The process umask, read without changing it.
func currentUmask() -> mode_t {
    let status = (try? Files.read("/proc/self/status")) ?? []
    for line in String(decoding: status, as: UTF8.self).split(separator: "\n")
    where line.hasPrefix("Umask:") {
        return mode_t(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0o022
    }
    return 0o022
}

/// Records an issue naming the first differing offset, instead of printing megabytes of bytes.
func expectBytes(
    _ actual: [UInt8], _ expected: [UInt8], _ what: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual != expected else { return }
    let common = min(actual.count, expected.count)
    let firstDifference = (0..<common).first { actual[$0] != expected[$0] } ?? common
    Issue.record(
        "\(what()): \(actual.count) bytes, expected \(expected.count); first difference at offset \(firstDifference)",
        sourceLocation: sourceLocation)
}

/// Whether `actual` is the beginning of `sent`.
func isPrefix(_ actual: [UInt8], of sent: [UInt8]) -> Bool {
    actual.count <= sent.count && actual[...] == sent[..<actual.count]
}

// MARK: Inside #expect

// `#expect` shows the values of an expression only when it contains no `try`; these record a
// failed call as an issue and give nil, so that a failed expectation shows what was there.

/// The names in a directory, or nil.
func names(in path: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String]? {
    recording(sourceLocation) { try Files.list(path) }
}

/// `stat` of a path, or nil.
func attributes(of path: String, sourceLocation: SourceLocation = #_sourceLocation) -> stat? {
    recording(sourceLocation) { try Files.stat(path) }
}

/// The content of a file, or nil.
func contents(of path: String, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8]? {
    recording(sourceLocation) { try Files.read(path) }
}

/// `user.sha256` of a path, or nil.
func sha256Attribute(of path: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    recording(sourceLocation) { try Files.sha256Attribute(path) }
}

func recording<T>(_ sourceLocation: SourceLocation, _ body: () throws -> T) -> T? {
    do {
        return try body()
    } catch {
        Issue.record(error, sourceLocation: sourceLocation)
        return nil
    }
}

extension stat {
    var fileType: mode_t { st_mode & S_IFMT }
    var permissions: mode_t { st_mode & 0o7777 }
}
