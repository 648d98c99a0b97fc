@testable import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct StreamingHashTests {
    /// A scratch file and a hash fed by every write to it.
    private final class Scratch {
        let fd: Int32
        var hash = StreamingHash()
        var size: Int64 = 0

        init(_ dir: String) throws {
            fd = try Sys.open(dir + "/scratch", O_RDWR | O_CREAT | O_TRUNC, 0o600)
        }

        deinit { Sys.close(fd) }

        func write(_ bytes: ArraySlice<UInt8>, at offset: Int) throws {
            try bytes.withUnsafeBytes { raw in
                try Sys.pwriteAll(fd, raw, Int64(offset))
                hash.wrote(raw, at: Int64(offset), fd: fd)
            }
            size = max(size, Int64(offset + bytes.count))
        }

        func truncate(to size: Int64) throws {
            try Sys.ftruncate(fd, size)
            hash.truncated(to: size)
            self.size = size
        }

        func finish() throws -> String {
            try hash.finish(fd: fd, size: size)
        }
    }

    private func withScratch<T>(_ body: (Scratch) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let scratch = try Scratch(dir)
            return try withExtendedLifetime(scratch) { try body(scratch) }
        }
    }

    private func chunks(_ count: Int, of size: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    @Test func sequentialWritesAreHashedAsTheyArrive() throws {
        try withScratch { scratch throws in
            let content = pattern(300_001)
            for range in chunks(content.count, of: 4096) {
                try scratch.write(content[range], at: range.lowerBound)
            }
            #expect(scratch.hash.hashedEnd == Int64(content.count))
            #expect(try scratch.finish() == sha256Hex(content))
            #expect(scratch.hash.hashedEnd == nil)
        }
    }

    @Test func emptyFileHashesToTheEmptyDigest() throws {
        try withScratch { scratch throws in
            #expect(try scratch.finish() == sha256Hex([]))
        }
    }

    @Test func laterRangesWrittenFirstAreCaughtUpFromTheFile() throws {
        try withScratch { scratch throws in
            let content = pattern(40_000, seed: 3)
            let parts = chunks(content.count, of: 8192)
            for range in parts.reversed() {
                try scratch.write(content[range], at: range.lowerBound)
                if range.lowerBound > 0 { #expect(scratch.hash.hashedEnd == 0) }
            }
            #expect(scratch.hash.hashedEnd == Int64(content.count))
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func interleavedOutOfOrderWritesStillGiveTheDigest() throws {
        try withScratch { scratch throws in
            let content = pattern(64 * 1000, seed: 5)
            let parts = chunks(content.count, of: 1000)
            let order = parts.indices.sorted { ($0 * 37) % parts.count < ($1 * 37) % parts.count }
            for index in order {
                try scratch.write(content[parts[index]], at: parts[index].lowerBound)
            }
            #expect(scratch.hash.hashedEnd == Int64(content.count))
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func aGapLeftOpenIsReadFromTheFileAtFinish() throws {
        try withScratch { scratch throws in
            let content = pattern(30_000, seed: 8)
            try scratch.write(content[0..<10_000], at: 0)
            try scratch.write(content[20_000..<30_000], at: 20_000)
            #expect(scratch.hash.hashedEnd == 10_000)
            try content[10_000..<20_000].withUnsafeBytes { try Sys.pwriteAll(scratch.fd, $0, 10_000) }
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func rewriteBelowTheEndInvalidatesButFinishIsStillRight() throws {
        try withScratch { scratch throws in
            var content = pattern(50_000, seed: 1)
            for range in chunks(content.count, of: 10_000) {
                try scratch.write(content[range], at: range.lowerBound)
            }
            #expect(scratch.hash.hashedEnd == 50_000)
            let patch = pattern(777, seed: 99)
            content.replaceSubrange(1234..<(1234 + patch.count), with: patch)
            try scratch.write(patch[...], at: 1234)
            #expect(scratch.hash.hashedEnd == nil)
            try scratch.write(pattern(10, seed: 4)[...], at: 50_000)
            content += pattern(10, seed: 4)
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func shrinkingTruncateInvalidatesAndHashesThePrefix() throws {
        try withScratch { scratch throws in
            let content = pattern(20_000, seed: 2)
            try scratch.write(content[...], at: 0)
            try scratch.truncate(to: 12_345)
            #expect(scratch.hash.hashedEnd == nil)
            #expect(try scratch.finish() == sha256Hex(Array(content[0..<12_345])))
        }
    }

    @Test func growingTruncateCountsTheZeros() throws {
        try withScratch { scratch throws in
            let content = pattern(5000, seed: 6)
            try scratch.write(content[...], at: 0)
            try scratch.truncate(to: 9000)
            #expect(scratch.hash.hashedEnd == 5000)
            #expect(try scratch.finish() == sha256Hex(content + [UInt8](repeating: 0, count: 4000)))
        }
    }

    @Test func growingTruncateThenWritesInTheGap() throws {
        try withScratch { scratch throws in
            var content = pattern(5000, seed: 6)
            try scratch.write(content[...], at: 0)
            try scratch.truncate(to: 9000)
            let fill = pattern(2000, seed: 7)
            try scratch.write(fill[...], at: 5000)
            let tail = pattern(100, seed: 8)
            try scratch.write(tail[...], at: 9000)
            content += fill + [UInt8](repeating: 0, count: 2000) + tail
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func truncateToTheHashedEndChangesNothing() throws {
        try withScratch { scratch throws in
            let content = pattern(7000, seed: 11)
            try scratch.write(content[...], at: 0)
            try scratch.truncate(to: 7000)
            #expect(scratch.hash.hashedEnd == 7000)
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func truncateWithPendingRangesInvalidates() throws {
        try withScratch { scratch throws in
            let content = pattern(30_000, seed: 12)
            try scratch.write(content[10_000..<30_000], at: 10_000)
            try scratch.truncate(to: 25_000)
            #expect(scratch.hash.hashedEnd == nil)
            try scratch.write(content[0..<10_000], at: 0)
            #expect(try scratch.finish() == sha256Hex(Array(content[0..<25_000])))
        }
    }

    @Test func tooManyPendingRangesInvalidates() throws {
        try withScratch { scratch throws in
            let content = pattern(4100 * 2, seed: 13)
            for i in stride(from: 4099, through: 1, by: -1) {
                try scratch.write(content[(2 * i)..<(2 * i + 1)], at: 2 * i)
            }
            #expect(scratch.hash.hashedEnd == nil)
            for i in 0..<4100 {
                try scratch.write(content[(2 * i + (i == 0 ? 0 : 1))..<(2 * i + 2)], at: 2 * i + (i == 0 ? 0 : 1))
            }
            #expect(try scratch.finish() == sha256Hex(content))
        }
    }

    @Test func invalidStateHashesTheWholeFile() throws {
        try withScratch { scratch throws in
            let content = pattern(12_000, seed: 14)
            try content.withUnsafeBytes { try Sys.pwriteAll(scratch.fd, $0, 0) }
            scratch.size = Int64(content.count)
            scratch.hash = .invalid
            #expect(scratch.hash.hashedEnd == nil)
            try scratch.write(pattern(10, seed: 1)[...], at: 12_000)
            #expect(scratch.hash.hashedEnd == nil)
            #expect(try scratch.finish() == sha256Hex(content + pattern(10, seed: 1)))
        }
    }
}
