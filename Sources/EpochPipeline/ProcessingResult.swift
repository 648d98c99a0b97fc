import EpochStore
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
    /// The received marker files (`.done`), which seal an epoch and are not data.
    var markers: [String]?
    /// The files of a zipped set, as validated (nil when the set was not zipped).
    var unzipped: [FileReport]?
    /// Rows over the set's data files.
    var totals: RowTotals?
    /// The outcome rule's decision; nil when something else decided first (a timeout, a newer
    /// set). The keys added since format 1 began are optional: older epochs' processing.json,
    /// read for their row counts, lack them.
    var rule: OutcomeRule.Decision?
    var problems: [Problem]
    /// Problems beyond the per-code limit, counted but not listed.
    var unreportedProblems: [String: Int]
    /// Every problem counted by file, code, column and severity, most serious first.
    var problemGroups: [ProblemGroup]?
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

    /// The log a person reads: the outcome and the sentence that says why, then files, the
    /// problems grouped (one line per file, code and column, most serious first, each with
    /// what to do) and the hand-off.
    func logText() -> String {
        var lines: [String] = []
        lines.append("Processing \(outcome.uppercased()): \(district)/\(epoch)")
        if let why = reason.isEmpty ? rule?.detail : reason {
            lines.append(outcome.prefix(1).uppercased() + outcome.dropFirst() + ": " + why)
        }
        lines.append("Profile: \(profile) (\(set) set)")
        lines.append("Sealed: \(timings.sealed)")
        lines.append("Processing started: \(timings.processingStarted)")
        lines.append("Published: \(timings.published)")
        lines.append("")
        let markers = Set(markers ?? [])
        let data = files.filter { !markers.contains($0.path) }
        lines.append("Files received (\(data.count)):")
        for file in data {
            var line = "  \(file.path)  \(Figures.grouped(Int(file.size))) bytes"
            if let rows = file.rows {
                line += "  " + Self.counts(rows: rows, accepted: file.accepted ?? 0, rejected: file.rejected ?? 0, warned: file.warned ?? 0)
            }
            if let mode = file.mode { line += "  (\(mode))" }
            lines.append(line)
        }
        for marker in files.map(\.path) where markers.contains(marker) { lines.append("Marker: \(marker)") }
        if let unzipped {
            lines.append("")
            lines.append("Files in the zip (\(unzipped.count)):")
            for file in unzipped {
                lines.append("  \(file.path)  \(Figures.grouped(Int(file.size))) bytes  "
                    + Self.counts(rows: file.rows, accepted: file.accepted, rejected: file.rejected, warned: file.warned))
            }
        }
        if let totals {
            lines.append("Total: " + Self.counts(rows: totals.rows, accepted: totals.accepted, rejected: totals.rejected, warned: totals.warned))
        }
        lines.append("")
        let groups = problemGroups ?? []
        let total = groups.reduce(0) { $0 + $1.count }
        lines.append(groups.isEmpty ? "Problems: none" : "Problems (\(Figures.grouped(total)), most serious first):")
        for group in groups { lines.append("  " + Self.line(group)) }
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
        // File and epoch names are the district's: a line break in one must not forge a line.
        return lines.map(printable).joined(separator: "\n") + "\n"
    }

    /// `40 rows: 38 accepted, 2 rejected, 0 with warnings`.
    static func counts(rows: Int, accepted: Int, rejected: Int, warned: Int) -> String {
        "\(Figures.rows(rows)): \(Figures.grouped(accepted)) accepted, \(Figures.grouped(rejected)) rejected, "
            + "\(Figures.grouped(warned)) with warnings"
    }

    /// One group of problems for a person: `REJECTED  students.csv column 4: value.date,
    /// 1,765 times, lines 4, 9, 17 and 1,762 more: <message>. What to do: <advice>`.
    static func line(_ group: ProblemGroup) -> String {
        let label = switch group.severity {
        case .fatal: "FATAL   "
        case .row: "REJECTED"
        case .warning: "WARNING "
        }
        var place = group.file
        if group.column > 0 { place += " column \(group.column)" }
        var what = group.code
        if group.count > 1 { what += ", \(Figures.grouped(group.count)) times" }
        if !group.lines.isEmpty {
            let listed = group.lines.map(Figures.grouped)
            let more = group.count - group.lines.count
            if more > 0 {
                what += ", line\(listed.count == 1 ? "" : "s") \(listed.joined(separator: ", ")) and \(Figures.grouped(more)) more"
            } else if listed.count == 1 {
                what += ", line \(listed[0])"
            } else {
                what += ", lines \(listed.dropLast().joined(separator: ", ")) and \(listed[listed.count - 1])"
            }
        }
        return "\(label)  \(place): \(what): \(group.message). What to do: \(ProblemAdvice.text(for: group.code))"
    }
}
