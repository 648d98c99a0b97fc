import Foundation
import Glibc
import Testing

/// `mount-scripts/epochfs-retention` over a live mount: old processed epochs go, new ones
/// stay, the space comes back, and blobs another epoch still names survive.
@Suite("Retention", .serialized, .requiresMount)
struct RetentionTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("mount-scripts/epochfs-retention").path
    }

    /// Publishes an epoch through the pipeline: a shared file every epoch has, and one of its own.
    private func publish(_ fs: MountFixture, _ name: String, own: [UInt8]) throws {
        let epoch = fs.upload(.alpha) + "/" + name
        try Files.mkdir(epoch)
        try Files.write(epoch + "/schools.csv", Array("School_id,School_name,School_number\r\nS1,North High,001\r\n".utf8))
        try Files.write(epoch + "/own.bin", own)
        try Files.write(epoch + "/.done", [])
        #expect(eventually(within: 20) { Files.exists(fs.processed(.alpha) + "/" + name) }, "\(name) published; log:\n\(fs.logTail())")
    }

    private func age(_ path: String, days: Double) throws {
        let then = time(nil) - Int(days * 86_400)
        try Files.setTimes(path, access: timespec(tv_sec: then, tv_nsec: 0), modification: timespec(tv_sec: then, tv_nsec: 0))
    }

    struct Statistics: Decodable {
        struct District: Decodable {
            var district: String
            var files: Int64
            var logicalBytes: Int64
            var storedBytes: Int64
            var epochs: [String: Int]
        }
        var districts: [District]
    }

    private func retention(_ arguments: [String]) throws -> CommandResult {
        try Command.run(["/bin/sh", Self.script] + arguments, timeout: 120)
    }

    @Test("epochs published more than N days ago are deleted; newer ones stay; space comes back; shared blobs survive")
    func prunesOldEpochs() throws {
        try withMount(districts: [.alpha, .beta], mountArguments: ["--settle-seconds", "3600"]) { fs in
            let old = TestData.random(3 << 20), older = TestData.random(2 << 20), recent = TestData.random(1 << 20)
            try publish(fs, "1764201600", own: older)
            try publish(fs, "1764288000", own: old)
            try publish(fs, "1764374400", own: recent)
            // An epoch still uploading is never touched, however old.
            let uploading = fs.upload(.alpha) + "/1764000000"
            try Files.mkdir(uploading)
            try Files.write(uploading + "/students.csv", TestData.random(1000))
            try age(uploading, days: 90)
            let processed = fs.processed(.alpha)
            try age(processed + "/1764201600", days: 45)
            try age(processed + "/1764288000", days: 30.01)
            try age(processed + "/1764374400", days: 29.9)
            #expect(fs.stagingSettles())
            let blobsBefore = Set(fs.blobs())

            let dryRun = try retention(["--dry-run", "--days", "30", fs.mountpoint])
            #expect(dryRun.succeeded, "\(dryRun)")
            #expect(dryRun.lines.sorted() == [processed + "/1764201600", processed + "/1764288000"])
            #expect(try Files.list(processed).count == 3, "a dry run deletes nothing")

            let run = try retention(["--days", "30", fs.mountpoint])
            #expect(run.succeeded, "\(run)")
            #expect(run.stdout.contains("deleted 2 processed epochs"), "\(run)")
            #expect(try Files.list(processed) == ["1764374400"])
            #expect(Files.exists(uploading + "/students.csv"))
            // The two epochs' own blobs go once the daemon's reclaim pass has run; the shared
            // schools.csv stays, named by the epoch that is kept.
            let gone = Set([TestData.sha256(old), TestData.sha256(older)].map { String($0.prefix(2)) + "/" + $0 })
            #expect(gone.isSubset(of: blobsBefore))
            #expect(eventually(within: 15) { Set(fs.blobs()).isDisjoint(with: gone) }, "blobs reclaimed: \(fs.blobs())")
            #expect(Files.exists(processed + "/1764374400/schools.csv"))
            expectBytes(try Files.read(processed + "/1764374400/own.bin"), recent, "kept epoch intact")
            // epochfs stats: one published and one receiving epoch left; logical and stored
            // bytes are what the kept files hold (schools.csv is the same blob in both).
            let stats = try fs.epochfs(["stats", "--json", "--store", fs.store])
            let statistics = try JSONDecoder().decode(Statistics.self, from: Data(stats.output))
            let alpha = try #require(statistics.districts.first { $0.district == "alpha" }, "\(stats)")
            #expect(alpha.epochs == ["published": 1, "receiving": 1], "\(stats)")
            #expect(alpha.logicalBytes > Int64(recent.count) && alpha.logicalBytes < Int64(recent.count) + 20_000, "\(stats)")
            #expect(alpha.storedBytes <= alpha.logicalBytes, "\(stats)")
            #expect(statistics.districts.first { $0.district == "beta" }?.files == 0)
            let pruned = try fs.epochfs(["epochs", "list", "--district", "alpha", "--store", fs.store])
            #expect(!pruned.stdout.contains("1764201600") && pruned.stdout.contains("1764374400"), "\(pruned)")

            // --days 0: every processed epoch, however new.
            let all = try retention(["--days", "0", fs.mountpoint])
            #expect(all.succeeded && all.stdout.contains("deleted 1 processed"), "\(all)")
            #expect(try Files.list(processed).isEmpty)
        }
    }

    @Test("bad arguments and a path that is not an epochfs mount are refused, deleting nothing")
    func refusesBadInput() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }  // (removed when the test ends, not at its last use)
        try Files.mkdir(scratch.path + "/d")
        try Files.mkdir(scratch.path + "/d/upload-processed")
        try Files.mkdir(scratch.path + "/d/upload-processed/old")
        for arguments in [["--days", "x", scratch.path], ["--days"], [], [scratch.path, scratch.path], [scratch.path]] {
            let result = try retention(arguments)
            #expect(!result.succeeded && !result.stderr.isEmpty, "\(arguments): \(result)")
        }
        #expect(Files.exists(scratch.path + "/d/upload-processed/old"))
    }
}
