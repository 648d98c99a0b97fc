import Glibc
import Testing

/// The tools staff and clients use, run for real against the mount.
@Suite("Coreutils and rsync", .serialized, .requiresMount)
struct CoreutilsTests {
    @Test("cp -a a tree in and out again; diff -r; ls -l; du")
    func copyArchive() throws {
        try withMount { fs in
            let source = fs.directory.path + "/src"
            let tree = try SourceTree(at: source, owner: .alpha)
            let inside = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(inside)

            try expectSuccess(Command.run(["cp", "-a", source, inside + "/"]))
            try expectSuccess(Command.run(["diff", "-r", source, inside + "/src"]))
            try tree.expectSame(at: inside + "/src")

            let out = fs.directory.path + "/out"
            try expectSuccess(Command.run(["cp", "-a", inside + "/src", out]))
            try expectSuccess(Command.run(["diff", "-r", source, out]))
            try tree.expectSame(at: out)

            let listing = try Command.run(["ls", "-ln", inside + "/src/data"])
            try expectSuccess(listing)
            for file in tree.files where file.path.hasPrefix("data/") && !file.path.dropFirst(5).contains("/") {
                let line = listing.lines.first { $0.hasSuffix(" " + file.path.dropFirst(5)) }
                let fields = line?.split(separator: " ").map(String.init) ?? []
                #expect(fields.count >= 9, "ls -l shows \(file.path): \(listing)")
                guard fields.count >= 9 else { continue }
                #expect(fields[2] == String(District.alpha.uid), "owner of \(file.path)")
                #expect(fields[3] == String(Identity.staffGroup), "group of \(file.path)")
                #expect(fields[4] == String(file.data.count), "size of \(file.path)")
            }

            let large = tree.files.max { $0.data.count < $1.data.count }!
            let du = try Command.run(["du", "-k", inside + "/src/" + large.path])
            try expectSuccess(du)
            let kib = Int(du.stdout.split(separator: "\t").first ?? "") ?? -1
            #expect((large.data.count / 1024...large.data.count / 1024 + 64).contains(kib), "du -k of \(large.data.count) bytes: \(du.stdout)")
            let total = try Command.run(["du", "-sk", inside + "/src"])
            let totalKiB = Int(total.stdout.split(separator: "\t").first ?? "") ?? -1
            #expect(totalKiB >= tree.files.reduce(0) { $0 + $1.data.count } / 1024, "du -sk: \(total.stdout)")
        }
    }

    @Test("mv within the mount, into it, and across districts")
    func move() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let source = fs.directory.path + "/src"
            let tree = try SourceTree(at: source, owner: .alpha)
            let first = fs.upload(.alpha) + "/first", second = fs.upload(.alpha) + "/second"
            try expectSuccess(Command.run(["cp", "-a", source, first]))

            try expectSuccess(Command.run(["mv", first, second]))
            #expect(statErrno(first) == .ENOENT)
            try tree.expectSame(at: second)

            let loose = fs.directory.path + "/loose.csv"
            let data = TestData.random(100_000)
            try Files.write(loose, data)
            try expectSuccess(Command.run(["mv", loose, fs.upload(.alpha) + "/loose.csv"]))
            #expect(statErrno(loose) == .ENOENT)
            expectBytes(try Files.read(fs.upload(.alpha) + "/loose.csv"), data, "moved into the mount")

            try expectSuccess(Command.run(["mv", second, fs.upload(.beta) + "/moved"]))
            #expect(statErrno(second) == .ENOENT, "mv across districts removes the source")
            try tree.expectSame(at: fs.upload(.beta) + "/moved")
            try expectSuccess(Command.run(["mv", fs.upload(.alpha) + "/loose.csv", fs.upload(.beta) + "/"]))
            expectBytes(try Files.read(fs.upload(.beta) + "/loose.csv"), data, "file moved across districts")
            #expect(names(in: fs.upload(.alpha)) == [])
        }
    }

    @Test("rm -r and find")
    func removeAndFind() throws {
        try withMount { fs in
            let source = fs.directory.path + "/src"
            let tree = try SourceTree(at: source, owner: .alpha)
            let inside = fs.upload(.alpha) + "/1764374400"
            try expectSuccess(Command.run(["cp", "-a", source, inside]))

            let found = try Command.run(["find", inside, "-type", "f"])
            try expectSuccess(found)
            #expect(Set(found.lines) == Set(tree.files.map { inside + "/" + $0.path }))
            let directories = try Command.run(["find", inside, "-mindepth", "1", "-type", "d"])
            #expect(Set(directories.lines) == Set(tree.directories.map { inside + "/" + $0 }))
            let big = try Command.run(["find", inside, "-type", "f", "-size", "+1000k"])
            #expect(Set(big.lines) == Set(tree.files.filter { $0.data.count > 1000 * 1024 }.map { inside + "/" + $0.path }))

            try expectSuccess(Command.run(["rm", "-r", inside]))
            #expect(statErrno(inside) == .ENOENT)
            #expect(names(in: fs.upload(.alpha)) == [])
            let none = try Command.run(["find", fs.mountpoint, "-type", "f"])
            #expect(none.succeeded && none.stdout.isEmpty, "\(none)")
        }
    }

    @Test("the retention job: find upload-processed -mtime +30 -exec rm -rf")
    func retention() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            for district in [District.alpha, .beta] {
                for epoch in ["1760000000", "1764300000"] {
                    let directory = fs.processed(district) + "/" + epoch
                    try Files.mkdir(directory)
                    try Files.write(directory + "/students.csv", TestData.random(1000))
                    try Files.write(directory + "/processing-succeeded.log", Array("ok\n".utf8))
                }
                try expectSuccess(Command.run(["touch", "-d", "40 days ago", fs.processed(district) + "/1760000000"]))
            }
            try expectSuccess(Command.sh(
                "find \(shellQuote(fs.mountpoint))/*/upload-processed -mindepth 1 -maxdepth 1 -mtime +30 -exec rm -rf {} +"))
            for district in [District.alpha, .beta] {
                #expect(names(in: fs.processed(district)) == ["1764300000"], "\(district): old epoch pruned")
                #expect(names(in: fs.processed(district) + "/1764300000")?.count == 2)
            }
        }
    }

    @Test("rsync -a in; a second run has nothing to do")
    func rsync() throws {
        try withMount { fs in
            let source = fs.directory.path + "/src"
            let tree = try SourceTree(at: source, owner: .alpha)
            let target = fs.upload(.alpha) + "/rsync"

            try expectSuccess(Command.run(["rsync", "-rlpt", source + "/", target + "/"]))
            try expectSuccess(Command.run(["diff", "-r", source, target]))
            try tree.expectSame(at: target, checkOwner: false)

            let again = try Command.run(["rsync", "-rlpti", source + "/", target + "/"])
            try expectSuccess(again)
            #expect(again.stdout.isEmpty, "sizes, times and modes round-trip: \(again.stdout)")
            let checksum = try Command.run(["rsync", "-rlpti", "--checksum", source + "/", target + "/"])
            #expect(checksum.succeeded && checksum.stdout.isEmpty, "\(checksum)")

            let changed = tree.files[3]
            try Files.write(source + "/" + changed.path, TestData.random(4321), mode: changed.mode)
            let update = try Command.run(["rsync", "-rlpti", source + "/", target + "/"])
            try expectSuccess(update)
            #expect(update.lines.filter { $0.hasPrefix(">f") }.map { String($0.split(separator: " ").last ?? "") } == [changed.path],
                    "only the changed file is sent: \(update.stdout)")
            try expectSuccess(Command.run(["diff", "-r", source, target]))

            let asDistrict = fs.upload(.alpha) + "/by-district"
            try expectSuccess(Command.run(["rsync", "-rt", source + "/", asDistrict + "/"], as: District.alpha.identity))
            try expectSuccess(Command.run(["diff", "-r", source, asDistrict]))
            #expect(attributes(of: asDistrict + "/" + tree.files[0].path)?.st_uid == District.alpha.uid)
        }
    }
}

private func expectSuccess(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(result.succeeded, "\(result)", sourceLocation: sourceLocation)
    if !result.succeeded { throw CommandError(description: result.description) }
}

/// A tree of random files of awkward sizes, modes and old timestamps, on a plain directory.
struct SourceTree {
    struct File {
        let path: String
        let data: [UInt8]
        let mode: mode_t
        let modified: timespec
    }

    let files: [File]
    let directories: [String]
    let owner: District

    /// Modes have group read and no group write, which the mount shows unchanged.
    init(at root: String, owner: District) throws {
        self.owner = owner
        directories = ["data", "data/nested", "data/nested/deeper", "empty", "logs"]
        let sizes = [0, 1, 4095, 4096, 4097, 65539, (1 << 20) + 5, (3 << 20) + 7]
        let modes: [mode_t] = [0o640, 0o644, 0o755, 0o444]
        var files = [File]()
        for (index, size) in sizes.enumerated() {
            let directory = ["data", "data/nested", "data/nested/deeper", "logs"][index % 4]
            let modified = timespec(tv_sec: 1_700_000_000 + index * 86_400, tv_nsec: 123_456_000 * (index + 1) % 1_000_000_000)
            files.append(File(path: "\(directory)/file-\(index).csv", data: TestData.random(size), mode: modes[index % modes.count], modified: modified))
        }
        self.files = files

        try Files.mkdir(root)
        for directory in directories { try Files.mkdir(root + "/" + directory, mode: 0o750) }
        for file in files {
            try Files.write(root + "/" + file.path, file.data)
            try sys("chmod") { chmod(root + "/" + file.path, file.mode) }
            try Files.setTimes(root + "/" + file.path, access: file.modified, modification: file.modified)
        }
        let result = try Command.run(["chown", "-R", "\(owner.uid):\(owner.gid)", root])
        guard result.succeeded else { throw CommandError(description: "\(result)") }
    }

    /// The tree at `root` has the same names, content, modes, mtimes and (optionally) owner.
    func expectSame(at root: String, checkOwner: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let found = try Files.regularFiles(under: root)
        #expect(Set(found) == Set(files.map(\.path)), sourceLocation: sourceLocation)
        for file in files {
            let path = root + "/" + file.path
            let st = try Files.stat(path)
            expectBytes(try Files.read(path), file.data, "\(file.path)", sourceLocation: sourceLocation)
            #expect(st.st_size == file.data.count, "size of \(file.path)", sourceLocation: sourceLocation)
            #expect(st.st_mode == S_IFREG | file.mode, "mode of \(file.path): \(String(st.st_mode, radix: 8))", sourceLocation: sourceLocation)
            #expect(st.st_mtim.nanoseconds == file.modified.nanoseconds, "mtime of \(file.path): \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)", sourceLocation: sourceLocation)
            if checkOwner {
                #expect(st.st_uid == owner.uid, "owner of \(file.path)", sourceLocation: sourceLocation)
            }
        }
        for directory in directories {
            #expect(attributes(of: root + "/" + directory)?.st_mode == S_IFDIR | 0o750, "mode of \(directory)/", sourceLocation: sourceLocation)
        }
    }
}
