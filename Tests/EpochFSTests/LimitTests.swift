@testable import EpochFS
import EpochStore
import Foundation
import TestSupport
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

extension LimitTests {
    static let fewOpenFiles = limits { $0.maxOpenFiles = 3 }

    @Test func aDistrictsOpensCountAgainstItsBudgetHandleByHandleAndNobodyElses() throws {
        try withStore(limits: Self.fewOpenFiles) { store throws in
            let fs = store.fs
            let beta = try store.administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID)
            let ino = try fs.makeFile(in: store.upload, "a", bytes("a"))
            let other = try fs.makeFile(in: store.upload, "b", bytes("b"))
            // Root opening first does not charge alpha; alpha's own handles each count.
            let rootHandle = try fs.open(ino, flags: O_RDONLY, caller: rootCaller)
            let held = try (0..<3).map { _ in try fs.open(ino, flags: O_RDONLY, caller: alphaCaller) }
            #expect(throws: Errno.tooManyOpenFiles) { try fs.open(other, flags: O_RDONLY, caller: alphaCaller) }
            #expect(throws: Errno.tooManyOpenFiles) {
                try fs.create(parent: store.upload, name: "c", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            }
            #expect(try store.names(store.upload).sorted() == ["a", "b"], "a refused create leaves nothing")
            // Root, another district and a truncate by path are not held to alpha's budget.
            fs.release(try fs.open(other, flags: O_RDONLY, caller: rootCaller))
            let betaFile = try fs.makeFile(in: InodeNumber(rawValue: beta.uploadIno), "x", bytes("x"), caller: betaCaller)
            fs.release(try fs.open(betaFile, flags: O_RDONLY, caller: betaCaller))
            _ = try fs.setattr(other, AttributeChanges(size: 0), handle: nil, caller: alphaCaller)
            // Closing one gives its place back, whoever holds the file.
            fs.release(held[0])
            fs.release(try fs.open(other, flags: O_RDONLY, caller: alphaCaller))
            for handle in held.dropFirst() { fs.release(handle) }
            fs.release(rootHandle)
            #expect(fs.state.withLock { $0.descriptors.isEmpty })
        }
    }

    @Test func rewritingAFileBesideAReaderKeepsNoOldDescriptors() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("version 0"))
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            defer { fs.release(reader) }
            // This process's descriptors of this store's files (other tests run beside this one).
            let descriptors = {
                try Sys.listDirectory("/proc/self/fd").filter { fd in
                    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"))?.hasPrefix(store.root) == true
                }.count
            }
            let before = try descriptors()
            for round in 1...50 {
                // Each truncate by path copies the published file (copy-on-write), then publishes it.
                _ = try fs.setattr(ino, AttributeChanges(size: Int64(round % 2)), handle: nil, caller: alphaCaller)
            }
            #expect(try descriptors() == before, "the copied-from descriptors are closed")
            #expect(fs.state.withLock { $0.open[ino]?.state.withLock { $0.retiredFDs.count } } == 0)
        }
    }

    @Test func aReadInFlightKeepsItsDescriptorUntilItsReplyIsSent() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("published"))
            let reader = try fs.open(ino, flags: O_RDONLY, caller: alphaCaller)
            defer { fs.release(reader) }
            let writer = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            let open = try fs.read(reader, offset: 0, size: 9) { fd, count -> Bool in
                // A copy-on-write while this read replies from the blob's descriptor.
                _ = try? fs.put(writer, bytes("P"), at: 0)
                return fcntl(fd, F_GETFD) != -1 && count == 9
            }
            #expect(open, "the descriptor stayed open for the reply")
            #expect(fs.state.withLock { $0.open[ino]?.state.withLock { $0.retiredFDs.count } } == 0, "closed after it")
            try fs.flush(writer, caller: alphaCaller)
            fs.release(writer)
        }
    }

    @Test func aChangeThatChangesNothingOrIsRefusedCopiesNothing() throws {
        let limits = Self.limits { $0.maxFileSize = 1 << 20 }
        try withStore(limits: limits) { store throws in
            let fs = store.fs
            let content = pattern(100_000, seed: 5)
            let ino = try fs.makeFile(in: store.upload, "f", content)
            let copied = { fs.metrics.copiedBytes.load(ordering: .relaxed) }
            let handle = try fs.open(ino, flags: O_WRONLY, caller: alphaCaller)
            // A truncate to the current size, by handle and by path; a write and a truncate
            // past the largest file; a write past the quota: none copies the published file.
            _ = try fs.setattr(ino, AttributeChanges(size: 100_000), handle: handle, caller: alphaCaller)
            _ = try fs.setattr(ino, AttributeChanges(size: 100_000), handle: nil, caller: alphaCaller)
            #expect(throws: Errno.fileTooLarge) {
                try bytes("x").withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: 1 << 20, bytes: raw) }
            }
            #expect(throws: Errno.fileTooLarge) {
                try fs.setattr(ino, AttributeChanges(size: 2 << 20), handle: handle, caller: alphaCaller)
            }
            _ = try store.administration.setQuota(of: "alpha", bytes: .limit(100_000), files: nil)
            #expect(throws: Errno.quotaExceeded) {
                try bytes("x").withUnsafeBytes { raw throws(Errno) in try fs.write(handle, offset: 100_000, bytes: raw) }
            }
            #expect(copied() == 0, "nothing was copied")
            #expect(try store.stagingFiles().isEmpty)
            // A change that happens copies the file once.
            try fs.put(handle, bytes("y"), at: 0)
            #expect(copied() == 100_000)
            try fs.flush(handle, caller: alphaCaller)
            fs.release(handle)
        }
    }
}
