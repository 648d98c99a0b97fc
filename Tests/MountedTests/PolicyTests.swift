import Glibc
import Testing

/// What EpochFS adds to POSIX, seen by root: the tree's shape, what policy refuses, and how
/// modes, owners and groups are presented.
@Suite("Tree and policy", .serialized, .requiresMount)
struct PolicyTests {
    @Test("the tree: /, districts, upload and upload-processed")
    func treeShape() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let root = try Files.stat(fs.mountpoint)
            #expect(root.st_mode == S_IFDIR | 0o755)
            #expect(root.st_uid == 0 && root.st_gid == 0)
            #expect(names(in: fs.mountpoint)?.sorted() == ["alpha", "beta"])

            for district in [District.alpha, .beta] {
                let top = try Files.stat(fs.root(district))
                #expect(top.st_mode == S_IFDIR | 0o755, "\(district)/")
                #expect(top.st_uid == 0 && top.st_gid == 0, "\(district)/ is root:root")
                #expect(names(in: fs.root(district))?.sorted() == ["upload", "upload-processed"])

                let upload = try Files.stat(fs.upload(district))
                #expect(upload.st_mode == S_IFDIR | 0o750, "\(district)/upload/")
                #expect(upload.st_uid == district.uid, "\(district)/upload/ belongs to the district")
                #expect(upload.st_gid == Identity.staffGroup, "\(district)/upload/ has the staff group")

                let processed = try Files.stat(fs.processed(district))
                #expect(processed.st_mode == S_IFDIR | 0o550, "\(district)/upload-processed/ is read-only and private")
                #expect(processed.st_uid == district.uid, "\(district)/upload-processed/ is shown as the district's")
                #expect(processed.st_gid == Identity.staffGroup, "\(district)/upload-processed/ has the staff group")
            }
        }
    }

    @Test("nothing is created in / or /<district>/, even by root; existing names give EEXIST")
    func fixedLevels() throws {
        try withMount { fs in
            for directory in [fs.mountpoint, fs.root(.alpha)] {
                #expect(errnoOf { mkdir(directory + "/new", 0o755) } == .EPERM, "mkdir in \(directory)")
                #expect(openErrno(directory + "/new", O_WRONLY | O_CREAT) == .EPERM, "create in \(directory)")
                #expect(statErrno(directory + "/new") == .ENOENT)
            }
            #expect(errnoOf { mkdir(fs.root(.alpha), 0o755) } == .EEXIST)
            #expect(errnoOf { mkdir(fs.upload(.alpha), 0o755) } == .EEXIST)
            #expect(errnoOf { mkdir(fs.processed(.alpha), 0o755) } == .EEXIST)

            let file = fs.upload(.alpha) + "/file"
            try Files.write(file, [1, 2, 3])
            let moved = errnoOf { rename(file, fs.root(.alpha) + "/file") }
            #expect(moved == .EPERM || moved == .EXDEV, "rename into /alpha/ is refused: \(String(describing: moved))")
            #expect(Files.exists(file))
            #expect(names(in: fs.root(.alpha))?.sorted() == ["upload", "upload-processed"])
        }
    }

    @Test("root works inside upload-processed")
    func rootInProcessed() throws {
        try withMount { fs in
            let epoch = fs.processed(.alpha) + "/1764374400"
            try Files.mkdir(epoch)
            let data = TestData.random(5000)
            try Files.write(epoch + "/students.csv", data)
            expectBytes(try Files.read(epoch + "/students.csv"), data, "file in upload-processed")
            try sys("unlink") { unlink(epoch + "/students.csv") }
            try sys("rmdir") { rmdir(epoch) }
            #expect(names(in: fs.processed(.alpha)) == [])
        }
    }

    @Test("link, symlink and mknod: EPERM")
    func refusedNodes() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha)
            try Files.write(directory + "/file", [1])
            #expect(errnoOf { link(directory + "/file", directory + "/hard") } == .EPERM)
            #expect(errnoOf { symlink("file", directory + "/soft") } == .EPERM)
            #expect(errnoOf { symlink("/etc/passwd", directory + "/escape") } == .EPERM)
            #expect(errnoOf { mknod(directory + "/fifo", S_IFIFO | 0o644, 0) } == .EPERM)
            #expect(errnoOf { mknod(directory + "/null", S_IFCHR | 0o666, 0x103) } == .EPERM)
            #expect(errnoOf { mknod(directory + "/disk", S_IFBLK | 0o666, 0x800) } == .EPERM)
            #expect(names(in: directory) == ["file"])
        }
    }

    /// `café` in Latin-1 and `cafë` in Latin-1 would both be `caf\u{FFFD}` as text: one inode
    /// under two names.
    @Test("names that are not UTF-8: EILSEQ, for every call that takes a name")
    func namesThatAreNotUTF8() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha)
            func raw(_ name: [UInt8]) -> [CChar] { (Array((directory + "/").utf8) + name + [0]).map { CChar(bitPattern: $0) } }
            let cafe = raw(Array("caf".utf8) + [0xE9])
            let cafeOther = raw(Array("caf".utf8) + [0xEB])
            #expect(errnoOf { mkdir(cafe, 0o755) } == .EILSEQ)
            #expect(errnoOf { open(cafe, O_WRONLY | O_CREAT, 0o644) } == .EILSEQ)
            #expect(errnoOf { open(cafeOther, O_RDONLY) } == .EILSEQ)
            try Files.write(directory + "/file", [1])
            #expect(errnoOf { rename(directory + "/file", cafe) } == .EILSEQ)
            #expect(errnoOf { unlink(cafe) } == .EILSEQ)
            #expect(errnoOf { rmdir(cafe) } == .EILSEQ)
            #expect(names(in: directory) == ["file"])
            // UTF-8 names, accents included, are names like any other.
            try Files.write(directory + "/café", [2])
            #expect(names(in: directory)?.sorted() == ["café", "file"])
        }
    }

    @Test("setuid, setgid and sticky bits are cleared on chmod, create and mkdir")
    func setIDBits() throws {
        try withMount { fs in
            let file = fs.upload(.alpha) + "/tool"
            try Files.write(file, [1], mode: 0o755)
            for mode: mode_t in [0o4755, 0o2755, 0o6755, 0o1755] {
                try sys("chmod \(String(mode, radix: 8))") { chmod(file, mode) }
                #expect(attributes(of: file)?.permissions == 0o755, "after chmod \(String(mode, radix: 8))")
            }
            let created = fs.upload(.alpha) + "/created"
            try OpenFile(created, O_WRONLY | O_CREAT | O_EXCL, mode: 0o6755).close()
            #expect(attributes(of: created).map { $0.st_mode & (S_ISUID | S_ISGID) } == 0, "create with 06755")
            let directory = fs.upload(.alpha) + "/dir"
            try Files.mkdir(directory, mode: 0o2755)
            #expect(attributes(of: directory).map { $0.st_mode & (S_ISUID | S_ISGID) } == 0, "mkdir with 02755")
            // No sticky directory: below upload/ only the district and root write, so it would
            // protect nobody's entries from anybody (pjdfstest rmdir/11 and unlink/11 expect it).
            let sticky = fs.upload(.alpha) + "/sticky"
            try Files.mkdir(sticky, mode: 0o1755)
            #expect(attributes(of: sticky).map { $0.st_mode & S_ISVTX } == 0, "mkdir with 01755")
            try sys("chmod 01777") { chmod(directory, 0o1777) }
            #expect(attributes(of: directory)?.permissions == 0o757, "chmod 01777 (group write is never shown)")
        }
    }

    @Test("below a district: staff group, group read forced on, group write never shown")
    func presentedModes() throws {
        try withMount { fs in
            let file = fs.upload(.alpha) + "/file", directory = fs.upload(.alpha) + "/dir"
            try Files.write(file, [1])
            try Files.mkdir(directory)
            for (mode, shown) in [(0o600, 0o640), (0o666, 0o646), (0o700, 0o740), (0o000, 0o040)] as [(mode_t, mode_t)] {
                try sys("chmod") { chmod(file, mode) }
                let st = try Files.stat(file)
                #expect(st.st_mode & 0o7777 == shown, "file chmod \(String(mode, radix: 8)) shows \(String(st.st_mode & 0o7777, radix: 8))")
            }
            for (mode, shown) in [(0o700, 0o750), (0o777, 0o757), (0o755, 0o755)] as [(mode_t, mode_t)] {
                try sys("chmod") { chmod(directory, mode) }
                let st = try Files.stat(directory)
                #expect(st.st_mode & 0o7777 == shown, "directory chmod \(String(mode, radix: 8)) shows \(String(st.st_mode & 0o7777, radix: 8))")
            }
            for path in [file, directory] {
                let st = try Files.stat(path)
                #expect(st.st_uid == 0, "created by root")
                #expect(st.st_gid == Identity.staffGroup, "\(path) has the staff group")
            }
        }
    }

    @Test("the mode of upload/ is fixed, also for root")
    func uploadModeFixed() throws {
        try withMount { fs throws in
            #expect(errnoOf { chmod(fs.upload(.alpha), 0o700) } == .EPERM)
            #expect(errnoOf { chmod(fs.upload(.alpha), 0o777) } == .EPERM)
            #expect(attributes(of: fs.upload(.alpha))?.st_mode == S_IFDIR | 0o750)
        }
    }

    @Test("rename across districts, or between upload and upload-processed: EXDEV")
    func crossZoneRename() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(epoch)
            try Files.write(epoch + "/file", [1, 2])
            try Files.mkdir(fs.processed(.alpha) + "/done")
            try Files.write(fs.processed(.alpha) + "/done/log", [3])

            #expect(errnoOf { rename(epoch + "/file", fs.upload(.beta) + "/file") } == .EXDEV)
            #expect(errnoOf { rename(epoch, fs.upload(.beta) + "/1764374400") } == .EXDEV)
            #expect(errnoOf { LinuxCalls.renameat2(epoch + "/file", fs.upload(.beta) + "/f", RENAME_NOREPLACE) } == .EXDEV)
            #expect(errnoOf { rename(epoch, fs.processed(.alpha) + "/1764374400") } == .EXDEV)
            #expect(errnoOf { rename(epoch + "/file", fs.processed(.alpha) + "/done/file") } == .EXDEV)
            #expect(errnoOf { rename(fs.processed(.alpha) + "/done", fs.upload(.alpha) + "/done") } == .EXDEV)
            #expect(errnoOf { rename(fs.processed(.alpha) + "/done/log", fs.processed(.beta) + "/log") } == .EXDEV)
            #expect(Files.exists(epoch + "/file"))
            #expect(Files.exists(fs.processed(.alpha) + "/done/log"))
            #expect(names(in: fs.upload(.beta)) == [])
        }
    }

    @Test("inode numbers are not reused")
    func inodesNotReused() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha)
            var seen = Set<UInt>()
            for round in 0..<3 {
                for index in 0..<20 {
                    let path = directory + "/f\(index)"
                    try Files.write(path, [UInt8(index)])
                    let inode = UInt(try Files.stat(path).st_ino)
                    #expect(!seen.contains(inode), "round \(round): inode \(inode) reused")
                    seen.insert(inode)
                }
                for index in 0..<20 { try sys("unlink") { unlink(directory + "/f\(index)") } }
            }
        }
    }

    @Test("statfs reports the store's disk")
    func statfsMatchesStore() throws {
        try withMount { fs in
            var mounted = statvfs(), store = statvfs()
            try sys("statvfs mount") { statvfs(fs.mountpoint, &mounted) }
            try sys("statvfs store") { statvfs(fs.store, &store) }
            let total = Double(mounted.f_blocks) * Double(mounted.f_frsize)
            let storeTotal = Double(store.f_blocks) * Double(store.f_frsize)
            #expect(abs(total - storeTotal) <= storeTotal * 0.01, "total \(total) vs store's \(storeTotal)")
            let available = Double(mounted.f_bavail) * Double(mounted.f_frsize)
            let storeAvailable = Double(store.f_bavail) * Double(store.f_frsize)
            #expect(abs(available - storeAvailable) <= max(storeTotal * 0.01, 512 * 1024 * 1024),
                    "available \(available) vs store's \(storeAvailable)")
            let free = Double(mounted.f_bfree) * Double(mounted.f_frsize)
            #expect(free >= available)
            #expect(mounted.f_namemax == 255)
        }
    }
}
