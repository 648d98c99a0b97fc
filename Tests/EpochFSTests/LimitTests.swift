@testable import EpochFS
import EpochStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The bounds a district meets whatever its clients send (`DistrictLimits`).
@Suite struct LimitTests {
    static func limits(_ change: (inout DistrictLimits) -> Void) -> DistrictLimits {
        var limits = DistrictLimits()
        change(&limits)
        return limits
    }

    static let small = limits { $0.maxFileSize = 1000 }

    @Test func aWritePastTheLargestFileIsCutShortThenRefusedAndNeverPublished() throws {
        try withStore(limits: Self.small) { store throws in
            let fs = store.fs
            let (created, handle) = try fs.create(parent: store.upload, name: "big", mode: 0o644, flags: writeFlags,
                                                  caller: alphaCaller)
            let written = try pattern(600, seed: 1).withUnsafeBytes { raw throws(Errno) in
                try fs.write(handle, offset: 600, bytes: raw)
            }
            #expect(written == 400, "what fits below the limit is written")
            #expect(throws: Errno.fileTooLarge) {
                try bytes("x").withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: 1000, bytes: raw) }
            }
            #expect(throws: Errno.fileTooLarge) {
                try bytes("x").withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: .max - 1, bytes: raw) }
            }
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            let record = try #require(try store.record(created.ino))
            #expect(record.size == 1000)
            #expect(record.interrupted && record.blob == nil, "a file cut short is not a finished upload")
        }
    }

    @Test func aTruncatePastTheLargestFileIsRefusedAndChangesNothing() throws {
        try withStore(limits: Self.small) { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", pattern(100, seed: 2))
            #expect(throws: Errno.fileTooLarge) {
                try fs.setattr(ino, AttributeChanges(size: 1001), handle: nil, caller: alphaCaller)
            }
            #expect(throws: Errno.fileTooLarge) {
                try fs.setattr(ino, AttributeChanges(size: 8 << 40), handle: nil, caller: alphaCaller)
            }
            _ = try fs.setattr(ino, AttributeChanges(size: 1000), handle: nil, caller: alphaCaller)
            #expect(try fs.getattr(ino).size == 1000)

            let handle = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            #expect(throws: Errno.fileTooLarge) {
                try fs.setattr(ino, AttributeChanges(size: 1 << 40), handle: handle, caller: alphaCaller)
            }
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
            #expect(try store.record(ino)?.size == 1000)
        }
    }
}

extension LimitTests {
    static let shallow = limits { $0.maxDepth = 3 }

    @Test func directoriesDeeperThanTheLimitAreRefusedByMkdirAndRename() throws {
        try withStore(limits: Self.shallow) { store throws in
            let fs = store.fs
            let epoch = try store.makeEpoch()  // depth 1
            let two = try fs.mkdir(parent: epoch, name: "two", mode: 0o755, caller: alphaCaller).ino
            let three = try fs.mkdir(parent: two, name: "three", mode: 0o755, caller: alphaCaller).ino
            #expect(throws: Errno.nameTooLong) { try fs.mkdir(parent: three, name: "four", mode: 0o755, caller: alphaCaller) }
            // Files may sit in the deepest directory.
            try fs.makeFile(in: three, "file", bytes("x"))

            // A tree of two levels, built where it fits, cannot be moved below depth 2.
            let other = try store.makeEpoch("1764460800")
            let a = try fs.mkdir(parent: other, name: "a", mode: 0o755, caller: alphaCaller).ino
            _ = try fs.mkdir(parent: a, name: "b", mode: 0o755, caller: alphaCaller)
            #expect(throws: Errno.nameTooLong) {
                try fs.rename(parent: other, name: "a", newParent: two, newName: "a", flags: [], caller: alphaCaller)
            }
            #expect(throws: Errno.nameTooLong) {
                try fs.rename(parent: store.upload, name: "1764460800", newParent: epoch, newName: "moved", flags: [],
                              caller: alphaCaller)
            }
            // Where it fits, it moves; renaming in place never counts.
            try fs.rename(parent: other, name: "a", newParent: epoch, newName: "a", flags: [], caller: alphaCaller)
            try fs.rename(parent: epoch, name: "a", newParent: epoch, newName: "renamed", flags: [], caller: alphaCaller)
            #expect(Set(try store.names(epoch)) == ["two", "renamed"])
        }
    }
}
