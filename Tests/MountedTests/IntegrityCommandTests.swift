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
}
