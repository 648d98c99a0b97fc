import EpochFS
import EpochStore
import Foundation
import Ingest
import Logging

/// Processes one sealed epoch: reads its files straight from the blob store (never through
/// the mount, which would deadlock the daemon), recognises the set, validates it, decides the
/// outcome, hands it off and publishes it — or leaves it in `upload/` as unrecognised or held.
struct Processor {
    let fs: FileSystem
    let settings: PipelineSettings
    let profiles: [Profile]
    let notifier: StaffNotifier
    let logger: Logger
    /// `<store>/work`: private scratch space (unzipped sets, the hand-off's view of the files).
    let workRoot: String

    enum Outcome: String, Codable {
        case succeeded, failed, superseded
    }

    func process(_ record: EpochRecord) throws {
        let started = currentTime()
        guard let snapshot = try fs.epochSnapshot(record.ino) else { return }
        let district = snapshot.district
        if record.state == .processing {
            logger.notice("processing again after a restart", metadata: ["district": "\(district.name)", "epoch": "\(record.name)"])
        }
        try fs.setEpochState(record.ino, .processing, reason: record.reason, profile: record.profile)

        let work = "\(workRoot)/\(record.ino)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }

        // The received files, read from their blobs.
        let received = snapshot.entries.filter { !$0.record.isDirectory }.compactMap { entry -> (SetFile, String)? in
            guard let hash = entry.record.blob else { return nil }
            return (SetFile(path: entry.path, location: fs.blobs.blobPath(hash), size: entry.record.size), hash)
        }
        var files = received.map(\.0)
        var preProblems: [Problem] = []
        let zip = ZipSet.holdsSet(files)
        if let zip {
            try FileManager.default.createDirectory(atPath: work + "/unzipped", withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            let unzipped = try ZipSet.extract(zip, into: work + "/unzipped")
            files = unzipped.files
            preProblems = unzipped.problems
        }

        // Recognise (or take the profile staff named).
        let profile: Profile
        if record.released, let name = record.profile {
            guard let named = profiles.first(where: { $0.name == name }) else {
                try leave(record, district: district, state: .unrecognised, event: "epoch.unrecognised",
                          reason: "no profile named '\(name)' (see: epochfs profiles list)")
                return
            }
            profile = named
        } else {
            switch Recogniser.recognise(files, profiles: profiles) {
            case .recognised(let found):
                profile = found
            case .unrecognised(let reason):
                try leave(record, district: district, state: .unrecognised, event: "epoch.unrecognised", reason: reason)
                return
            }
        }

        let validationStarted = currentTime()
        var report = try Validator.validate(files, profile: profile)
        for problem in preProblems {
            report.problems.add(problem)
            if problem.severity == .fatal { report.fatal = true }
        }
        let validationSeconds = Double(currentTime() - validationStarted) / 1e9

        // Order: a bulk set older than one already processed would roll the district back.
        let time = Self.time(ofEpochNamed: record.name)
        let processed = try fs.epochRecords(district: district.id, states: [.published])
            .filter { $0.profile == profile.name && $0.outcome == Outcome.succeeded.rawValue && $0.ino != record.ino }
        let newer = processed.first { Self.time(ofEpochNamed: $0.name) > time }
        var outcome: Outcome
        var reason: String
        if let newer, !report.isDelta {
            outcome = .superseded
            reason = "a newer bulk set (\(newer.name)) of \(profile.name) was already processed"
        } else if let newer, !record.released {
            try leave(record, district: district, state: .held, event: "epoch.held", profile: profile.name,
                      reason: "a delta set older than \(newer.name), which was already processed: applying it could lose changes")
            return
        } else if report.fatal {
            outcome = .failed
            reason = "validation found problems that make the set unusable"
        } else {
            outcome = .succeeded
            reason = ""
        }

        // A bulk set that drops much of what the last one had is held for a person to look at.
        if outcome == .succeeded && !report.isDelta && !record.released,
           let previous = processed.max(by: { ($0.published ?? 0) < ($1.published ?? 0) }),
           let rows = Self.rowCounts(previous.result) {
            let drops = Validator.massDrops(report, previousRows: rows, profile: profile)
            if !drops.isEmpty {
                try leave(record, district: district, state: .held, event: "epoch.held", profile: profile.name,
                          reason: drops.map { "\($0.file): \($0.message)" }.joined(separator: "; ") + " (release with: epochfs epochs process \(district.name)/\(record.name))")
                return
            }
        }

        var handOff: HandOffResult?
        if outcome == .succeeded, let command = profile.handOff {
            handOff = try HandOffRunner.run(command, files: files, district: district.name, epoch: record, profile: profile.name,
                                      isDelta: report.isDelta, work: work)
            if let handOff, !handOff.succeeded {
                outcome = .failed
                reason = handOff.timedOut ? "the hand-off command timed out" : "the hand-off command exited with \(handOff.exitCode)"
            }
        }

        let hashes = Dictionary(received.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
        let result = ProcessingResult(
            district: district.name, epoch: record.name, outcome: outcome.rawValue, reason: reason,
            profile: profile.name, set: report.isDelta ? "delta" : "bulk",
            files: received.map { file, hash in
                let fileReport = report.files.first { $0.path == file.path }
                return ProcessingResult.File(path: file.path, size: file.size, sha256: hash, role: fileReport?.role,
                                             mode: fileReport?.mode, rows: fileReport?.rows, accepted: fileReport?.accepted,
                                             rejected: fileReport?.rejected, warned: fileReport?.warned)
            },
            unzipped: zip == nil ? nil : report.files,
            problems: report.problems.problems, unreportedProblems: report.problems.unreported,
            handOff: handOff,
            timings: .init(sealed: Self.iso(record.sealed), processingStarted: Self.iso(started), published: "",
                           validationSeconds: validationSeconds))
        try publish(record, district: district, result: result, hashes: hashes, outcome: outcome)
        if outcome == .failed {
            notifier.send(.init(event: "epoch.failed", district: district.name, epoch: record.name, state: "published",
                                reason: reason, time: Self.iso(currentTime())))
        }
    }

    /// Leaves a sealed epoch in `upload/` for staff, and tells them.
    private func leave(_ record: EpochRecord, district: DistrictRecord, state: EpochState, event: String,
                       profile: String? = nil, reason: String) throws {
        try fs.setEpochState(record.ino, state, reason: reason, profile: profile)
        notifier.send(.init(event: event, district: district.name, epoch: record.name, state: state.rawValue,
                            reason: reason, time: Self.iso(currentTime())))
    }

    private func publish(_ record: EpochRecord, district: DistrictRecord, result: ProcessingResult,
                         hashes: [String: String], outcome: Outcome) throws {
        var result = result
        result.timings.published = Self.iso(currentTime())
        let json = try result.json()
        let files = [
            InsertedFile(name: "processing-\(outcome.rawValue).log", bytes: Array(result.logText().utf8)),
            InsertedFile(name: "processing.json", bytes: Array(json.utf8)),
            InsertedFile(name: "SHA256SUMS", bytes: Array(ProcessingResult.checksums(hashes).utf8)),
        ]
        let name = try fs.publishEpoch(record.ino, inserting: files, outcome: outcome.rawValue,
                                       profile: result.profile, result: json)
        logger.notice("epoch published", metadata: [
            "district": "\(district.name)", "epoch": "\(record.name)", "published_as": "\(name)",
            "outcome": "\(outcome.rawValue)", "profile": "\(result.profile)", "files": "\(result.files.count)",
            "bytes": "\(result.files.reduce(0) { $0 + $1.size })"])
    }

    /// The time in an epoch's name (a published one may carry a `.2`-style suffix); 0 for a
    /// name that is not a date-time (processed by hand).
    static func time(ofEpochNamed name: String) -> Int64 {
        let base = name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
        return (try? EpochName(parsing: base, now: Int64.max / 2))?.seconds ?? 0
    }

    /// Row counts by role from a previous processing.json.
    static func rowCounts(_ json: String?) -> [String: Int]? {
        guard let json, let result = try? JSONDecoder().decode(ProcessingResult.self, from: Data(json.utf8)) else { return nil }
        var rows: [String: Int] = [:]
        for file in result.unzipped ?? [] { if let role = file.role { rows[role] = file.rows } }
        for file in result.files { if let role = file.role, let count = file.rows { rows[role] = count } }
        return rows
    }

    static func iso(_ time: Nanoseconds?) -> String {
        guard let time else { return "" }
        let date = Date(timeIntervalSince1970: Double(time) / 1e9)
        return ISO8601DateFormatter().string(from: date)
    }
}
