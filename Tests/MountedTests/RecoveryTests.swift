import Glibc
import Testing

/// `kill -9` of the daemon in the middle of uploads, then `epochfs mount` again.
@Suite("Crash recovery", .serialized, .requiresMount)
struct RecoveryTests {
    @Test("after kill -9: closed and fsynced files intact, a half-written file a prefix, nothing leaked")
    func killDuringUploads() throws {
        try withMount { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(epoch)

            let closed = TestData.random((3 << 20) + 5)
            try Files.write(epoch + "/closed.csv", closed)

            let syncedPath = epoch + "/synced.csv"
            let syncedFirst = TestData.random(2 << 20), syncedRest = TestData.random(1 << 20)
            let synced = try OpenFile(syncedPath, O_WRONLY | O_CREAT | O_EXCL)
            try synced.write(syncedFirst)
            try synced.sync()
            try synced.write(syncedRest)

            let halfPath = epoch + "/half.csv"
            let half = TestData.random(4 << 20)
            let sent = (3 << 19) + 1234
            let partial = try OpenFile(halfPath, O_WRONLY | O_CREAT | O_EXCL)
            for start in stride(from: 0, to: sent, by: 65536) {
                try partial.write(Array(half[start..<min(start + 65536, sent)]))
            }

            let openInodes: Set = [String(try synced.stat().st_ino), String(try partial.stat().st_ino)]
            var small = [(String, [UInt8])]()
            for index in 0..<50 {
                let data = TestData.random(Int.random(in: 1...20_000))
                try Files.write(epoch + "/small-\(index).csv", data)
                small.append((epoch + "/small-\(index).csv", data))
            }

            try fs.signalDaemon(SIGKILL)
            try? synced.close()
            try? partial.close()
            #expect(openErrno(epoch + "/probe", O_WRONLY | O_CREAT) == .ENOTCONN, "the mount is dead")

            try fs.mount()

            expectBytes(try Files.read(epoch + "/closed.csv"), closed, "closed file")
            #expect(sha256Attribute(of: epoch + "/closed.csv") == TestData.sha256(closed))
            for (path, data) in small {
                expectBytes(try Files.read(path), data, "\(path), closed just before the kill")
                #expect(sha256Attribute(of: path) == TestData.sha256(data), "user.sha256 of \(path)")
            }
            let recoveredSynced = try Files.read(syncedPath)
            #expect(recoveredSynced.count >= syncedFirst.count, "fsynced bytes kept: \(recoveredSynced.count)")
            #expect(isPrefix(recoveredSynced, of: syncedFirst + syncedRest), "fsynced file is a prefix of what was sent")
            let recoveredHalf = try Files.read(halfPath)
            #expect(isPrefix(recoveredHalf, of: Array(half[..<sent])), "half-written file (\(recoveredHalf.count) bytes) is a prefix of the \(sent) sent")

            let staging = Set(fs.stagingFiles())
            #expect(staging.isSubset(of: openInodes), "staging holds only interrupted uploads \(openInodes): \(staging)")
            try expectNoLeakedBlobs(fs)

            try resume(halfPath, with: half)
            try resume(syncedPath, with: syncedFirst + syncedRest)
            #expect(fs.stagingSettles(), "staging empty once the uploads are finished: \(fs.stagingFiles())")
            try expectNoLeakedBlobs(fs)
        }
    }

    @Test("after kill -9 right after a burst of closes, every closed file is intact")
    func killAfterCloses() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            var files = [(String, [UInt8])]()
            for district in [District.alpha, .beta] {
                try Files.mkdir(fs.upload(district) + "/1764374400")
            }
            let renamed = fs.upload(.alpha) + "/1764374400/renamed.csv"
            let renamedData = TestData.random(5000)
            try Files.write(renamed + ".part", renamedData)
            try sys("rename") { rename(renamed + ".part", renamed) }
            files.append((renamed, renamedData))
            try Files.write(fs.upload(.alpha) + "/1764374400/deleted.csv", TestData.random(5000))
            try sys("unlink") { unlink(fs.upload(.alpha) + "/1764374400/deleted.csv") }
            for index in 0..<100 {
                for district in [District.alpha, .beta] {
                    let data = TestData.random(Int.random(in: 0...100_000))
                    let path = fs.upload(district) + "/1764374400/f\(index).csv"
                    try Files.write(path, data)
                    files.append((path, data))
                }
            }

            try fs.signalDaemon(SIGKILL)
            try fs.mount()

            for (path, data) in files {
                expectBytes(try Files.read(path), data, path)
                #expect(sha256Attribute(of: path) == TestData.sha256(data), "user.sha256 of \(path)")
            }
            #expect(names(in: fs.upload(.alpha) + "/1764374400")?.count == 101)
            #expect(fs.stagingFiles() == [], "no interrupted uploads, so no staging files")
            try expectNoLeakedBlobs(fs)
        }
    }
}

/// Appends the rest of `content` to a recovered file, as a resuming client does.
private func resume(_ path: String, with content: [UInt8]) throws {
    let have = try Files.stat(path).st_size
    let file = try OpenFile(path, O_WRONLY | O_APPEND)
    try file.write(Array(content[have...]))
    try file.close()
    expectBytes(try Files.read(path), content, "\(path) after resuming at \(have)")
    #expect(sha256Attribute(of: path) == TestData.sha256(content), "user.sha256 of \(path) after resuming")
}

/// Every blob is named by its content's hash and is some file's `user.sha256`.
private func expectNoLeakedBlobs(_ fs: MountFixture, sourceLocation: SourceLocation = #_sourceLocation) throws {
    var referenced = Set<String>()
    for file in try Files.regularFiles(under: fs.mountpoint) {
        if let hash = try? Files.sha256Attribute(fs.mountpoint + "/" + file) { referenced.insert(hash) }
    }
    #expect(eventually { Set(fs.blobs().map { String($0.split(separator: "/").last!) }).isSubset(of: referenced) },
            "every blob is referenced: \(fs.blobs()) vs \(referenced.sorted())", sourceLocation: sourceLocation)
    for blob in fs.blobs() {
        let parts = blob.split(separator: "/").map(String.init)
        #expect(parts.count == 2 && parts[1].hasPrefix(parts[0]), "blob path \(blob)", sourceLocation: sourceLocation)
        #expect(referenced.contains(parts.last!), "blob \(blob) is referenced", sourceLocation: sourceLocation)
        #expect(TestData.sha256(try Files.read(fs.store + "/blobs/" + blob)) == parts.last!, "blob \(blob) holds its content", sourceLocation: sourceLocation)
    }
}
