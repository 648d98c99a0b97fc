import Foundation
import Glibc
import Testing

/// `epochfs fsck` and `epochfs gc` on a live mount and on the unmounted store.
@Suite("fsck and gc", .serialized, .requiresMount)
struct IntegrityCommandTests {
    @Test("fsck finds a blob corrupted on disk and names the file; gc removes an unreferenced blob file while mounted")
    func fsckAndGC() throws {
        try withMount { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(epoch)
            let students = TestData.random(300_000), schools = TestData.random(2000)
            try Files.write(epoch + "/students.csv", students)
            try Files.write(epoch + "/schools.csv", schools)
            #expect(fs.stagingSettles())
            let clean = try fs.epochfs(["fsck", "--store", fs.store])
            #expect(clean.succeeded && clean.stdout.contains("no problems found"), "\(clean)")

            // Sixteen bytes of a blob overwritten on disk.
            let hash = TestData.sha256(students)
            let blob = fs.store + "/blobs/" + hash.prefix(2) + "/" + hash
            let damage = try Command.sh("chmod u+w \(blob) && printf 'XXXXXXXXXXXXXXXX' | dd of=\(blob) bs=1 seek=100 conv=notrunc status=none")
            #expect(damage.succeeded, "\(damage)")
            let damaged = try fs.epochfs(["fsck", "--store", fs.store])
            #expect(damaged.status == 1, "\(damaged)")
            #expect(damaged.stdout.contains("blob.corrupt") && damaged.stdout.contains("/alpha/upload/1764374400/students.csv"),
                    "\(damaged)")
            #expect(!damaged.stdout.contains("schools.csv"), "only the damaged file is named: \(damaged)")
            let refused = try fs.epochfs(["fsck", "--repair", "--store", fs.store])
            #expect(!refused.succeeded && refused.stderr.contains("unmounted"), "\(refused)")

            // A blob file nothing names (left by a crash, say) goes with gc, while mounted.
            let stray = String(repeating: "ab", count: 32)
            try Files.write(fs.store + "/blobs/ab/" + stray, TestData.random(5000))
            let gc = try fs.epochfs(["gc", "--store", fs.store])
            #expect(gc.succeeded && gc.stdout.contains("removed 1 unreferenced blob files (5000 bytes)"), "\(gc)")
            #expect(!Files.exists(fs.store + "/blobs/ab/" + stray))
            expectBytes(try Files.read(epoch + "/schools.csv"), schools, "referenced files untouched")

            // Unmounted, --repair fixes what it can; the damaged blob is reported, not guessed at.
            try fs.unmount()
            let repaired = try fs.epochfs(["fsck", "--repair", "--json", "--store", fs.store])
            #expect(repaired.status == 1, "\(repaired)")
            #expect(repaired.stdout.contains("\"code\" : \"blob.corrupt\"") && repaired.stdout.contains("\"repaired\" : false"), "\(repaired)")
            try fs.mount()
        }
    }

    /// What an operator types: `fusermount3 -u`, then at once `epochfs fsck`, while the daemon
    /// still writes its last state out.
    @Test("fsck right after fusermount3 -u waits for the exiting daemon, then checks the store unmounted")
    func fsckRightAfterUnmount() throws {
        try withMount { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(epoch)
            for n in 0..<200 { try Files.write(epoch + "/file\(n).csv", TestData.random(20_000 + n)) }
            let unmounted = try Command.run(["fusermount3", "-u", fs.mountpoint])
            #expect(unmounted.succeeded, "\(unmounted)")
            let checked = try fs.epochfs(["fsck", "--store", fs.store])
            #expect(checked.succeeded && checked.stdout.contains("no problems found"), "\(checked)")
            #expect(fs.waitForDaemonExit(seconds: 10))
            try fs.mount()
            #expect(try Files.list(epoch).count == 200)
        }
    }

    @Test("backup while mounted and uploading; the copy, mounted as a store of its own, holds the same files and checks clean")
    func backupAndRestore() throws {
        let target = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(target) {} }  // (removed when the test ends, not at its last use)
        let destination = target.path + "/backup"
        var expected: [String: String] = [:]
        try withMount { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(epoch)
            for n in 0..<20 {
                let bytes = TestData.random(1000 * (n + 1))
                try Files.write(epoch + "/f\(n).csv", bytes)
                expected["alpha/upload/1764374400/f\(n).csv"] = TestData.sha256(bytes)
            }
            // The same bytes under a second name: one blob.
            try Files.write(epoch + "/copy.csv", try Files.read(epoch + "/f3.csv"))
            expected["alpha/upload/1764374400/copy.csv"] = expected["alpha/upload/1764374400/f3.csv"]
            // An upload still open while the backup runs.
            let open = try OpenFile(epoch + "/open.csv", O_WRONLY | O_CREAT)
            try open.write(TestData.random(4096))
            #expect(fs.stagingSettles(to: [String(try open.stat().st_ino)]))

            let backup = try fs.epochfs(["backup", destination, "--store", fs.store])
            #expect(backup.succeeded && backup.stdout.contains("20 blobs copied (210000 bytes)"), "\(backup)")
            let again = try fs.epochfs(["backup", destination, "--store", fs.store])
            #expect(!again.succeeded && again.stderr.contains("already holds"), "never over an existing backup: \(again)")
            try open.close()
        }
        // Restore: the backup directory is a store; mount it.
        let restored = try MountFixture()
        defer { restored.tearDown() }
        let copied = try Command.run(["/bin/cp", "-a", destination + "/.", restored.store])
        #expect(copied.succeeded, "\(copied)")
        try restored.mount()
        for (path, hash) in expected {
            #expect(sha256Attribute(of: restored.path(path)) == hash, "\(path) restored")
        }
        #expect(Files.exists(restored.path("alpha/upload/1764374400/open.csv")), "the upload in progress is there, interrupted")
        try restored.unmount()
        let check = try restored.epochfs(["fsck", "--store", restored.store])
        #expect(check.succeeded, "\(check)")
    }
}
