import Foundation
import Glibc
import Testing

/// A district's quota as its SFTP client meets it.
@Suite("SFTP quotas", .serialized, .requiresSSH)
struct SFTPQuotaTests {
    @Test("OpenSSH sftp: an upload past the quota fails mid-file and says so; df shows the quota; more room lets reput finish it")
    func uploadPastTheQuota() throws {
        try withSSH { ssh in
            let district = ssh.districts[0]
            let set = try ssh.mount.epochfs(["district", "set", district.name, "--quota-bytes", "6M", "--store", ssh.mount.store])
            #expect(set.succeeded, "\(set)")
            let local = try LocalFiles(ssh, [("first.bin", 4 << 20), ("second.bin", 4 << 20)])
            let epoch = "/upload/2026-11-30T020000"
            let upload = try ssh.sftp(district, [
                "mkdir \(epoch)",
                "put \(local.path("first.bin")) \(epoch)/first.bin",
                "put \(local.path("second.bin")) \(epoch)/second.bin",
            ])
            #expect(!upload.succeeded, "the second file does not fit: \(upload)")
            #expect(upload.stderr.contains("second.bin"), "the client names the file that failed: \(upload.stderr)")

            let onMount = ssh.upload(district) + "/2026-11-30T020000"
            #expect(sha256Attribute(of: onMount + "/first.bin") == local.sha256("first.bin"), "the file that fit is whole")
            let cut = try Files.stat(onMount + "/second.bin").st_size
            #expect(cut == 2 << 20, "the refused file holds exactly what fit (\(cut) bytes)")
            #expect(getxattrErrno(onMount + "/second.bin", "user.sha256") == .ENODATA, "and is not a finished upload")

            // The district sees its quota with df (sftp prints KiB: size, used, available).
            let df = try ssh.sftp(district, ["df"])
            let figures = df.lines.last?.split(separator: " ").compactMap { Int64($0) } ?? []
            #expect(figures.first == 6144, "df inside the chroot shows the 6 MiB quota: \(df)")

            // Staff raise the quota; the district resumes the upload where it stopped.
            let raised = try ssh.mount.epochfs(["district", "set", district.name, "--quota-bytes", "16M", "--store", ssh.mount.store])
            #expect(raised.succeeded, "\(raised)")
            let resumed = try ssh.sftp(district, ["reput \(local.path("second.bin")) \(epoch)/second.bin"])
            #expect(resumed.succeeded, "\(resumed)\n\(ssh.logTail())")
            #expect(sha256Attribute(of: onMount + "/second.bin") == local.sha256("second.bin"), "reput completed the file")
            let row = try ssh.mount.districtRow(district.name)
            #expect(row["UPLOAD_FILES"] == "3" && row["UPLOAD_BYTES"] == "\(8 << 20)", "an epoch and two files of 4 MiB: \(row)")
        }
    }
}
