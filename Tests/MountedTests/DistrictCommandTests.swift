import Glibc
import Testing

/// `epochfs district add/list/remove` against a live mount, through its control socket.
@Suite("District commands", .serialized, .requiresMount)
struct DistrictCommandTests {
    @Test("a district added while mounted appears at once; removed, it goes at once")
    func addAndRemoveWhileMounted() throws {
        try withMount { fs in
            let before = try Command.run(["ls", fs.mountpoint])
            #expect(before.lines == ["alpha"])
            #expect(statErrno(fs.root(.gamma)) == .ENOENT)
            #expect(statErrno(fs.upload(.gamma)) == .ENOENT)

            try fs.add(.gamma)
            let added = try Command.run(["ls", fs.mountpoint])
            #expect(added.lines == ["alpha", "gamma"], "listed at once")
            let upload = try Files.stat(fs.upload(.gamma))
            #expect(upload.st_uid == District.gamma.uid)
            #expect(upload.st_gid == Identity.staffGroup)
            #expect(upload.st_mode == S_IFDIR | 0o750)
            #expect(District.gamma.identity.attempt(.write(fs.upload(.gamma) + "/hello", "hi")) == nil)
            try sys("unlink") { unlink(fs.upload(.gamma) + "/hello") }

            let list = try fs.epochfs(["district", "list", "--store", fs.store])
            #expect(list.succeeded, "\(list)")
            #expect(list.stdout.contains("alpha") && list.stdout.contains("gamma"), "\(list)")
            #expect(list.stdout.contains(String(District.gamma.uid)), "district list shows the uid: \(list)")

            let removal = try fs.remove(.gamma)
            #expect(removal.succeeded, "an empty district is removed: \(removal)")
            let removed = try Command.run(["ls", fs.mountpoint])
            #expect(removed.lines == ["alpha"], "gone at once")
            #expect(statErrno(fs.root(.gamma)) == .ENOENT)
            let after = try fs.epochfs(["district", "list", "--store", fs.store])
            #expect(!after.stdout.contains("gamma"), "\(after)")
        }
    }

    @Test("removing a district that holds data is refused unless --delete-data; re-created, it is empty")
    func removeWithData() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            try District.alpha.identity.must(.mkdir(fs.upload(.alpha) + "/1764374400"))
            try District.alpha.identity.must(.write(fs.upload(.alpha) + "/1764374400/students.csv", "data"))

            let refused = try fs.remove(.alpha)
            #expect(!refused.succeeded, "\(refused)")
            #expect(refused.stderr.contains("--delete-data"), "the error says what to do: \(refused)")
            #expect(names(in: fs.mountpoint)?.sorted() == ["alpha", "beta"])
            #expect(Files.exists(fs.upload(.alpha) + "/1764374400/students.csv"))

            try Files.mkdir(fs.processed(.beta) + "/1764300000")
            let processedData = try fs.remove(.beta)
            #expect(!processedData.succeeded, "data in upload-processed counts too: \(processedData)")

            let removed = try fs.remove(.alpha, deleteData: true)
            #expect(removed.succeeded, "\(removed)")
            #expect(names(in: fs.mountpoint) == ["beta"])
            #expect(statErrno(fs.upload(.alpha) + "/1764374400") == .ENOENT)

            try fs.add(.alpha)
            #expect(names(in: fs.upload(.alpha)) == [], "a re-created district sees none of the old files")
            #expect(names(in: fs.processed(.alpha)) == [])
        }
    }

    @Test("bad district names and duplicates are refused")
    func badNames() throws {
        try withMount { fs in
            for name in ["a/b", "..", ".", "", String(repeating: "d", count: 256)] {
                let result = try fs.epochfs(["district", "add", name, "--store", fs.store, "--uid", "6000", "--gid", "6000"])
                #expect(!result.succeeded, "district add \(name.prefix(20)): \(result)")
            }
            let duplicate = try fs.epochfs(["district", "add", "alpha", "--store", fs.store, "--uid", "6001", "--gid", "6001"])
            #expect(!duplicate.succeeded, "\(duplicate)")
            #expect(!duplicate.stderr.isEmpty, "the error is explained")
            #expect(names(in: fs.mountpoint) == ["alpha"])
            #expect(attributes(of: fs.upload(.alpha))?.st_uid == District.alpha.uid)
        }
    }

    @Test("district list works while the daemon is down")
    func listWhileDown() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            try fs.unmount()
            let list = try fs.epochfs(["district", "list", "--store", fs.store])
            #expect(list.succeeded, "\(list)")
            #expect(list.stdout.contains("alpha") && list.stdout.contains("beta"), "\(list)")
        }
    }
}
