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
        guard let snapshot = try fs.epochSnapshot(record.ino) else {
            throw AdminError("the epoch is no longer tracked by the filesystem (its district or directory is gone)")
        }
        let district = snapshot.district
        if record.state == .processing {
            logger.notice("processing again after a restart", metadata: ["district": "\(district.name)", "epoch": "\(record.name)"])
        }
        try fs.startProcessing(record.ino)
        if let handedOff = record.handedOff {
            // The run before the restart handed the set off and recorded what came of it; only
            // publishing was left. The set is never handed off twice.
            let result = try JSONDecoder().decode(ProcessingResult.self, from: Data(handedOff.utf8))
            guard let outcome = Outcome(rawValue: result.outcome) else {
                throw AdminError("the recorded result of its hand-off has an unknown outcome '\(result.outcome)'")
            }
            logger.notice("publishing the recorded result of a finished hand-off",
                          metadata: ["district": "\(district.name)", "epoch": "\(record.name)"])
            try finish(record, district: district, result: result, outcome: outcome, started: started)
            return
        }

        let work = "\(workRoot)/\(record.ino)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }

        let received = EpochPipeline.receivedFiles(snapshot, fs: fs)
        // Published, the epoch joins what its district keeps in upload-processed/.
        let size = received.reduce(Int64(0)) { $0 + $1.file.size }
        let kept = try fs.processedBytes(district: district.id)
        if size > fs.limits.maxProcessedBytes - min(kept, fs.limits.maxProcessedBytes) {
            try leave(record, district: district, state: .held, event: "epoch.held",
                      reason: "upload-processed/ already holds \(Self.mib(kept)) of this district's published epochs; with this one "
                          + "(\(Self.mib(size))) it would pass the limit of \(Self.mib(fs.limits.maxProcessedBytes)) (max_processed_bytes): "
                          + "delete older published epochs (or wait for retention to), then epochfs epochs process \(district.name)/\(record.name)")
            return
        }
        // Where each received file will be once published: one with the name of a file
        // publishing inserts is renamed aside.
        let layout = PublishedLayout(inserting: PublishedLayout.insertedNames,
                                     topLevel: Set(snapshot.entries.filter { !$0.path.contains("/") }.map(\.path)))
        let publishedPath = layout.publishedPath
        var files = received.map(\.file)
        var preProblems: [Problem] = []
        let zip = ZipSet.holdsSet(files, markers: settings.markers)
        if let zip {
            // Unzipped files take room on the store's disk that every district's uploads share.
            let room = try scratchRoom()
            if let declared = ZipSet.declaredSize(zip), declared > room {
                try leaveForSpace(record, district: district, needing: declared, room: room, for: "unpack this archive")
                return
            }
            try FileManager.default.createDirectory(atPath: work + "/unzipped", withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            var limits = ZipSet.Limits()
            limits.maxTotalBytes = min(limits.maxTotalBytes, room)
            let unzipped = try ZipSet.extract(zip, into: work + "/unzipped", limits: limits)
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
            switch Recogniser.recognise(files, profiles: profiles, markers: settings.markers) {
            case .recognised(let found):
                profile = found
            case .unrecognised(let reason):
                try leave(record, district: district, state: .unrecognised, event: "epoch.unrecognised", reason: reason)
                return
            }
        }

        let validationStarted = currentTime()
        var report = try Validator.validate(files, profile: profile, timeLimit: .seconds(settings.validationTimeoutSeconds),
                                            strictness: settings.strictness, markers: settings.markers)
        for problem in preProblems {
            report.problems.add(problem)
            if problem.severity == .fatal { report.fatal = true }
        }
        let validationSeconds = Double(currentTime() - validationStarted) / 1e9

        // Order: a bulk set older than one already processed would roll the district back.
        let time = Self.time(of: record)
        let processed = try fs.epochRecords(district: district.id, states: [.published])
            .filter { $0.profile == profile.name && $0.outcome == Outcome.succeeded.rawValue && $0.ino != record.ino }
        let newer = processed.first { Self.time(of: $0) > time }
        var outcome: Outcome
        var reason: String
        var decision: OutcomeRule.Decision?
        if report.timedOut {
            // What was not read is unknown: neither handed off nor held, whatever its order.
            outcome = .failed
            reason = "checking the files took longer than the time limit (\(Self.seconds(settings.validationTimeoutSeconds))), "
                + "so processing stopped; nothing was handed off"
        } else if let newer, !report.isDelta {
            outcome = .superseded
            reason = "a newer bulk set (\(newer.name)) of \(profile.name) was already processed"
        } else if let newer, !record.released {
            try leave(record, district: district, state: .held, event: "epoch.held", profile: profile.name,
                      reason: "a delta set older than \(newer.name), which was already processed: applying it could lose changes")
            return
        } else {
            let decided = OutcomeRule.decide(report, profile: profile)
            decision = decided
            outcome = decided.succeeded ? .succeeded : .failed
            reason = decided.succeeded ? "" : decided.detail
        }

        // A bulk set that drops much of what the last bulk set before it had is held for a
        // person to look at.
        let baseline = processed.compactMap { epoch in Self.bulkRowCounts(epoch.result).map { (epoch, $0) } }
            .filter { Self.time(of: $0.0) < time }
            .max { Self.time(of: $0.0) < Self.time(of: $1.0) }
        if outcome == .succeeded && !report.isDelta && !record.released, let (_, rows) = baseline {
            let drops = Validator.massDrops(report, previousRows: rows, profile: profile)
            if !drops.isEmpty {
                try leave(record, district: district, state: .held, event: "epoch.held", profile: profile.name,
                          reason: drops.map { "\($0.file): \($0.message)" }.joined(separator: "; ") + " (release with: epochfs epochs process \(district.name)/\(record.name))")
                return
            }
        }

        var handOff: HandOffResult?
        if outcome == .succeeded, let command = profile.handOff {
            // The command gets copies of the files, in scratch space on the store's disk.
            let copies = files.reduce(Int64(0)) { $0 + $1.size }
            let room = try scratchRoom()
            if copies > room {
                try leaveForSpace(record, district: district, needing: copies, room: room, for: "give the hand-off its copies",
                                  profile: profile.name)
                return
            }
            handOff = try HandOffRunner.run(command, files: files, district: district.name, epoch: record, profile: profile.name,
                                      isDelta: report.isDelta, work: work)
            if let handOff, !handOff.succeeded {
                outcome = .failed
                reason = "the hand-off command \(handOff.ending)"
            }
        }

        let result = ProcessingResult(
            district: district.name, epoch: record.name, outcome: outcome.rawValue, reason: reason,
            profile: profile.name, set: report.isDelta ? "delta" : "bulk",
            files: received.map { file, hash in
                let fileReport = report.files.first { $0.path == file.path }
                return ProcessingResult.File(path: publishedPath(file.path), size: file.size, sha256: hash, role: fileReport?.role,
                                             mode: fileReport?.mode, rows: fileReport?.rows, accepted: fileReport?.accepted,
                                             rejected: fileReport?.rejected, warned: fileReport?.warned)
            },
            markers: received.map(\.file.path).filter { FileRole.of($0, markers: settings.markers) == .marker }.map(publishedPath),
            unzipped: zip == nil ? nil : report.files,
            totals: RowTotals(OutcomeRule.dataFiles(report)), rule: decision,
            problems: report.problems.problems, unreportedProblems: report.problems.unreported,
            problemGroups: report.problems.groupsBySeverity,
            handOff: handOff,
            timings: .init(sealed: Self.iso(record.sealed), processingStarted: Self.iso(started), published: "",
                           validationSeconds: validationSeconds))
        if handOff != nil {
            // Durable before publishing: a crash in between must not hand the set off again.
            try fs.recordHandedOff(record.ino, result: try result.json())
        }
        try finish(record, district: district, result: result, outcome: outcome, started: started)
    }

    /// Publishes a processed epoch, counts it, and tells staff of a failure.
    private func finish(_ record: EpochRecord, district: DistrictRecord, result: ProcessingResult, outcome: Outcome,
                        started: Nanoseconds) throws {
        try publish(record, district: district, result: result, outcome: outcome)
        fs.metrics.processed(outcome: outcome.rawValue, seconds: Double(currentTime() - started) / 1e9)
        if outcome == .failed {
            notifier.send(.init(event: "epoch.failed", district: district.name, epoch: record.name, state: "published",
                                reason: result.reason, time: Self.iso(currentTime())))
        }
    }

    /// What the processing of one epoch may take of the store's disk for its scratch space
    /// (unzipped files, the hand-off's copies): the free space less what is kept free for
    /// every district's uploads and deletes, a twentieth of the disk and at least four times
    /// the space reserve.
    private func scratchRoom() throws -> Int64 {
        let disk = try Sys.filesystemStatus(fs.blobs.root)
        let size = Int64(clamping: disk.f_blocks) * Int64(clamping: disk.f_frsize)
        let free = Int64(clamping: disk.f_bavail) * Int64(clamping: disk.f_frsize)
        let keptFree = max(size / 20, 4 * (try fs.blobs.reserveSize()))
        return max(0, free - keptFree)
    }

    /// Holds an epoch whose processing needs more scratch space than the store's disk can
    /// give: the disk is the service's to free, not the district's fault.
    private func leaveForSpace(_ record: EpochRecord, district: DistrictRecord, needing: Int64, room: Int64, for what: String,
                               profile: String? = nil) throws {
        try leave(record, district: district, state: .held, event: "epoch.held", profile: profile,
                  reason: "the store's disk has too little free space to \(what) (\(Self.mib(needing)) needed, \(Self.mib(room)) can be used): "
                      + "free space on it, then epochfs epochs process \(district.name)/\(record.name)")
    }

    /// A size for a person, rounded up to whole MiB.
    static func mib(_ bytes: Int64) -> String { "\(bytes / (1 << 20) + (bytes % (1 << 20) == 0 ? 0 : 1)) MiB" }

    /// Leaves a sealed epoch in `upload/` for staff, and tells them.
    private func leave(_ record: EpochRecord, district: DistrictRecord, state: EpochState, event: String,
                       profile: String? = nil, reason: String) throws {
        switch state {
        case .unrecognised: try fs.unrecogniseEpoch(record.ino, reason: reason, profile: profile)
        default: try fs.holdEpoch(record.ino, reason: reason, profile: profile)
        }
        notifier.send(.init(event: event, district: district.name, epoch: record.name, state: state.rawValue,
                            reason: reason, time: Self.iso(currentTime())))
    }

    private func publish(_ record: EpochRecord, district: DistrictRecord, result: ProcessingResult,
                         outcome: Outcome) throws {
        var result = result
        result.timings.published = Self.iso(currentTime())
        let json = try result.json()
        let files = [
            InsertedFile(name: PublishedLayout.logName(outcome: outcome.rawValue), bytes: Array(result.logText().utf8)),
            InsertedFile(name: PublishedLayout.resultName, bytes: Array(json.utf8)),
            InsertedFile(name: PublishedLayout.checksumsName, bytes: Array(result.checksums().utf8)),
        ]
        let name = try fs.publishEpoch(record.ino, inserting: files, outcome: outcome.rawValue,
                                       profile: result.profile, result: json)
        logger.notice("epoch published", metadata: [
            "district": "\(district.name)", "epoch": "\(record.name)", "published_as": "\(name)",
            "outcome": "\(outcome.rawValue)", "profile": "\(result.profile)", "files": "\(result.files.count)",
            "bytes": "\(result.files.reduce(0) { $0 + $1.size })"])
    }

    /// The time an epoch stands for, in seconds: the one in its name (a published name may
    /// carry a `.2`-style suffix), or, for a name that is not a date-time (processed by
    /// hand), when it was sealed.
    static func time(of epoch: EpochRecord) -> Int64 {
        let base = epoch.name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? epoch.name
        if let name = try? EpochName(parsing: base, now: Int64.max / 2) { return name.seconds }
        return (epoch.sealed ?? 0) / 1_000_000_000
    }

    /// Rows accepted, by role, from the processing.json of a bulk set; nil for a delta set.
    static func bulkRowCounts(_ json: String?) -> [String: Int]? {
        guard let json, let result = try? JSONDecoder().decode(ProcessingResult.self, from: Data(json.utf8)),
              result.set == "bulk" else { return nil }
        var rows: [String: Int] = [:]
        for file in result.unzipped ?? [] { if let role = file.role { rows[role] = file.accepted } }
        for file in result.files { if let role = file.role, let count = file.accepted { rows[role] = count } }
        return rows
    }

    /// `1800 s`, `0.5 s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int64(value)) s" : "\(value) s"
    }

    static func iso(_ time: Nanoseconds?) -> String {
        guard let time else { return "" }
        let date = Date(timeIntervalSince1970: Double(time) / 1e9)
        return ISO8601DateFormatter().string(from: date)
    }
}
