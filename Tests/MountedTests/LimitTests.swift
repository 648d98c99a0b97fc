import Foundation
import Glibc
import Testing

/// The bounds a district meets through the kernel, whatever its clients send: the largest
/// file, the deepest directory, the files it may hold open.
@Suite("District limits", .serialized, .requiresMount)
struct LimitTests {
    let alpha = District.alpha.identity

    @Test("A file past the largest a district may have: EFBIG, for a sparse truncate as for a write")
    func largestFile() throws {
        try withMount(mountArguments: ["--max-file-size", "1M"]) { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try alpha.must(.mkdir(epoch))
            let giant = try Command.run(["/usr/bin/truncate", "-s", "8T", epoch + "/giant"], as: alpha)
            #expect(!giant.succeeded && giant.stderr.contains("File too large"), "\(giant)")
            #expect(try Files.stat(epoch + "/giant").st_size == 0, "a refused truncate changes nothing")

            let written = try Command.run(["/bin/dd", "if=/dev/zero", "of=\(epoch)/big.bin", "bs=256K", "count=8"], as: alpha)
            // Through the writeback cache (--no-passthrough) the refusal surfaces when the
            // pages are written back: at close, as EIO.
            let refusal = MountFixture.runArguments.contains("--no-passthrough") ? "Input/output error" : "File too large"
            #expect(!written.succeeded && written.stderr.contains(refusal), "\(written)")
            // (The kernel forgets its cached size of a refused write-back at the last close.)
            #expect(eventually(within: 10) { (try? Files.stat(epoch + "/big.bin").st_size) == 1 << 20 }, "the file holds what fit")
            #expect(getxattrErrno(epoch + "/big.bin", "user.sha256") == .ENODATA,
                    "a file cut short is not published as a finished upload")
        }
    }

    /// Times are nanoseconds since 1970 in an Int64 (1677 to 2262); `touch -d` can ask for
    /// far more. (ext4 clamps such a time; here it is refused.)
    @Test("A time beyond what the filesystem holds: EINVAL, and the mount serves on")
    func timeBeyondTheRange() throws {
        try withMount { fs in
            let file = fs.upload(.alpha) + "/file"
            #expect(try Command.run(["/usr/bin/touch", file], as: alpha).succeeded)
            for seconds in ["99999999999", "-99999999999"] {
                let touched = try Command.run(["/usr/bin/touch", "-d", "@" + seconds, file], as: alpha)
                #expect(!touched.succeeded && touched.stderr.contains("Invalid argument"), "\(touched)")
            }
            let late = try Command.run(["/usr/bin/touch", "-d", "@9000000000", file], as: alpha)
            #expect(late.succeeded, "2255 is within the range: \(late)")
            #expect(try Files.stat(file).st_mtim.tv_sec == 9_000_000_000)
        }
    }

    @Test("The default largest file refuses terabytes of holes")
    func defaultLargestFile() throws {
        try withMount { fs in
            let file = fs.upload(.alpha) + "/giant"
            let giant = try Command.run(["/usr/bin/truncate", "-s", "8T", file], as: alpha)
            #expect(!giant.succeeded && giant.stderr.contains("File too large"), "\(giant)")
            #expect(try Command.run(["/usr/bin/truncate", "-s", "1G", file], as: alpha).succeeded)
        }
    }

    @Test("Directories deeper than the limit: mkdir -p and a rename of a tree are refused")
    func deepestDirectory() throws {
        try withMount(mountArguments: ["--max-depth", "4"]) { fs in
            let upload = fs.upload(.alpha)
            #expect(try Command.run(["/bin/mkdir", "-p", upload + "/e/2/3/4"], as: alpha).succeeded)
            let deeper = try Command.run(["/bin/mkdir", "-p", upload + "/e/2/3/4/5"], as: alpha)
            #expect(!deeper.succeeded && deeper.stderr.contains("File name too long"), "\(deeper)")
            #expect(try Command.run(["/bin/mkdir", "-p", upload + "/f/2/3"], as: alpha).succeeded)
            let moved = try Command.run(["/bin/mv", upload + "/f/2", upload + "/e/2/3/"], as: alpha)
            #expect(!moved.succeeded, "\(moved)")
            #expect(Files.exists(upload + "/f/2/3"), "the refused move changed nothing")
        }
    }

    @Test("Started under a soft limit of 1,024 descriptors, the daemon raises it; a district holding its budget of open files gets EMFILE, and another district's upload goes on")
    func openFiles() throws {
        let budget = 1013
        try withMount(districts: [.alpha, .beta], mountArguments: ["--max-open-files", String(budget)],
                      launcher: ["/usr/bin/prlimit", "--nofile=1024:"]) { fs in
            let daemon = try #require(fs.daemon)
            let limits = String(decoding: try Files.read("/proc/\(daemon)/limits"), as: UTF8.self)
            let open = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?
                .split(separator: " ").compactMap { Int($0) } ?? []
            #expect(open.count == 2 && open[0] == open[1] && open[0] > 1024, "the soft limit is the hard one: \(open)")

            let epoch = fs.upload(.alpha) + "/1764374400"
            try alpha.must(.mkdir(epoch))
            let output = fs.directory.path + "/holder.out"
            // alpha holds its whole budget open (and one more try) while beta uploads.
            let holder = """
                import os, sys, time
                fds = [os.open(f"{sys.argv[1]}/f{i}", os.O_WRONLY | os.O_CREAT, 0o600) for i in range(\(budget))]
                try:
                    os.open(f"{sys.argv[1]}/over", os.O_WRONLY | os.O_CREAT, 0o600)
                    print("over: opened", flush=True)
                except OSError as error:
                    print(f"over: {error.errno}", flush=True)
                time.sleep(60)
                """
            let script = """
                setpriv --reuid=\(District.alpha.uid) --regid=\(District.alpha.gid) --clear-groups -- \
                    python3 -c \(shellQuote(holder)) \(shellQuote(epoch)) > \(output) 2>&1 &
                holder=$!
                for i in $(seq 300); do grep -q over: \(output) && break; sleep 0.1; done
                cat \(output)
                setpriv --reuid=\(District.beta.uid) --regid=\(District.beta.gid) --clear-groups -- \
                    sh -c 'mkdir \(fs.upload(.beta))/1764374400 && printf roster > \(fs.upload(.beta))/1764374400/students.csv' \
                    && echo beta: written
                kill -9 $holder; wait $holder 2>/dev/null
                true
                """
            let result = try Command.sh(script, timeout: 120)
            #expect(result.stdout.contains("over: \(EMFILE)"), "the district past its budget gets EMFILE: \(result)")
            #expect(result.stdout.contains("beta: written"), "another district is not affected: \(result)")
            #expect(getxattrErrno(fs.upload(.beta) + "/1764374400/students.csv", "user.sha256") == nil,
                    "beta's clean close published its file")
        }
    }
}
