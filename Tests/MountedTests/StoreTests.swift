import Glibc
import Testing

/// Content as the store keeps it: `user.sha256`, deduplicated blobs, staging files while a
/// file is written, reclaimed space.
@Suite("Content store", .serialized, .requiresMount)
struct StoreTests {
    @Test("user.sha256 is the SHA-256 of a closed file's content")
    func sha256OfClosedFiles() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha)
            for (name, size) in [("empty", 0), ("small", 1), ("page", 4096), ("large", (3 << 20) + 17)] {
                let data = TestData.random(size)
                try Files.write(directory + "/" + name, data)
                #expect(sha256Attribute(of: directory + "/" + name) == TestData.sha256(data), "\(name)")
            }
            #expect(sha256Attribute(of: directory + "/empty")
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

            let path = directory + "/rewritten"
            try Files.write(path, TestData.random(1000))
            let replaced = TestData.random(2000)
            try Files.write(path, replaced)
            #expect(sha256Attribute(of: path) == TestData.sha256(replaced), "after a rewrite")

            let edited = try OpenFile(path, O_WRONLY)
            let patch = TestData.random(10)
            try edited.write(patch, at: 100)
            try edited.close()
            var expected = replaced
            expected.replaceSubrange(100..<110, with: patch)
            #expect(sha256Attribute(of: path) == TestData.sha256(expected), "after an edit in the middle")
            expectBytes(try Files.read(path), expected, "content after an edit in the middle")
        }
    }

    @Test("getfattr -d lists user.sha256; it cannot be forged")
    func sha256AttributeTools() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/file"
            let data = TestData.random(777)
            try Files.write(path, data)
            let hash = TestData.sha256(data)

            let dump = try Command.run(["getfattr", "-d", path])
            #expect(dump.succeeded, "\(dump)")
            #expect(dump.stdout.contains("user.sha256=\"\(hash)\""), "\(dump)")
            let named = try Command.run(["getfattr", "--only-values", "-n", "user.sha256", path])
            #expect(named.stdout == hash, "\(named)")

            _ = LinuxCalls.setxattr(path, "user.sha256", Array(String(repeating: "0", count: 64).utf8))
            #expect(sha256Attribute(of: path) == hash, "user.sha256 after an attempt to set it")
            // Nothing sets attributes, whatever the name, one that is not UTF-8 included.
            let odd = try Command.run(["bash", "-c", "setfattr -n $'user.\\xff' -v x \"$1\"", "bash", path])
            #expect(!odd.succeeded && odd.stderr.contains("Operation not supported"), "\(odd)")
            #expect(getxattrErrno(path, "user.other") == .ENODATA, "an attribute that is not there")
            // Not supported at all (so `ls -l` stops asking each entry for its SELinux label).
            #expect(getxattrErrno(path, "security.selinux") == .EOPNOTSUPP)
            let listing = try Command.run(["/bin/ls", "-l", fs.upload(.alpha)])
            #expect(listing.succeeded && listing.stdout.contains(" file\n") && !listing.stdout.contains("?"), "\(listing)")
        }
    }

    @Test("identical content is stored once, across districts")
    func deduplication() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let before = fs.blobs()
            let data = TestData.random((1 << 20) + 17)
            let hash = TestData.sha256(data)
            try Files.write(fs.upload(.alpha) + "/a", data)
            try Files.write(fs.upload(.alpha) + "/b", data)
            try Files.mkdir(fs.upload(.beta) + "/epoch")
            try Files.write(fs.upload(.beta) + "/epoch/c", data)

            #expect(eventually { fs.blobs().count == before.count + 1 }, "one blob for three identical files: \(fs.blobs()) before \(before)")
            let added = Set(fs.blobs()).subtracting(before)
            #expect(added == ["\(hash.prefix(2))/\(hash)"], "blob named blobs/<2 hex>/<sha256>")
            expectBytes(try Files.read(fs.store + "/blobs/\(hash.prefix(2))/\(hash)"), data, "the blob's content")
            for path in [fs.upload(.alpha) + "/a", fs.upload(.alpha) + "/b", fs.upload(.beta) + "/epoch/c"] {
                #expect(sha256Attribute(of: path) == hash)
            }

            let other = TestData.random(1000)
            try Files.write(fs.upload(.alpha) + "/d", other)
            #expect(eventually { fs.blobs().count == before.count + 2 }, "different content, another blob: \(fs.blobs())")
        }
    }

    @Test("a blob goes when its last name goes, and not before")
    func reclaim() throws {
        try withMount { fs in
            let data = TestData.random(200_000)
            let hash = TestData.sha256(data)
            let blob = fs.store + "/blobs/\(hash.prefix(2))/\(hash)"
            let a = fs.upload(.alpha) + "/a", b = fs.upload(.alpha) + "/b"
            try Files.write(a, data)
            try Files.write(b, data)
            #expect(eventually { Files.exists(blob) })

            try sys("unlink a") { unlink(a) }
            usleep(200_000)
            #expect(Files.exists(blob), "one name is left")
            let reader = try OpenFile(b, O_RDONLY)
            try sys("unlink b") { unlink(b) }
            expectBytes(try reader.readToEnd(), data, "read through a descriptor after the last name went")
            try reader.close()
            #expect(eventually { !Files.exists(blob) }, "blob reclaimed after the last name and handle went")

            try Files.write(a, data)
            #expect(eventually { Files.exists(blob) })
            try Files.write(a, TestData.random(10))
            #expect(eventually { !Files.exists(blob) }, "blob reclaimed after its only file was rewritten")
        }
    }

    @Test("a file being written lives in staging; fsync does not publish, close does")
    func stagingAndPublishing() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/upload.csv"
            let blobsBefore = fs.blobs()
            let file = try OpenFile(path, O_WRONLY | O_CREAT | O_EXCL)
            let inode = String(try file.stat().st_ino)
            let first = TestData.random(300_000), second = TestData.random(300_000)
            try file.write(first)
            try file.sync()
            #expect(fs.stagingFiles() == [inode], "staging/<inode> while written")
            usleep(200_000)
            #expect(fs.blobs() == blobsBefore, "fsync publishes nothing")
            try file.write(second)
            try file.close()

            #expect(fs.stagingSettles(), "staging empty after close: \(fs.stagingFiles())")
            let hash = TestData.sha256(first + second)
            #expect(eventually { fs.blobs() == (blobsBefore + ["\(hash.prefix(2))/\(hash)"]).sorted() }, "published as \(hash): \(fs.blobs())")
            #expect(sha256Attribute(of: path) == hash)
        }
    }

    @Test("metadata changes, reads and same-size truncates do not copy a published file")
    func noNeedlessCopies() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/file"
            let data = TestData.random(100_000)
            try Files.write(path, data)
            #expect(fs.stagingSettles())
            let blobs = fs.blobs()

            try sys("chmod") { chmod(path, 0o640) }
            try Files.setTimes(path, access: timespec(tv_sec: 1_000_000_000, tv_nsec: 0), modification: timespec(tv_sec: 1_000_000_000, tv_nsec: 0))
            try sys("truncate to its size") { truncate(path, off_t(data.count)) }
            expectBytes(try Files.read(path), data, "content")
            let file = try OpenFile(path, O_RDWR)
            _ = try file.read(count: 10)
            try file.truncate(data.count)
            try file.close()

            #expect(fs.stagingFiles() == [], "no staging copy")
            #expect(fs.blobs() == blobs, "no new blob")
            #expect(sha256Attribute(of: path) == TestData.sha256(data))
        }
    }
}
