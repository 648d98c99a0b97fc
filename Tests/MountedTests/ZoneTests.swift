import Glibc
import Testing

/// Who may do what, as the kernel and the daemon decide it for real callers: a district (uid
/// 5001), another district (5011), a staff member (5002, staff group supplementary), an outsider.
@Suite("Zones and permissions", .serialized, .requiresMount)
struct ZoneTests {
    let alpha = District.alpha.identity
    let beta = District.beta.identity
    /// The district's uid, also in group 6000, so that the kernel lets it chgrp its files to 6000.
    let alphaInGroup = Identity(uid: District.alpha.uid, gid: District.alpha.gid, groups: [6000])

    @Test("a district writes under its upload/, and new files belong to it")
    func districtWritesInUpload() throws {
        try withMount { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            let text = TestData.randomText(5000)
            #expect(alpha.attempt(.mkdir(epoch)) == nil)
            #expect(alpha.attempt(.write(epoch + "/students.csv", text, mode: 0o600)) == nil)
            #expect(alpha.output(.read(epoch + "/students.csv")) == text)
            #expect(alpha.attempt(.rename(epoch + "/students.csv", epoch + "/students.csv.done")) == nil)
            #expect(alpha.attempt(.write(epoch + "/more.csv.part", "x")) == nil)
            #expect(alpha.attempt(.truncate(epoch + "/more.csv.part", 0)) == nil)
            #expect(alpha.attempt(.touch(epoch + "/more.csv.part")) == nil)
            #expect(alpha.attempt(.unlink(epoch + "/more.csv.part")) == nil)

            for path in [epoch, epoch + "/students.csv.done"] {
                let st = try Files.stat(path)
                #expect(st.st_uid == District.alpha.uid, "\(path) belongs to the caller")
                #expect(st.st_gid == Identity.staffGroup, "\(path) shows the staff group")
            }
            #expect(attributes(of: epoch + "/students.csv.done")?.permissions == 0o640, "0600 shown with group read")
        }
    }

    @Test("a district cannot write outside its upload/")
    func districtConfined() throws {
        try withMount { fs in
            let processedEpoch = fs.processed(.alpha) + "/1764374400"
            try Files.mkdir(processedEpoch)
            try Files.write(processedEpoch + "/result.log", Array("ok\n".utf8))
            try Files.write(fs.upload(.alpha) + "/mine", [1])

            #expect(alpha.attempt(.mkdir(fs.path("new"))) == .EACCES)
            #expect(alpha.attempt(.write(fs.path("new"), "x")) == .EACCES)
            #expect(alpha.attempt(.mkdir(fs.root(.alpha) + "/new")) == .EACCES)
            #expect(alpha.attempt(.write(fs.root(.alpha) + "/new", "x")) == .EACCES)
            #expect(alpha.attempt(.mkdir(fs.processed(.alpha) + "/new")) == .EACCES)
            #expect(alpha.attempt(.write(fs.processed(.alpha) + "/new", "x")) == .EACCES)
            #expect(alpha.attempt(.write(processedEpoch + "/new", "x")) == .EACCES)
            #expect(alpha.attempt(.write(processedEpoch + "/result.log", "x", flags: O_WRONLY)) == .EACCES)
            #expect(alpha.attempt(.truncate(processedEpoch + "/result.log", 0)) == .EACCES)
            #expect(alpha.attempt(.unlink(processedEpoch + "/result.log")) == .EACCES)
            #expect(alpha.attempt(.rmdir(processedEpoch)) == .EACCES)
            #expect(alpha.attempt(.chmod(processedEpoch + "/result.log", 0o666)) == .EPERM)
            let moved = alpha.attempt(.rename(processedEpoch, fs.upload(.alpha) + "/stolen"))
            #expect(moved == .EACCES || moved == .EXDEV, "rename out of upload-processed: \(String(describing: moved))")
            let escaped = alpha.attempt(.rename(fs.upload(.alpha) + "/mine", fs.root(.alpha) + "/mine"))
            #expect(escaped == .EACCES || escaped == .EXDEV, "rename out of upload/: \(String(describing: escaped))")
            #expect(alpha.attempt(.rename(fs.upload(.alpha), fs.root(.alpha) + "/renamed")) == .EACCES)
            #expect(alpha.attempt(.rmdir(fs.upload(.alpha))) == .EACCES)

            #expect(alpha.output(.read(processedEpoch + "/result.log")) == "ok\n", "upload-processed is readable")
            #expect(names(in: fs.root(.alpha))?.sorted() == ["upload", "upload-processed"])
            #expect(names(in: fs.processed(.alpha)) == ["1764374400"])
            #expect(names(in: processedEpoch) == ["result.log"])
        }
    }

    @Test("mkdir of an existing name is EEXIST, even where the caller could not create it")
    func existingNames() throws {
        try withMount { fs throws in
            #expect(alpha.attempt(.mkdir(fs.upload(.alpha))) == .EEXIST)
            #expect(alpha.attempt(.mkdir(fs.processed(.alpha))) == .EEXIST)
            #expect(alpha.attempt(.mkdir(fs.root(.alpha))) == .EEXIST)
            #expect(Identity.outsider.attempt(.mkdir(fs.root(.alpha))) == .EEXIST)
        }
    }

    @Test("a district cannot change the mode or owner of upload/")
    func uploadFixed() throws {
        try withMount { fs in
            #expect(alpha.attempt(.chmod(fs.upload(.alpha), 0o700)) == .EPERM)
            #expect(alpha.attempt(.chmod(fs.upload(.alpha), 0o777)) == .EPERM)
            #expect(alphaInGroup.attempt(.chown(fs.upload(.alpha), uid: -1, gid: 6000)) == .EPERM)
            let st = try Files.stat(fs.upload(.alpha))
            #expect(st.st_mode == S_IFDIR | 0o750)
            #expect(st.st_uid == District.alpha.uid && st.st_gid == Identity.staffGroup)
        }
    }

    @Test("chown by anyone but root: EPERM; root may")
    func chown() throws {
        try withMount { fs in
            let path = fs.upload(.alpha) + "/file"
            try alpha.must(.write(path, "data"))
            #expect(alpha.attempt(.chown(path, uid: Int(District.beta.uid), gid: -1)) == .EPERM)
            #expect(alphaInGroup.attempt(.chown(path, uid: -1, gid: 6000)) == .EPERM, "chgrp to a group of its own")
            #expect(Identity.staff.attempt(.chown(path, uid: -1, gid: Int(Identity.staffGroup))) == .EPERM)
            #expect(attributes(of: path)?.st_uid == District.alpha.uid)

            try sys("chown by root") { Glibc.chown(path, 5099, 5099) }
            #expect(attributes(of: path)?.st_uid == 5099)
        }
    }

    @Test("no links, symlinks, device nodes or setuid bits for a district")
    func districtPolicy() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha)
            try alpha.must(.write(directory + "/tool", "#!/bin/sh\n", mode: 0o755))
            #expect(alpha.attempt(.link(directory + "/tool", directory + "/hard")) == .EPERM)
            #expect(alpha.attempt(.symlink("/", directory + "/escape")) == .EPERM)
            #expect(alpha.attempt(.mkfifo(directory + "/fifo")) == .EPERM)
            #expect(alpha.attempt(.chmod(directory + "/tool", 0o4755)) == nil)
            #expect(attributes(of: directory + "/tool")?.permissions == 0o755, "setuid cleared")
            #expect(alpha.attempt(.chmod(directory + "/tool", 0o2755)) == nil)
            #expect(attributes(of: directory + "/tool")?.permissions == 0o755, "setgid cleared")
            #expect(names(in: directory) == ["tool"])
        }
    }

    @Test("districts cannot see each other")
    func districtsIsolated() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            try beta.must(.write(fs.upload(.beta) + "/secret", "beta data"))
            #expect(alpha.attempt(.list(fs.upload(.beta))) == .EACCES)
            #expect(alpha.attempt(.read(fs.upload(.beta) + "/secret")) == .EACCES)
            #expect(alpha.attempt(.write(fs.upload(.beta) + "/planted", "x")) == .EACCES)
            #expect(alpha.attempt(.unlink(fs.upload(.beta) + "/secret")) == .EACCES)
            #expect(beta.attempt(.list(fs.upload(.alpha))) == .EACCES)
            #expect(alpha.output(.list(fs.mountpoint)) == "alpha\nbeta\n")
            #expect(names(in: fs.upload(.beta)) == ["secret"])
        }
    }

    @Test("staff list and read everything, even 0600 files, and write nothing")
    func staffReadOnly() throws {
        try withMount { fs in
            let staff = Identity.staff
            let epoch = fs.upload(.alpha) + "/1764374400"
            let text = TestData.randomText(10_000)
            try alpha.must(.mkdir(epoch, mode: 0o700))
            try alpha.must(.write(epoch + "/students.csv", text, mode: 0o600))
            try Files.mkdir(fs.processed(.alpha) + "/1764300000")
            try Files.write(fs.processed(.alpha) + "/1764300000/result.log", Array("fine\n".utf8), mode: 0o600)

            #expect(staff.output(.list(fs.mountpoint)) == "alpha\n")
            #expect(staff.output(.list(fs.upload(.alpha))) == "1764374400\n")
            #expect(staff.output(.list(epoch)) == "students.csv\n")
            #expect(staff.output(.read(epoch + "/students.csv")) == text)
            #expect(staff.output(.read(fs.processed(.alpha) + "/1764300000/result.log")) == "fine\n")

            #expect(staff.attempt(.write(epoch + "/students.csv", "x", flags: O_WRONLY)) == .EACCES)
            #expect(staff.attempt(.write(epoch + "/students.csv", "x", flags: O_WRONLY | O_APPEND)) == .EACCES)
            #expect(staff.attempt(.truncate(epoch + "/students.csv", 0)) == .EACCES)
            #expect(staff.attempt(.write(epoch + "/new", "x")) == .EACCES)
            #expect(staff.attempt(.mkdir(fs.upload(.alpha) + "/new")) == .EACCES)
            #expect(staff.attempt(.unlink(epoch + "/students.csv")) == .EACCES)
            #expect(staff.attempt(.rename(epoch + "/students.csv", epoch + "/renamed")) == .EACCES)
            #expect(staff.attempt(.chmod(epoch + "/students.csv", 0o644)) == .EPERM)
            #expect(staff.attempt(.write(fs.processed(.alpha) + "/new", "x")) == .EACCES)
            #expect(staff.attempt(.unlink(fs.processed(.alpha) + "/1764300000/result.log")) == .EACCES)
            expectBytes(try Files.read(epoch + "/students.csv"), Array(text.utf8), "the district's file is untouched")

            let listing = try Command.run(["ls", "-ln", epoch], as: staff)
            #expect(listing.succeeded, "\(listing)")
            let fields = listing.lines.last?.split(separator: " ").map(String.init) ?? []
            #expect(fields.count >= 9, "\(listing)")
            if fields.count >= 9 {
                #expect(fields[0] == "-rw-r-----")
                #expect(fields[2] == String(District.alpha.uid))
                #expect(fields[3] == String(Identity.staffGroup))
                #expect(fields[4] == String(text.utf8.count))
                #expect(fields[8] == "students.csv")
            }
        }
    }

    @Test("an outsider sees the districts' names and nothing inside them, whatever modes were sent")
    func outsiderLockedOut() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try alpha.must(.write(fs.upload(.alpha) + "/file", "data", mode: 0o644))
            try alpha.must(.mkdir(epoch, mode: 0o777))
            try alpha.must(.write(epoch + "/students.csv", "data", mode: 0o666))
            // What a published epoch holds: the uploader's modes, and root's inserted log.
            let published = fs.processed(.alpha) + "/1764300000"
            try Files.mkdir(published, mode: 0o755)
            try Files.write(published + "/students.csv", Array("data".utf8), mode: 0o644)
            try Files.write(published + "/processing-succeeded.log", Array("ok\n".utf8), mode: 0o644)

            let zones = [fs.upload(.alpha), epoch, fs.processed(.alpha), published]
            let files = [fs.upload(.alpha) + "/file", epoch + "/students.csv", published + "/students.csv",
                         published + "/processing-succeeded.log"]
            for stranger in [Identity.outsider, beta] {
                #expect(stranger.output(.list(fs.mountpoint)) == "alpha\nbeta\n")
                #expect(stranger.output(.list(fs.root(.alpha))) == "upload\nupload-processed\n")
                for zone in zones {
                    #expect(stranger.attempt(.list(zone)) == .EACCES, "\(stranger) lists \(zone)")
                    #expect(stranger.attempt(.write(zone + "/new", "x")) == .EACCES, "\(stranger) writes in \(zone)")
                }
                for file in files {
                    #expect(stranger.attempt(.read(file)) == .EACCES, "\(stranger) reads \(file)")
                    #expect(stranger.attempt(.stat(file)) == .EACCES, "\(stranger) stats \(file)")
                }
                #expect(stranger.attempt(.mkdir(fs.path("new"))) == .EACCES)
            }
            // The district itself still lists and reads all of it, its results included.
            #expect(alpha.output(.list(fs.processed(.alpha))) == "1764300000\n")
            #expect(alpha.output(.read(published + "/students.csv")) == "data")
            #expect(alpha.output(.read(published + "/processing-succeeded.log")) == "ok\n")
            #expect(alpha.attempt(.write(published + "/new", "x")) == .EACCES)
        }
    }
}
