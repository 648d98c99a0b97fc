import EpochStore
import Foundation
import Ingest

/// What the profile's hand-off command did.
struct HandOffResult: Codable, Sendable {
    var command: [String]
    var exitCode: Int32
    /// The signal that ended it, if one did (then `exitCode` is meaningless).
    var signal: Int32?
    var timedOut: Bool
    var seconds: Double
    /// The start of its standard output and error (64 KiB at most).
    var output: String

    var succeeded: Bool { !timedOut && signal == nil && exitCode == 0 }

    /// How it ended, for the log and for the reason of a failure.
    var ending: String {
        if timedOut { return "timed out after \(String(format: "%.0f", seconds)) s and was killed" }
        if let signal { return "was killed by signal \(signal) after \(String(format: "%.1f", seconds)) s" }
        return "exited with \(exitCode) after \(String(format: "%.1f", seconds)) s"
    }
}

/// Runs a profile's hand-off command on a validated set.
enum HandOffRunner {
    /// The files are presented read-only in a private directory, under their paths in the
    /// epoch: copies (made in the kernel), never links to the blobs, since the command runs
    /// as root and an edit in place would change every file that shares those bytes. The
    /// command gets a clear environment naming the district, epoch, profile and that directory.
    static func run(_ handOff: HandOff, files: [SetFile], district: String, epoch: EpochRecord,
                    profile: String, isDelta: Bool, work: String) throws -> HandOffResult {
        let view = work + "/files"
        let manager = FileManager.default
        try manager.createDirectory(atPath: view, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for file in files {
            let target = view + "/" + file.path
            try manager.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try Sys.copyFile(at: file.location, to: target, mode: 0o444)
        }
        let environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "EPOCHFS_DISTRICT": district,
            "EPOCHFS_EPOCH": epoch.name,
            "EPOCHFS_EPOCH_ID": String(epoch.ino.rawValue),
            "EPOCHFS_PROFILE": profile,
            "EPOCHFS_SET": isDelta ? "delta" : "bulk",
            "EPOCHFS_FILES": view,
        ]
        let outcome = try ChildProcess.run(command: handOff.command, environment: environment, workingDirectory: view,
                                           timeoutSeconds: Int64(handOff.timeoutSeconds), outputLimit: 64 << 10)
        return HandOffResult(command: handOff.command, exitCode: outcome.exitCode, signal: outcome.signal,
                             timedOut: outcome.timedOut, seconds: outcome.seconds, output: outcome.output)
    }
}
