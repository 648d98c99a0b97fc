import Dispatch
import Foundation
import Logging

/// Tells staff about what needs a person: an unrecognised, badly named, held, stalled or
/// failed epoch, a loose file. Every event is logged at once; the configured command (if any)
/// gets it as one JSON object on its standard input, on a queue of its own, so that a slow
/// command never holds up sealing or processing.
public final class StaffNotifier: Sendable {
    public let command: [String]?
    private let logger: Logger
    private let queue = DispatchQueue(label: "epochfs-notify")

    public init(command: [String]?, logger: Logger) {
        self.command = command
        self.logger = logger
    }

    public struct Event: Codable, Sendable {
        /// `epoch.unrecognised`, `epoch.bad-name`, `epoch.held`, `epoch.stalled`, `epoch.failed`,
        /// `upload.loose-file`.
        public var event: String
        public var district: String
        public var epoch: String
        public var state: String
        public var reason: String
        public var time: String
    }

    public func send(_ event: Event) {
        logger.notice("staff notified", metadata: [
            "event": "\(event.event)", "district": "\(event.district)", "epoch": "\(event.epoch)",
            "reason": "\(event.reason)"])
        guard let command, let executable = command.first else { return }
        queue.async { [logger] in
            do {
                let input = try JSONEncoder().encode(event) + [0x0a]
                let outcome = try ChildProcess.run(command: [executable] + command.dropFirst(),
                                                   environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"],
                                                   input: input, timeoutSeconds: 30, outputLimit: 4096)
                if outcome.exitCode != 0 || outcome.signal != nil {
                    logger.error("the notify command failed", metadata: [
                        "command": "\(executable)", "exit": "\(outcome.exitCode)", "timed_out": "\(outcome.timedOut)",
                        "output": "\(outcome.output.prefix(500))"])
                }
            } catch {
                logger.error("could not run the notify command", metadata: ["command": "\(executable)", "error": "\(error)"])
            }
        }
    }

    /// Waits for the events already queued (at shutdown).
    public func drain() {
        queue.sync {}
    }
}
