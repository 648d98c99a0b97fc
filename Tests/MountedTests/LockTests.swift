import Foundation
import Glibc
import Testing

/// Long work on one district's file holds up no one else: no disk I/O of a whole file runs
/// under a lock that another request waits for (see docs/architecture.md, "Concurrency").
@Suite("Locks across I/O", .serialized, .requiresMount)
struct LockTests {
    /// Shell functions: `syscall PID` prints the system call process PID is in (its number,
    /// x86-64: 1 write, 3 close); `await PID N` waits up to 5 s until it is in call N.
    static let syscalls = """
        syscall() { cut -d' ' -f1 /proc/$1/syscall 2>/dev/null; }
        await() { for i in $(seq 1000); do [ "$(syscall $1)" = "$2" ] && return; sleep 0.005; done; }

        """

    @Test("While a close hashes a 2 GiB file, the file can be opened and read")
    func hashingAtCloseHoldsUpNobody() throws {
        try withMount(districts: [.alpha, .beta]) { fs in
            let file = fs.upload(.alpha) + "/sparse.bin"
            let alpha = "setpriv --reuid=\(District.alpha.uid) --regid=\(District.alpha.gid) --clear-groups --"
            let beta = "setpriv --reuid=\(District.beta.uid) --regid=\(District.beta.gid) --clear-groups --"
            // truncate's close publishes the file: it hashes 2 GiB (of holes) before close()
            // returns. Once truncate is inside close() (syscall 3), others open and read.
            let script = Self.syscalls + """
                \(alpha) truncate -s 2G \(shellQuote(file)) &
                closer=$!
                await $closer 3
                echo "before: $(syscall $closer)"
                \(alpha) head -c 1 \(shellQuote(file)) | wc -c
                \(beta) sh -c 'printf x > \(fs.upload(.beta))/other && cat \(fs.upload(.beta))/other' && echo
                echo "after: $(syscall $closer)"
                wait $closer
                """
            let result = try Command.sh(script, timeout: 120)
            #expect(result.succeeded, "\(result)")
            #expect(result.stdout.contains("before: 3\n"), "truncate was closing: \(result)")
            #expect(result.stdout.contains("1\nx\nafter: 3\n"),
                    "the open, the read and another district's upload were served while the close was still hashing: \(result)")
            #expect(getxattrErrno(file, "user.sha256") == nil, "the file was published")
        }
    }

    @Test("While an append copies a published 1 GiB file (copy-on-write), the file can be opened and read",
          .disabled(if: MountFixture.runArguments.contains("--no-passthrough"),
                    "through the writeback cache the copy happens when the page is written back, which no syscall of the writer shows"))
    func copyOnWriteHoldsUpNobody() throws {
        try withMount { fs in
            let file = fs.upload(.alpha) + "/published.bin"
            let alpha = "setpriv --reuid=\(District.alpha.uid) --regid=\(District.alpha.gid) --clear-groups --"
            try District.alpha.identity.must(.write(file, "x"))
            #expect(try Command.sh("\(alpha) truncate -s 1G \(shellQuote(file))").succeeded)
            #expect(getxattrErrno(file, "user.sha256") == nil, "the file is published: an append copies it")
            // The append's first write copies the blob into a staging file (write(2) is syscall 1).
            let script = Self.syscalls + """
                \(alpha) sh -c 'printf y >> \(file)' &
                writer=$!
                await $writer 1
                echo "before: $(syscall $writer)"
                \(alpha) head -c 1 \(shellQuote(file))
                echo
                echo "after: $(syscall $writer)"
                wait $writer
                """
            let result = try Command.sh(script, timeout: 120)
            #expect(result.succeeded, "\(result)")
            #expect(result.stdout.contains("before: 1\n"), "the append was copying: \(result)")
            #expect(result.stdout.contains("x\nafter: 1\n"), "the open and the read were served during the copy: \(result)")
            #expect(try Files.stat(file).st_size == (1 << 30) + 1)
        }
    }
}
