import Foundation
import Glibc
import Testing

/// Per-district quotas through the mount: the write that would pass the quota fails with
/// EDQUOT, nothing stored is harmed, and `df` in the district's tree shows the quota.
@Suite("Quotas", .serialized, .requiresMount)
struct QuotaTests {
    @Test("A district writing past its quota: EDQUOT at the write, the file keeps exactly what fit, df in its tree shows the quota")
    func writePastTheQuota() throws {
        try withMount { fs in
            let set = try fs.epochfs(["district", "set", "alpha", "--quota-bytes", "4196K", "--quota-files", "20", "--store", fs.store])
            let quota: Int64 = 4196 << 10  // not a whole number of dd's 1 MiB blocks
            #expect(set.succeeded && set.stdout.contains("\(quota) bytes"), "\(set)")
            let epoch = fs.upload(.alpha) + "/1764374400"
            let alpha = District.alpha.identity
            #expect(try Command.run(["/bin/mkdir", epoch], as: alpha).succeeded)

            let first = try Command.run(["/bin/dd", "if=/dev/urandom", "of=\(epoch)/first.bin", "bs=1M", "count=3"], as: alpha)
            #expect(first.succeeded, "\(first)")
            let firstHash = sha256Attribute(of: epoch + "/first.bin")
            let second = try Command.run(["/bin/dd", "if=/dev/urandom", "of=\(epoch)/second.bin", "bs=1M", "count=3"], as: alpha)
            #expect(!second.succeeded && second.stderr.contains("Disk quota exceeded"),
                    "the write that passes the quota fails, at the write: \(second)")
            #expect(try Files.stat(epoch + "/second.bin").st_size == quota - (3 << 20), "the file holds what fit, to the byte")
            #expect(getxattrErrno(epoch + "/second.bin", "user.sha256") == .ENODATA,
                    "a file whose write was refused is not published as a finished upload")
            #expect(sha256Attribute(of: epoch + "/first.bin") == firstHash, "what was stored is untouched")

            // df in the district's tree shows its quota; the mount's root shows the disk.
            func df(_ path: String, _ columns: String) throws -> [Int64] {
                let result = try Command.run(["/bin/df", "-B1", "--output=\(columns)", path])
                #expect(result.succeeded, "\(result)")
                return result.lines.last?.split(separator: " ").compactMap { Int64($0) } ?? []
            }
            #expect(try df(fs.root(.alpha), "size,used,avail") == [quota, quota, 0])
            #expect(try df(epoch, "itotal,iused") == [20, 3])
            #expect(try df(fs.mountpoint, "size,itotal") == (try df(fs.store, "size,itotal")), "the store's disk")

            // Deleting gives the room back at once.
            #expect(try Command.run(["/bin/rm", epoch + "/second.bin"], as: alpha).succeeded)
            #expect(try df(fs.root(.alpha), "avail") == [quota - (3 << 20)])
            let row = try fs.districtRow("alpha")
            #expect([row["UPLOAD_FILES"], row["UPLOAD_BYTES"], row["QUOTA_FILES"], row["QUOTA_BYTES"]]
                    == ["2", "3145728", "20", "\(quota)"], "\(row)")
        }
    }

    @Test("Without passthrough, a file opened before its district got a quota writes through the kernel's cache: the refusal surfaces at fsync, and the file stays unfinished")
    func refusalSurfacesAtFsyncUnderWritebackCache() throws {
        try withMount(mountArguments: ["--no-passthrough"]) { fs in
            let (epoch, file) = try openThenSetQuota(fs)
            // The writes land in the page cache and succeed; writing them back is refused.
            let sent = TestData.random(2 << 20)
            try file.write(sent)
            expectRefused("fsync of the refused pages") { try file.sync() }
            // (The kernel reports a writeback error once: this close succeeds. Without the
            // fsync it would fail, with EIO.)
            _ = try? file.close()
            #expect(getxattrErrno(epoch + "/late.bin", "user.sha256") == .ENODATA,
                    "the file is kept as an interrupted upload, not published")
            // The count holds what the store holds: the part written back before the refusal.
            let row = try fs.districtRow("alpha")
            #expect(row["BYTES"] == row["UPLOAD_BYTES"] && row["UPLOAD_BYTES"] == "\(1 << 20)",
                    "BYTES (the rows) and UPLOAD_BYTES (the count) agree: \(row)")
            // The kernel is made to forget the size and bytes it could not write back: the
            // mount shows what the store holds.
            #expect(eventually(within: 10) { (try? Files.stat(epoch + "/late.bin").st_size) == 1 << 20 },
                    "the size the store holds, not the one the writer attempted")
            expectBytes(try Files.read(epoch + "/late.bin"), Array(sent.prefix(1 << 20)), "what the store holds")
            #expect(fs.logTail().contains("over its quota"), "the refusal is logged")
            // A new open writes past the kernel's cache: refused at the write itself.
            let again = try OpenFile(epoch + "/again.bin", O_WRONLY | O_CREAT)
            expectRefused("a write past the quota") { try again.write(TestData.random(2 << 20)) }
            _ = try? again.close()
        }
    }

    @Test("With passthrough, a file opened before its district got a quota is refused at the write itself", .requiresPassthrough)
    func refusalAtTheWriteWithPassthrough() throws {
        try withMount { fs in
            let (epoch, file) = try openThenSetQuota(fs)
            let sent = TestData.random(2 << 20)
            try file.write(Array(sent.prefix(1 << 20)))
            expectRefused("the write past the quota") { try file.write(Array(sent.suffix(1 << 20))) }
            _ = try? file.close()
            #expect(getxattrErrno(epoch + "/late.bin", "user.sha256") == .ENODATA, "kept as an interrupted upload")
            #expect(try Files.stat(epoch + "/late.bin").st_size == 1 << 20)
            #expect(try fs.districtRow("alpha")["UPLOAD_BYTES"] == "\(1 << 20)")
        }
    }

    /// Opens `late.bin` in a new epoch for writing, then gives alpha a 1 MiB byte quota.
    private func openThenSetQuota(_ fs: MountFixture) throws -> (epoch: String, file: OpenFile) {
        let epoch = fs.upload(.alpha) + "/1764374400"
        try Files.mkdir(epoch)
        let file = try OpenFile(epoch + "/late.bin", O_WRONLY | O_CREAT)
        let set = try fs.epochfs(["district", "set", "alpha", "--quota-bytes", "1M", "--store", fs.store])
        #expect(set.succeeded, "\(set)")
        return (epoch, file)
    }

    private func expectRefused(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(what) succeeded", sourceLocation: sourceLocation)
        } catch let error as SystemCallError {
            #expect(error.errno == .EDQUOT, "\(what): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): \(error)", sourceLocation: sourceLocation)
        }
    }
}
