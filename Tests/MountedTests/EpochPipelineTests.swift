import Foundation
import Glibc
import TestSupport
import Testing

/// Epochs uploaded the way clients do, sealed, processed and published by the daemon.
@Suite("Epoch pipeline", .serialized, .requiresMount)
struct EpochPipelineTests {
    struct Epoch: Decodable {
        var name: String
        var state: String
        var reason: String
        var outcome: String?
        var profile: String?
        var sealed: Int64?
    }

    struct Summary: Decodable {
        var district: String
        var epoch: Epoch
        var waiting: String?
    }

    struct Result: Decodable {
        struct File: Decodable { var path: String; var size: Int64; var sha256: String; var rows: Int? }
        struct Problem: Decodable { var file: String; var line: Int; var column: Int; var code: String; var severity: String }
        var outcome: String
        var reason: String
        var profile: String
        var files: [File]
        var problems: [Problem]
    }

    /// A notify command that appends each staff event to a file, and what it received.
    struct StaffInbox {
        let directory: TestDirectory
        var command: String { directory.path + "/notify" }
        var received: String { String(decoding: (try? Files.read(directory.path + "/events")) ?? [], as: UTF8.self) }

        init() throws {
            directory = try TestDirectory(scratch: true)
            try Files.write(directory.path + "/notify", Array("#!/bin/sh\ncat >> \(directory.path)/events\n".utf8), mode: 0o755)
        }
    }

    private func show(_ fs: MountFixture, _ district: District, _ epoch: String) throws -> Summary? {
        let result = try fs.epochfs(["epochs", "show", "\(district.name)/\(epoch)", "--json", "--store", fs.store])
        guard result.succeeded else { return nil }
        return try JSONDecoder().decode(Summary.self, from: Data(result.output))
    }

    private func waitForState(_ fs: MountFixture, _ district: District, _ epoch: String, _ states: Set<String>,
                              within seconds: Double = 20) throws -> Summary? {
        var last: Summary?
        _ = try eventually(within: seconds) {
            last = try show(fs, district, epoch)
            return last.map { states.contains($0.epoch.state) } ?? false
        }
        return last
    }

    private func upload(_ set: [(String, String)], to directory: String, as identity: Identity = District.alpha.identity) throws {
        for (name, text) in set {
            let result = try Command.run(["/bin/sh", "-c", "cat > \(shellQuote(directory + "/" + name))"],
                                         as: identity, input: Array(text.utf8))
            guard result.succeeded else { throw CommandError(description: "upload of \(name) failed: \(result)") }
        }
    }

    /// Makes the epoch directory `name` as the district and uploads `files` into it; returns its path.
    private func makeEpoch(_ fs: MountFixture, _ name: String, _ files: [(String, String)],
                           district: District = .alpha) throws -> String {
        let epoch = fs.upload(district) + "/" + name
        try mkdirAsDistrict(epoch, district)
        try upload(files, to: epoch, as: district.identity)
        return epoch
    }

    private func mkdirAsDistrict(_ path: String, _ district: District = .alpha) throws {
        let result = try Command.run(["/bin/mkdir", path], as: district.identity)
        guard result.succeeded else { throw CommandError(description: "\(result)") }
    }

    /// Writes the built-in Clever profile with `handOff` as its hand-off command into
    /// `directory`, as an operator would.
    static func cleverProfile(handOff: String, timeoutSeconds: Int, into directory: String) throws {
        let shown = try Command.run([try MountFixture.locateBinary(), "profiles", "show", "clever"])
        guard shown.succeeded else { throw CommandError(description: "\(shown)") }
        var profile = try JSONSerialization.jsonObject(with: Data(shown.output)) as! [String: Any]
        profile["handOff"] = ["command": [handOff], "timeoutSeconds": timeoutSeconds]
        try Files.mkdir(directory)
        try Files.write(directory + "/clever.json", Array(try JSONSerialization.data(withJSONObject: profile)))
    }

    @Test("a marker closed cleanly seals at once; the epoch is published with its log, JSON and checksums")
    func markerSealsAndPublishes() throws {
        try withMount(mountArguments: ["--settle-seconds", "3600"]) { fs in
            let name = "20261129T020000Z"
            // With a file of its own named like one publishing inserts.
            let epoch = try makeEpoch(fs, name, Sets.clever + [("SHA256SUMS", "the district's own list\n")])
            #expect(try show(fs, .alpha, name)?.epoch.state == "receiving")

            let markerClosed = Date()
            try upload([(".done", "")], to: epoch)
            let published = fs.processed(.alpha) + "/" + name
            let appeared = eventually(within: 20) { Files.exists(published + "/processing-succeeded.log") }
            let latency = Date().timeIntervalSince(markerClosed)
            #expect(appeared, "published within 20 s; log:\n\(fs.logTail())")
            print("marker close to published epoch: \(String(format: "%.3f", latency)) s")
            guard appeared else { return }

            #expect(!Files.exists(epoch), "gone from upload/")
            #expect(try Files.list(fs.upload(.alpha)).isEmpty)
            let names = Set(try Files.list(published))
            #expect(names == Set(Sets.clever.map(\.0) + [".done", "processing-succeeded.log", "processing.json", "SHA256SUMS",
                                                             "SHA256SUMS.received"]))
            #expect(try Files.read(published + "/SHA256SUMS.received") == Array("the district's own list\n".utf8))
            let result = try JSONDecoder().decode(Result.self, from: Data(try Files.read(published + "/processing.json")))
            #expect(result.outcome == "succeeded")
            #expect(result.profile == "clever")
            #expect(result.files.first { $0.path == "students.csv" }?.rows == 3)
            // sha256sum -c from inside the directory, as the district or staff would run it.
            let check = try Command.sh("cd \(shellQuote(published)) && sha256sum -c SHA256SUMS")
            #expect(check.succeeded, "\(check)")
            #expect(check.lines.count == Sets.clever.count + 2, "\(check)")
            // The directory's mtime is the publish time, and nobody but root changes it.
            let mtime = try Files.stat(published).st_mtim.tv_sec
            #expect(abs(Double(mtime) - markerClosed.timeIntervalSince1970) < 30)
            #expect(try Command.run(["/usr/bin/touch", "-d", "2001-01-01", published], as: District.alpha.identity).succeeded == false)
            // The district reads its log and cannot add to or change what was processed.
            let log = try Command.run(["/bin/cat", published + "/processing-succeeded.log"], as: District.alpha.identity)
            #expect(log.stdout.contains("SUCCEEDED"), "\(log)")
            #expect(try Command.run(["/bin/sh", "-c", "echo x > \(shellQuote(published + "/more.csv"))"], as: District.alpha.identity).succeeded == false)
            #expect(try Command.run(["/bin/rm", published + "/students.csv"], as: District.alpha.identity).succeeded == false)
            #expect(try show(fs, .alpha, name)?.epoch.outcome == "succeeded")
        }
    }

    @Test("reprocessing a published epoch replaces its inserted files in place")
    func reprocessInPlace() throws {
        try withMount(mountArguments: ["--settle-seconds", "3600"]) { fs in
            let name = "1764374400"
            _ = try makeEpoch(fs, name, Sets.clever + [(".done", "")])
            let published = fs.processed(.alpha) + "/" + name
            #expect(eventually(within: 20) { Files.exists(published + "/processing.json") })
            let first = try Files.read(published + "/processing.json")
            Thread.sleep(forTimeInterval: 1.1)
            let requeued = try fs.epochfs(["epochs", "reprocess", "alpha/\(name)", "--store", fs.store])
            #expect(requeued.succeeded, "\(requeued)")
            #expect(eventually(within: 20) {
                guard let again = try? Files.read(published + "/processing.json") else { return false }
                return again != first
            }, "a new processing.json; log:\n\(fs.logTail())")
            #expect(try Files.list(fs.processed(.alpha)) == [name], "no second copy")
            let names = Set(try Files.list(published))
            #expect(names == Set(Sets.clever.map(\.0) + [".done", "processing-succeeded.log", "processing.json", "SHA256SUMS"]))
            #expect(try Command.sh("cd \(shellQuote(published)) && sha256sum -c SHA256SUMS").succeeded)
        }
    }

    @Test("a writer killed mid-upload never seals its epoch; resuming and closing cleanly does")
    func droppedSessionNeverSeals() throws {
        try withMount(mountArguments: ["--settle-seconds", "1"]) { fs in
            let name = "1764374400"
            let epoch = try makeEpoch(fs, name, Array(Sets.clever.prefix(1)))
            let students = Sets.clever[1].1
            let cut = students.utf8.count / 2
            // A writer that holds the file open and is killed: its close happens during exit.
            // (Not a shell: `exec sleep` would close the descriptor, cleanly, at exec.)
            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            writer.arguments = ["-c", "import os, sys, time; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT); os.write(fd, sys.argv[2].encode()); time.sleep(60)",
                                epoch + "/students.csv", String(decoding: Array(students.utf8.prefix(cut)), as: UTF8.self)]
            try writer.run()
            #expect(eventually(within: 5) { (try? Files.stat(epoch + "/students.csv"))?.st_size == cut })
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
            Thread.sleep(forTimeInterval: 4)
            let stuck = try show(fs, .alpha, name)
            #expect(stuck?.epoch.state == "receiving", "\(String(describing: stuck))")
            #expect(stuck?.waiting?.contains("interrupted upload of students.csv") == true, "\(String(describing: stuck))")
            #expect(stuck?.epoch.sealed == nil)

            // The client reconnects and appends the rest (OpenSSH reput).
            let resume = try OpenFile(epoch + "/students.csv", O_WRONLY | O_APPEND)
            try resume.write(Array(students.utf8.dropFirst(cut)))
            try resume.close()
            let done = try waitForState(fs, .alpha, name, ["published"])
            #expect(done?.epoch.outcome == "succeeded", "\(String(describing: done)); log:\n\(fs.logTail())")
            expectBytes(try Files.read(fs.processed(.alpha) + "/" + name + "/students.csv"), Array(students.utf8), "resumed file")
        }
    }

    @Test("an unrecognised upload stays in upload/, frozen, and staff are told; the district may withdraw it")
    func unrecognisedStaysAndCanBeWithdrawn() throws {
        let staff = try StaffInbox()
        defer { withExtendedLifetime(staff) {} }
        try withMount(mountArguments: ["--settle-seconds", "1", "--notify-command", staff.command]) { fs in
            let name = "1764374400"
            let epoch = try makeEpoch(fs, name, [("old-system-dump.txt", "not a known format\n")])
            let left = try waitForState(fs, .alpha, name, ["unrecognised"])
            #expect(left?.epoch.reason.isEmpty == false, "\(String(describing: left))")
            #expect(Files.exists(epoch + "/old-system-dump.txt"), "left where it was")
            #expect(eventually { !staff.received.isEmpty })
            let event = staff.received
            #expect(event.contains("\"event\":\"epoch.unrecognised\"") && event.contains("\"district\":\"alpha\""), "\(event)")
            // A file put directly in upload/ is never processed; staff hear of it once.
            try upload([("students.csv", "x\n")], to: fs.upload(.alpha))
            #expect(eventually { staff.received.contains("upload.loose-file") })
            #expect(Files.exists(fs.upload(.alpha) + "/students.csv"))
            // Sealed: nothing may be added or changed, by the district or root.
            let add = try Command.run(["/bin/sh", "-c", "echo x > \(shellQuote(epoch + "/more.csv"))"], as: District.alpha.identity)
            #expect(!add.succeeded && add.stderr.contains("Permission denied"), "\(add)")
            #expect(openErrno(epoch + "/old-system-dump.txt", O_WRONLY | O_APPEND) == .EACCES)
            // Withdrawing it is allowed.
            let removed = try Command.run(["/bin/rm", "-r", epoch], as: District.alpha.identity)
            #expect(removed.succeeded, "\(removed)")
            #expect(try show(fs, .alpha, name) == nil)
        }
    }

    /// A district names its epochs and files: a line break in a name must not forge a line of
    /// staff's listing or of the daemon's log, nor an escape sequence reach a terminal.
    @Test("names with line breaks and escape sequences are printed escaped: epochs list, show and the daemon's log")
    func untrustedNamesArePrintedEscaped() throws {
        try withMount(mountArguments: ["--settle-seconds", "1"]) { fs in
            let forged = "1764374400\n2026-12-07 INFO forged: all districts published"
            let escape = "\u{1B}[2J\u{1B}[31mpwned"
            for name in [forged, escape] {
                _ = try makeEpoch(fs, name, [("students.csv", "a,b\n1,2\n")])
            }
            #expect(eventually(within: 20) {
                ((try? fs.epochfs(["epochs", "list", "--store", fs.store]))?.stdout ?? "").components(separatedBy: "unrecognised").count == 3
            }, "both are left for staff with a bad name; log:\n\(fs.logTail())")
            let list = try fs.epochfs(["epochs", "list", "--store", fs.store])
            let lines = list.stdout.split(separator: "\n")
            #expect(lines.count == 3, "a header and one line per epoch:\n\(list.stdout)")
            #expect(!list.stdout.contains("\u{1B}") && list.stdout.contains("\\u{1B}[2J"), "\(list.stdout)")
            #expect(lines.allSatisfy { !$0.hasPrefix("2026-12-07 INFO forged") } && list.stdout.contains("1764374400\\n2026"))

            let shown = try fs.epochfs(["epochs", "show", "alpha/upload/" + escape, "--store", fs.store])
            #expect(shown.succeeded && !shown.stdout.contains("\u{1B}"), "\(shown)")

            let log = String(decoding: try Files.read(fs.store + "/epochfs.log"), as: UTF8.self)
            #expect(log.contains("1764374400\\n2026"), "the daemon logged the epoch, escaped:\n\(log.suffix(3000))")
            #expect(!log.contains("\u{1B}"), "no escape sequence in the log")
            #expect(log.split(separator: "\n").allSatisfy { !$0.hasPrefix("2026-12-07 INFO forged") })
        }
    }

    /// Published epochs leave the quota, and a district cannot delete them: what they may hold
    /// is bounded, so that set after set (failing ones, say) cannot fill the shared disk.
    @Test("an epoch that would take its district's upload-processed/ past max_processed_bytes is held until older ones go")
    func processedBytesAreBounded() throws {
        let set = Sets.clever(students: 200) + [(".done", "")]
        let size = set.reduce(0) { $0 + $1.1.utf8.count }
        // Room for one published set and its logs, not for two.
        try withMount(mountArguments: ["--settle-seconds", "3600", "--max-processed-bytes", String(size * 3 / 2)]) { fs in
            _ = try makeEpoch(fs, "1764374400", set)
            #expect(try waitForState(fs, .alpha, "1764374400", ["published"])?.epoch.outcome == "succeeded", "log:\n\(fs.logTail())")

            let second = try makeEpoch(fs, "1764460800", set)
            let held = try waitForState(fs, .alpha, "1764460800", ["held"])
            #expect(held?.epoch.reason.contains("max_processed_bytes") == true, "\(String(describing: held))")
            #expect(Files.exists(second + "/students.csv"), "held epochs stay in upload/")

            // Retention (or staff) deletes the older one; staff then let the held one go on.
            #expect(try Command.run(["/bin/rm", "-r", fs.processed(.alpha) + "/1764374400"]).succeeded)
            let release = try fs.epochfs(["epochs", "process", "alpha/1764460800", "--store", fs.store])
            #expect(release.succeeded, "\(release)")
            #expect(try waitForState(fs, .alpha, "1764460800", ["published"])?.epoch.outcome == "succeeded")
        }
    }

    @Test("the metrics file for the node exporter counts uploads, epochs by state and outcome, and errors")
    func metricsFile() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }  // (removed when the test ends, not at its last use)
        let file = scratch.path + "/epochfs.prom"
        try withMount(mountArguments: ["--settle-seconds", "3600", "--metrics-file", file]) { fs in
            _ = try makeEpoch(fs, "1764374400", Sets.clever + [(".done", "")])
            _ = try makeEpoch(fs, "1764460800", [("notes.txt", "not a set\n")])
            #expect(try waitForState(fs, .alpha, "1764374400", ["published"]) != nil)
            #expect(openErrno(fs.upload(.alpha) + "/1764374400/x", O_RDONLY) == .ENOENT)
            try fs.unmount()  // the daemon writes the file once more as it stops
            let text = String(decoding: try Files.read(file), as: UTF8.self)
            // Seven files; a shell that forks its writer publishes a file twice (empty at its own
            // close, then whole at the writer's), and each publish counts.
            let uploads = text.split(separator: "\n").first { $0.hasPrefix("epochfs_uploads_total ") }
                .flatMap { Int($0.split(separator: " ")[1]) }
            #expect((uploads ?? 0) >= 7, "\(text)")
            #expect(text.contains("epochfs_epochs_published_total{outcome=\"succeeded\"} 1\n"), "\(text)")
            #expect(text.contains("epochfs_epochs{state=\"receiving\"} 1\n"), "\(text)")
            #expect(text.contains("epochfs_epochs{state=\"published\"} 1\n"), "\(text)")
            #expect(text.contains("epochfs_request_errors_total{errno=\"ENOENT\"}"), "\(text)")
            #expect(text.contains("epochfs_sealing_delay_seconds_count 1\n"), "\(text)")
        }
    }

    @Test("kill -9 while a hand-off runs: after the remount the epoch is published exactly once")
    func exactlyOnceAcrossKill() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }  // (removed when the test ends, not at its last use)
        let runs = scratch.path + "/runs"
        let handOff = scratch.path + "/hand-off"
        try Files.write(handOff, Array("#!/bin/sh\necho \"$EPOCHFS_EPOCH_ID $EPOCHFS_DISTRICT/$EPOCHFS_EPOCH\" >> \(runs)\nls \"$EPOCHFS_FILES\"\nsleep 3\n".utf8), mode: 0o755)
        let profiles = scratch.path + "/profiles"
        try Self.cleverProfile(handOff: handOff, timeoutSeconds: 60, into: profiles)
        try withMount(mountArguments: ["--settle-seconds", "3600", "--profiles-directory", profiles]) { fs in
            let name = "1764374400"
            _ = try makeEpoch(fs, name, Sets.clever + [(".done", "")])
            #expect(eventually(within: 20) { ((try? Files.read(runs)) ?? []).count > 0 }, "hand-off started; log:\n\(fs.logTail())")
            try fs.signalDaemon(SIGKILL)
            try fs.mount(["--settle-seconds", "3600", "--profiles-directory", profiles])
            let done = try waitForState(fs, .alpha, name, ["published"], within: 30)
            #expect(done?.epoch.outcome == "succeeded", "\(String(describing: done)); log:\n\(fs.logTail())")
            #expect(try Files.list(fs.processed(.alpha)) == [name], "published once")
            let log = String(decoding: try Files.read(fs.processed(.alpha) + "/\(name)/processing-succeeded.log"), as: UTF8.self)
            #expect(log.contains("students.csv"), "the hand-off saw the files: \(log)")
            let lines = String(decoding: try Files.read(runs), as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 2 && Set(lines).count == 1, "the hand-off ran again with the same epoch id: \(lines)")
        }
    }

    @Test("kill -9 after a hand-off finished and before the epoch was published: the remount publishes it, without a second hand-off")
    func exactlyOnceWhenKilledBeforePublishing() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }  // (removed when the test ends, not at its last use)
        let runs = scratch.path + "/runs"
        let handOff = scratch.path + "/hand-off"
        try Files.write(handOff, Array("#!/bin/sh\necho \"$EPOCHFS_EPOCH_ID\" >> \(runs)\nls \"$EPOCHFS_FILES\"\n".utf8), mode: 0o755)
        let profiles = scratch.path + "/profiles"
        try Self.cleverProfile(handOff: handOff, timeoutSeconds: 60, into: profiles)
        let arguments = ["--settle-seconds", "3600", "--profiles-directory", profiles]
        try withMount(mountArguments: arguments) { fs in
            let name = "1764374400"
            // The daemon dies as it starts to publish: at the first call of FileSystem.publishEpoch.
            let crash = try KillAtBreakpoint(pid: try #require(fs.daemon), function: #"^\$s7EpochFS10FileSystemC07publishA0_.*KF$"#,
                                             log: scratch.path + "/gdb.log")
            _ = try makeEpoch(fs, name, Sets.clever + [(".done", "")])
            guard crash.waitForKill(within: 60) else {
                crash.cancel()
                Issue.record("the daemon did not stop before publishing: \(crash.text); log:\n\(fs.logTail())")
                return
            }
            #expect(fs.waitForDaemonExit(seconds: 10))
            #expect(String(decoding: try Files.read(runs), as: UTF8.self).split(separator: "\n").count == 1, "the hand-off had finished")

            try fs.mount(arguments)
            let done = try waitForState(fs, .alpha, name, ["published"], within: 30)
            #expect(done?.epoch.outcome == "succeeded", "\(String(describing: done)); log:\n\(fs.logTail())")
            #expect(try Files.list(fs.processed(.alpha)) == [name], "published once")
            let log = String(decoding: try Files.read(fs.processed(.alpha) + "/\(name)/processing-succeeded.log"), as: UTF8.self)
            #expect(log.contains("students.csv"), "the log is of the hand-off that ran: \(log)")
            let lines = String(decoding: try Files.read(runs), as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 1, "handed off once: \(lines)")
        }
    }

    @Test("an epoch stuck in its hand-off holds up no other district; the next epoch of its own district waits for it")
    func oneDistrictCannotStallTheOthers() throws {
        let scratch = try TestDirectory(scratch: true)
        defer { withExtendedLifetime(scratch) {} }  // (removed when the test ends, not at its last use)
        let runs = scratch.path + "/runs"
        let release = scratch.path + "/release"
        let handOff = scratch.path + "/hand-off"
        // Alpha's hand-offs wait until the test lets them go; beta's return at once.
        try Files.write(handOff, Array("""
            #!/bin/sh
            echo "$EPOCHFS_DISTRICT/$EPOCHFS_EPOCH" >> \(runs)
            if [ "$EPOCHFS_DISTRICT" = alpha ]; then
                while [ ! -e \(release) ]; do sleep 0.1; done
            fi

            """.utf8), mode: 0o755)
        let profiles = scratch.path + "/profiles"
        try Self.cleverProfile(handOff: handOff, timeoutSeconds: 60, into: profiles)
        func started() -> [String] {
            String(decoding: (try? Files.read(runs)) ?? [], as: UTF8.self).split(separator: "\n").map(String.init)
        }

        try withMount(districts: [.alpha, .beta], mountArguments: ["--settle-seconds", "3600", "--profiles-directory", profiles]) { fs in
            // However the test ends, alpha's hand-offs end, so that the daemon can stop.
            defer { try? Files.write(release, []) }
            // One epoch after the other: two that seal in the same pass of the sealer may start
            // in either order.
            _ = try makeEpoch(fs, "1764374400", Sets.clever + [(".done", "")])
            #expect(eventually(within: 20) { started() == ["alpha/1764374400"] }, "alpha's first hand-off started; log:\n\(fs.logTail())")
            _ = try makeEpoch(fs, "1764460800", Sets.clever + [(".done", "")])
            #expect(try waitForState(fs, .alpha, "1764460800", ["sealed", "processing", "published"]) != nil)

            // Beta's epoch is processed while alpha's first one is stuck in its hand-off ...
            _ = try makeEpoch(fs, "1764288000", Sets.clever + [(".done", "")], district: .beta)
            let beta = try waitForState(fs, .beta, "1764288000", ["published"], within: 30)
            #expect(beta?.epoch.outcome == "succeeded", "\(String(describing: beta)); log:\n\(fs.logTail())")
            // ... and alpha's second one waits for alpha's first: never two of a district at once.
            #expect(try show(fs, .alpha, "1764374400")?.epoch.state == "processing")
            #expect(try show(fs, .alpha, "1764460800")?.epoch.state == "sealed")
            #expect(started() == ["alpha/1764374400", "beta/1764288000"])

            try Files.write(release, [])
            let second = try waitForState(fs, .alpha, "1764460800", ["published"], within: 30)
            #expect(second?.epoch.outcome == "succeeded", "\(String(describing: second)); log:\n\(fs.logTail())")
            #expect(try show(fs, .alpha, "1764374400")?.epoch.outcome == "succeeded")
            #expect(started() == ["alpha/1764374400", "beta/1764288000", "alpha/1764460800"])
        }
    }
}

extension EpochPipelineTests {
    @Test("A manifest of 100 MB of commas: the sealer and the processor read it, and the daemon's memory stays bounded")
    func hostileManifest() throws {
        try withMount(mountArguments: ["--settle-seconds", "3600"]) { fs in
            let epoch = fs.upload(.alpha) + "/1764374400"
            try mkdirAsDistrict(epoch)
            let written = try Command.sh("head -c 100000000 /dev/zero | tr '\\0' , > \(shellQuote(epoch + "/manifest.csv"))",
                                         as: District.alpha.identity, timeout: 120)
            #expect(written.succeeded, "\(written)")
            // The marker seals the epoch: the sealer reads the manifest first (does it name files
            // still to come?), then the processor reads it to recognise the set.
            try upload([(".done", "")], to: epoch)
            let summary = try waitForState(fs, .alpha, "1764374400", ["unrecognised", "published", "held"], within: 120)
            #expect(summary?.epoch.state == "unrecognised", "\(String(describing: summary))")
            let daemon = try #require(fs.daemon)
            let status = String(decoding: try Files.read("/proc/\(daemon)/status"), as: UTF8.self)
            let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
                .split(separator: " ").compactMap { Int($0) }.first ?? 0
            #expect(peak > 0 && peak < 300 << 10, "the daemon's peak resident memory: \(peak) KiB")
        }
    }
}
