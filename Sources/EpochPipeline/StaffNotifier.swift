import Foundation
import Logging

/// Tells staff about what needs a person: an unrecognised, badly named, held, stalled or
/// failed epoch, a loose file. Every event is logged; the configured command (if any) gets
/// it as one JSON object on its standard input.
public struct StaffNotifier: Sendable {
    public var command: [String]?
    let logger: Logger

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
        do {
            let input = try JSONEncoder().encode(event) + [0x0a]
            let outcome = try ChildProcess.run(command: [executable] + command.dropFirst(), environment: [:],
                                               input: input, timeoutSeconds: 30, outputLimit: 4096)
            if outcome.exitCode != 0 {
                logger.error("the notify command failed", metadata: [
                    "command": "\(executable)", "exit": "\(outcome.exitCode)", "timed_out": "\(outcome.timedOut)"])
            }
        } catch {
            logger.error("could not run the notify command", metadata: ["command": "\(executable)", "error": "\(error)"])
        }
    }
}
