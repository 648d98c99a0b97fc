import Foundation
import Glibc
import Testing

/// A nightly upload through stock sshd and OpenSSH sftp, from the first file to the published
/// epoch the district reads back.
@Suite("SFTP epochs", .serialized, .requiresSSH)
struct SFTPEpochTests {
    @Test("OpenSSH sftp: .filepart renames, a cut session resumed with reput, then the marker: published once, log readable over sftp")
    func nightlyUploadIsProcessed() throws {
        try withSSH(mountArguments: ["--settle-seconds", "3600"]) { ssh in
            let district = ssh.districts[0]
            let local = ssh.directory + "/set"
            try Files.mkdir(local)
            var students = "School_id,Student_id,Last_name,First_name\r\n"
            for n in 0..<400_000 { students += "S1,\(100_000 + n),Family\(n),Given\(n)\r\n" }
            let files = [
                ("schools.csv", "School_id,School_name,School_number\r\nS1,North High,001\r\n"),
                ("students.csv", students),
                ("teachers.csv", "School_id,Teacher_id,First_name,Last_name\r\nS1,T1,Dee,Park\r\n"),
                ("sections.csv", "School_id,Section_id,Teacher_id\r\nS1,SEC1,T1\r\n"),
                ("enrollments.csv", "School_id,Section_id,Student_id\r\nS1,SEC1,100000\r\n"),
            ]
            for (name, text) in files { try Files.write(local + "/" + name, Array(text.utf8)) }
            try Files.write(local + "/.done", [])
            let name = "20261129T020000Z"
            let epoch = ssh.upload(district) + "/" + name

            // WinSCP's way: each file under a temporary name, renamed when complete.
            let first = try ssh.sftp(district, ["mkdir /upload/\(name)", "cd /upload/\(name)"]
                + ["schools.csv", "teachers.csv", "sections.csv"].flatMap { ["put \(local)/\($0) \($0).filepart", "rename \($0).filepart \($0)"] })
            #expect(first.succeeded, "\(first)")

            // The big file's session is cut mid-transfer (1 MB/s, killed after 1 MB).
            let cut = try BackgroundProcess(
                ["/usr/bin/sftp", "-l", "8000", "-b", "-", "-P", String(ssh.port)] + ssh.sshOptions(district)
                    + ["\(district.name)@127.0.0.1"],
                input: "put \(local)/students.csv /upload/\(name)/students.csv\n")
            let started = eventually(within: 30) { ((try? Files.stat(epoch + "/students.csv"))?.st_size ?? 0) > 1 << 20 }
            cut.kill()
            #expect(started, "the upload began: \(ssh.logTail())")
            #expect(eventually(within: 20) { !SFTPClientTests.sessionRuns(district) }, "the cut session ended")
            // The sealer looks again once the session's close has reached the daemon.
            var waiting: CommandResult?
            let interrupted = try eventually(within: 10) {
                waiting = try ssh.mount.epochfs(["epochs", "show", "\(district.name)/\(name)", "--store", ssh.mount.store])
                return waiting?.stdout.contains("interrupted upload of students.csv") == true
            }
            #expect(interrupted, "\(String(describing: waiting))")

            // The client comes back: reput completes the file, the marker goes last.
            let second = try ssh.sftp(district, ["cd /upload/\(name)", "reput \(local)/students.csv students.csv", "put \(local)/enrollments.csv",
                                                 "put \(local)/.done"])
            #expect(second.succeeded, "\(second)")
            #expect(eventually(within: 30) { !Files.exists(epoch) }, "published; log:\n\(ssh.mount.logTail())")

            // The district sees the outcome in a plain listing and reads the log back.
            let back = ssh.directory + "/back"
            try Files.mkdir(back)
            let listing = try ssh.sftp(district, ["ls -1 /upload-processed/\(name)", "ls -1 /upload",
                                                  "get /upload-processed/\(name)/processing-succeeded.log \(back)/log",
                                                  "get /upload-processed/\(name)/SHA256SUMS \(back)/sums"])
            #expect(listing.succeeded, "\(listing)")
            #expect(listing.stdout.contains("processing-succeeded.log") && listing.stdout.contains("processing.json"), "\(listing.stdout)")
            let log = String(decoding: try Files.read(back + "/log"), as: UTF8.self)
            #expect(log.contains("students.csv") && log.contains("400,000 rows"), "\(log)")
            let sums = String(decoding: try Files.read(back + "/sums"), as: UTF8.self)
            #expect(sums.contains(TestData.sha256(Array(students.utf8)) + "  students.csv"), "\(sums)")
            // It cannot be changed from the district's side.
            let refused = try ssh.sftp(district, ["rm /upload-processed/\(name)/students.csv"])
            #expect(!refused.succeeded, "\(refused)")
        }
    }
}
