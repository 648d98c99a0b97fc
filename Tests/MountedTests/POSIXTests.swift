import Glibc
import Testing

@Suite("POSIX check list", .serialized, .requiresMount)
struct POSIXTests {
    /// Each check on a mount of its own, as root, inside an epoch directory of a district's upload.
    @Test("on the mount", arguments: POSIXCheck.all)
    func onTheMount(check: POSIXCheck) throws {
        try withMount { fs in
            let directory = fs.upload(.alpha) + "/1764374400"
            try Files.mkdir(directory)
            try check.run(directory)
        }
    }

    /// The same checks on the disk the store lives on: a check that fails here is wrong itself.
    @Test("on a plain directory", arguments: POSIXCheck.all)
    func onAPlainDirectory(check: POSIXCheck) throws {
        try withTestDirectory { scratch in
            let directory = scratch.path + "/check"
            try Files.mkdir(directory)
            try check.run(directory)
        }
    }
}
