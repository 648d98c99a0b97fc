import EpochCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Files and bytes for the tests of the targets that touch files directly (EpochCore,
// EpochStore), written once for all of them.

/// Runs `body` with a fresh directory that is removed afterwards.
public func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("epochfs-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Deterministic bytes that differ from one position (and one seed) to the next.
public func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 9) ^ (seed &* 131) ^ 0x5a) }
}

public func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    defer { Sys.close(fd) }
    try bytes.withUnsafeBytes { try Sys.pwriteAll(fd, $0, 0) }
}

public func readFile(_ path: String) throws -> [UInt8] {
    let fd = try Sys.open(path, O_RDONLY)
    defer { Sys.close(fd) }
    return try readAll(fd)
}

public func readAll(_ fd: Int32) throws -> [UInt8] {
    let size = Int(try Sys.fstat(fd).st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    try bytes.withUnsafeMutableBytes { raw in
        while done < size {
            let n = try Sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: raw[done...]), Int64(done))
            if n == 0 { break }
            done += n
        }
    }
    return Array(bytes[0..<done])
}

public func pwrite(_ fd: Int32, _ bytes: [UInt8], at offset: Int64) throws {
    try bytes.withUnsafeBytes { try Sys.pwriteAll(fd, $0, offset) }
}

public func fileSize(_ path: String) throws -> Int64? {
    try Sys.status(path).map { Int64($0.st_size) }
}

public func permissionBits(_ path: String) throws -> UInt32? {
    try Sys.status(path).map { UInt32($0.st_mode) & 0o7777 }
}
