import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command with a given environment and a time limit, capturing (the start of) its output.
enum ChildProcess {
    struct Outcome: Sendable {
        var exitCode: Int32
        /// The signal that ended it, if one did.
        var signal: Int32?
        var timedOut: Bool
        /// Standard output and error together, cut at the limit.
        var output: String
        var seconds: Double
    }

    static func run(command: [String], environment: [String: String], input: Data? = nil,
                    workingDirectory: String? = nil, timeoutSeconds: Int64, outputLimit: Int) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        // Output goes to an unlinked temporary file, not a pipe: a chatty command can never
        // block on a full pipe while we wait for it.
        let outputPath = NSTemporaryDirectory() + "epochfs-output-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil),
              let output = FileHandle(forUpdatingAtPath: outputPath) else {
            throw CocoaError(.fileWriteUnknown)
        }
        unlink(outputPath)
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        let inputPipe = Pipe()
        process.standardInput = input == nil ? FileHandle(forReadingAtPath: "/dev/null") : inputPipe
        let started = Date()
        try process.run()
        if let input {
            try? inputPipe.fileHandleForWriting.write(contentsOf: input)
            try? inputPipe.fileHandleForWriting.close()
        }
        let deadline = started.addingTimeInterval(Double(timeoutSeconds))
        var timedOut = false
        let pid = process.processIdentifier
        while process.isRunning {
            if Date() >= deadline {
                timedOut = true
                // Foundation starts the child in a process group of its own: end everything
                // it started, not only the child.
                signalGroup(pid, SIGTERM)
                let grace = Date().addingTimeInterval(5)
                while process.isRunning && Date() < grace { usleep(50_000) }
                signalGroup(pid, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        // Whatever the command left running in its group goes with it. (Only the group: the
        // child's pid is free for reuse once it has been reaped.)
        kill(-pid, SIGKILL)
        try output.seek(toOffset: 0)
        let bytes = try output.read(upToCount: outputLimit) ?? Data()
        let signalled = process.terminationReason == .uncaughtSignal
        return Outcome(exitCode: signalled ? -1 : process.terminationStatus,
                       signal: signalled ? process.terminationStatus : nil, timedOut: timedOut,
                       output: String(decoding: bytes, as: UTF8.self), seconds: Date().timeIntervalSince(started))
    }

    /// Signals the process group led by `pid`, or the process alone if it leads none.
    private static func signalGroup(_ pid: Int32, _ signal: Int32) {
        if kill(-pid, signal) != 0 && errno == ESRCH { kill(pid, signal) }
    }
}
