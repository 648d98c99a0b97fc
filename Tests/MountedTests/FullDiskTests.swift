import Foundation
import Glibc
import TestSupport
import Testing

/// A store whose disk fills up: clean errors, nothing corrupted, and everything works again
/// once space is freed.
@Suite("Full disk", .serialized, .requiresMount)
struct FullDiskTests {
    @Test("ENOSPC on the store's disk: writes fail with ENOSPC, what was stored stays intact, freeing space lets uploads go on")
    func storeDiskFillsUp() throws {
        try onTmpfsStore(size: "24m") { fs, epoch in
            let kept = TestData.random(4 << 20)
            try Files.write(epoch + "/kept.csv", kept)
            #expect(fs.stagingSettles())

            // Fill the disk: some write (or the close that publishes) must fail, with ENOSPC.
            var failure: Errno?
            var written = 0
            fill: for n in 0..<40 {
                do {
                    let file = try OpenFile(epoch + "/fill\(n).bin", O_WRONLY | O_CREAT)
                    for _ in 0..<8 { try file.write(TestData.random(128 << 10)) }
                    try file.sync()
                    try file.close()
                    written += 1
                } catch let error as SystemCallError {
                    failure = error.errno
                    break fill
                }
            }
            #expect(failure == .ENOSPC, "the disk filled after \(written) files with \(String(describing: failure)); log:\n\(fs.logTail())")
            // The file the disk could not take is not a finished upload.
            let refused = getxattrErrno(epoch + "/fill\(written).bin", "user.sha256")
            #expect(refused == .ENODATA || refused == .ENOENT, "fill\(written).bin: \(String(describing: refused))")

            // What was stored before is intact, and the mount still answers.
            expectBytes(try Files.read(epoch + "/kept.csv"), kept, "stored before the disk filled")
            #expect(try Files.list(epoch).contains("kept.csv"))

            // Free space: delete the filler files; a new upload goes through.
            for name in try Files.list(epoch) where name.hasPrefix("fill") {
                try sys("unlink \(name)") { Glibc.unlink(epoch + "/" + name) }
            }
            let after = TestData.random(2 << 20)
            let recovered = eventually(within: 15) {
                (try? Files.write(epoch + "/after.csv", after)) != nil
            }
            #expect(recovered, "uploads work again once space is freed; log:\n\(fs.logTail())")
            expectBytes(try Files.read(epoch + "/after.csv"), after, "written after space was freed")

            // What the district holds in upload/ is counted right through it all (the count follows
            // open files' sizes, and commits failed meanwhile).
            let row = try fs.districtRow("alpha")
            #expect(row["BYTES"] != nil && row["BYTES"] == row["UPLOAD_BYTES"], "BYTES and UPLOAD_BYTES agree: \(row)")

            // And the store checks clean.
            try fs.unmount()
            let check = try fs.epochfs(["fsck", "--store", fs.store])
            #expect(check.succeeded, "\(check)")
        }
    }

    /// Writes are acknowledged before the daemon copies their bytes into the staging file, so
    /// the write the disk cannot take may already have returned: the failure must still reach
    /// the writer, at its next write or at close, and the file must not be published.
    @Test("A write the disk cannot take fails the write or the close with ENOSPC, without fsync, and is never published")
    func lateWriteFailureReachesTheClose() throws {
        try onTmpfsStore(size: "16m") { fs, epoch in
            // One write call more than the disk has room for, in 256 KiB writes, then close.
            let path = epoch + "/too-big.bin"
            let file = try OpenFile(path, O_WRONLY | O_CREAT)
            var room = statvfs()
            try sys("statvfs") { statvfs(fs.store, &room) }
            let chunk = 256 << 10
            let chunks = Int(room.f_bavail) * Int(room.f_frsize) / chunk + 1
            var failures: [String] = []
            for _ in 0..<chunks {
                do { try file.write(TestData.random(chunk)) } catch let error as SystemCallError {
                    failures.append("write: \(error.errno)")
                    break
                }
            }
            do { try file.close() } catch let error as SystemCallError { failures.append("close: \(error.errno)") }
            #expect(!failures.isEmpty && failures.allSatisfy { $0.hasSuffix("\(Errno.ENOSPC)") },
                    "\(chunks) writes of 256 KiB onto \(room.f_bavail * room.f_frsize) free bytes: \(failures); log:\n\(fs.logTail())")
            let published = getxattrErrno(path, "user.sha256")
            #expect(published == .ENODATA, "too-big.bin: \(String(describing: published))")
            try sys("unlink too-big.bin") { Glibc.unlink(path) }

            // Room again: an upload goes through.
            let after = TestData.random(1 << 20)
            #expect(eventually(within: 15) { (try? Files.write(epoch + "/after.csv", after)) != nil })
            expectBytes(try Files.read(epoch + "/after.csv"), after, "written once space was freed")
        }
    }

    /// A zipped set is unpacked into scratch space on the store's disk, which every district's
    /// uploads share: an archive that would unpack past what may be used is held for staff,
    /// and nothing is unpacked.
    @Test("A zipped set too large for the store's free space is held, not unpacked")
    func zipTooLargeForTheDiskIsHeld() throws {
        let source = try TestDirectory(scratch: true)
        // A Clever set whose students.csv unpacks to 32 MB and packs to far less.
        var students = "School_id,Student_id,Last_name,First_name\n"
        for id in 0..<1_600_000 { students += "S1,\(100_000 + id),Smith,Ann\n" }
        #expect(students.utf8.count > 24 << 20)
        for (name, text) in Sets.clever {
            try Files.write(source.path + "/" + name, Array((name == "students.csv" ? students : text).utf8))
        }
        let zipped = try Command.run(["/usr/bin/zip", "-q", "-9", "-j", source.path + "/set.zip"]
                                     + Sets.clever.map { source.path + "/" + $0.0 })
        #expect(zipped.succeeded, "\(zipped)")
        try onTmpfsStore(size: "24m") { fs, epoch in
            try Files.write(epoch + "/set.zip", try Files.read(source.path + "/set.zip"))
            try Files.write(epoch + "/.done", [])
            var shown = ""
            let held = eventually(within: 30) {
                let result = try? fs.epochfs(["epochs", "show", "alpha/1764374400", "--store", fs.store])
                shown = result?.stdout ?? ""
                return shown.contains("held")
            }
            #expect(held && shown.contains("too little free space to unpack this archive"), "\(shown)\n\(fs.logTail())")
            let work = (try? Files.list(fs.store + "/work")) ?? []
            #expect(work.allSatisfy { (try? Files.list(fs.store + "/work/" + $0))?.isEmpty ?? true },
                    "nothing unpacked is left: \(work)")
        }
    }

    @Test("A set whose hand-off copies would not fit in the store's free space is held before the command runs")
    func handOffCopiesTooLargeForTheDiskAreHeld() throws {
        let scratch = try TestDirectory(scratch: true)
        let runs = scratch.path + "/runs"
        let handOff = scratch.path + "/hand-off"
        try Files.write(handOff, Array("#!/bin/sh\necho ran >> \(runs)\n".utf8), mode: 0o755)
        let profiles = scratch.path + "/profiles"
        try EpochPipelineTests.cleverProfile(handOff: handOff, timeoutSeconds: 60, into: profiles)
        // 10 MB of students (the set's enrollments name the first two): stored, they leave less
        // room than their copies need.
        var students = "School_id,Student_id,Last_name,First_name\n"
        for id in 0..<500_000 { students += "S1,\(1001 + id),Smith,Ann\n" }
        try onTmpfsStore(size: "24m", mountArguments: ["--profiles-directory", profiles]) { fs, epoch in
            for (name, text) in Sets.clever {
                try Files.write(epoch + "/" + name, Array((name == "students.csv" ? students : text).utf8))
            }
            try Files.write(epoch + "/.done", [])
            var state = ""
            let held = eventually(within: 30) {
                state = (try? fs.epochfs(["epochs", "show", "alpha/1764374400", "--store", fs.store]))?.stdout ?? ""
                return state.contains("held")
            }
            #expect(held && state.contains("too little free space to give the hand-off its copies"), "\(state)\n\(fs.logTail())")
            #expect(!Files.exists(runs), "the hand-off did not run")
        }
    }

    /// Mounts a fresh store kept on a tmpfs of `size` of its own, adds district alpha and an
    /// epoch directory, runs `body`, and unmounts both whatever happens.
    private func onTmpfsStore(size: String, mountArguments: [String] = [], _ body: (MountFixture, String) throws -> Void) throws {
        let fs = try MountFixture()
        defer { fs.tearDown() }
        try Files.mkdir(fs.store)
        let tmpfs = try Command.run(["/bin/mount", "-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", fs.store])
        try #require(tmpfs.succeeded, "\(tmpfs)")
        defer {
            _ = try? Command.run(["fusermount3", "-u", fs.mountpoint], timeout: 20)
            _ = try? Command.run(["/bin/umount", "-l", fs.store], timeout: 20)
        }
        try fs.mount(mountArguments)
        try fs.add(.alpha)
        let epoch = fs.upload(.alpha) + "/1764374400"
        try Files.mkdir(epoch)
        try body(fs, epoch)
    }
}
