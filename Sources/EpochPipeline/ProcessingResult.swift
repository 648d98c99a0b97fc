import Foundation
import Ingest

/// What processing an epoch produced: `processing.json` as published, and the human-readable
/// log and the checksum list made from it. docs/processing.md documents every key.
struct ProcessingResult: Codable, Sendable {
    var format = 1
    var district: String
    var epoch: String
    /// `succeeded`, `failed` or `superseded`.
    var outcome: String
    /// Why it failed or was superseded (empty when it succeeded).
    var reason: String
    var profile: String
    /// `bulk` or `delta`.
    var set: String
    /// The files as received, with their checksums and, for the set's files, row counts.
    var files: [File]
    /// The files of a zipped set, as validated (nil when the set was not zipped).
    var unzipped: [FileReport]?
    var problems: [Problem]
    /// Problems beyond the per-code limit, counted but not listed.
    var unreportedProblems: [String: Int]
    var handOff: HandOffResult?
    var timings: Timings

    struct File: Codable, Sendable {
        var path: String
        var size: Int64
        var sha256: String
        var role: String?
        var mode: String?
        var rows: Int?
        var accepted: Int?
        var rejected: Int?
        var warned: Int?
    }

    struct Timings: Codable, Sendable {
        var sealed: String
        var processingStarted: String
        var published: String
        var validationSeconds: Double
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// The `sha256sum -c` list of the received files, paths relative to the epoch directory.
    func checksums() -> String {
        files.sorted { $0.path < $1.path }.map { file in
            // GNU sha256sum's escaping for names holding a backslash or a line break.
            if file.path.contains("\\") || file.path.contains("\n") {
                let escaped = file.path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
                return "\\\(file.sha256)  \(escaped)\n"
            }
            return "\(file.sha256)  \(file.path)\n"
        }.joined()
    }

    /// The log a person reads: outcome first, then files, problems and the hand-off.
    func logText() -> String {
        var lines: [String] = []
        lines.append("Processing \(outcome.uppercased()): \(district)/\(epoch)")
        if !reason.isEmpty { lines.append("Reason: \(reason)") }
        lines.append("Profile: \(profile) (\(set) set)")
        lines.append("Sealed: \(timings.sealed)")
        lines.append("Processing started: \(timings.processingStarted)")
        lines.append("Published: \(timings.published)")
        lines.append("")
        lines.append("Files received (\(files.count)):")
        for file in files {
            var line = "  \(file.path)  \(file.size) bytes"
            if let rows = file.rows {
                line += "  \(rows) rows: \(file.accepted ?? 0) accepted, \(file.rejected ?? 0) rejected, \(file.warned ?? 0) with warnings"
            }
            if let mode = file.mode { line += "  (\(mode))" }
            lines.append(line)
        }
        if let unzipped {
            lines.append("")
            lines.append("Files in the zip (\(unzipped.count)):")
            for file in unzipped {
                lines.append("  \(file.path)  \(file.size) bytes  \(file.rows) rows: \(file.accepted) accepted, \(file.rejected) rejected, \(file.warned) with warnings")
            }
        }
        lines.append("")
        let total = problems.count + unreportedProblems.values.reduce(0, +)
        lines.append("Problems (\(total)):")
        if problems.isEmpty { lines.append("  none") }
        for problem in problems { lines.append("  \(problem)") }
        for (code, count) in unreportedProblems.sorted(by: { $0.key < $1.key }) {
            lines.append("  … and \(count) more \(code) not listed")
        }
        if let handOff {
            lines.append("")
            lines.append("Hand-off: \(handOff.command.joined(separator: " "))")
            lines.append("  \(handOff.ending)")
            if !handOff.output.isEmpty {
                lines.append("  output:")
                for line in handOff.output.split(separator: "\n", omittingEmptySubsequences: false) { lines.append("    \(line)") }
            }
        }
        lines.append("")
        lines.append("Checksums of the received files: SHA256SUMS (check with: sha256sum -c SHA256SUMS)")
        return lines.joined(separator: "\n") + "\n"
    }
}
