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
    /// The filesystem's clock: the times a run records, and how long it took.
    var clock: WallClock { fs.clock }

    enum Outcome: String, Codable, Sendable {
        case succeeded, failed, superseded
    }

    /// Processes one sealed (or, after a crash, `processing`) epoch to its end: published,
    /// or left in `upload/` for staff.
    func process(_ queued: EpochRecord) throws {
        let started = clock.now()
        // Everything below is decided from this one snapshot, taken as the epoch is marked.
        let epoch = try fs.startProcessing(queued.ino)
        let (record, district) = (epoch.record, epoch.district)
        if queued.state == .processing {
            logger.notice("processing again after a restart", metadata: ["district": "\(district.name)", "epoch": "\(record.name)"])
        }
        if let handedOff = record.handedOff {
            try publishRecorded(handedOff, epoch, started: started)
            return
        }

        let work = "\(workRoot)/\(record.ino)"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }

        let received = EpochPipeline.receivedFiles(epoch.entries, blobs: fs.blobs)
        if let leave = ProcessingRules.processedBytes(received: received.reduce(Int64(0)) { $0 + $1.file.size },
                                                      kept: epoch.processedBytes,
                                                      limit: fs.limits.maxProcessedBytes, district: district.name, epoch: record.name) {
            return try self.leave(record, district: district, leave)
        }
        let set: ReceivedSet
        switch try unpack(received.map(\.file), record, district: district, work: work) {
        case .proceed(let unpacked): set = unpacked
        case .leave(let leave): return try self.leave(record, district: district, leave)
        }
        let profile: Profile
        switch ProcessingRules.profile(for: record, files: set.files, profiles: profiles, markers: settings.markers) {
        case .proceed(let chosen): profile = chosen
        case .leave(let leave): return try self.leave(record, district: district, leave)
        }
        let (report, validationSeconds) = try validate(set, profile: profile)
        let verdict = ProcessingRules.verdict(.init(
            record: record, district: district.name, profile: profile, report: report, published: epoch.published,
            validationTimeoutSeconds: settings.validationTimeoutSeconds))
        var publication: ProcessingRules.Publication
        switch verdict {
        case .publish(let decided): publication = decided
        case .leave(let leave): return try self.leave(record, district: district, leave)
        }
        var handOff: HandOffResult?
        if publication.outcome == .succeeded, let command = profile.handOff {
            switch try runHandOff(command, set, record, district: district, profile: profile, isDelta: report.isDelta, work: work) {
            case .proceed(let ran): handOff = ran
            case .leave(let leave): return try self.leave(record, district: district, leave)
            }
            publication = ProcessingRules.afterHandOff(publication, handOff)
        }

        // The names the received files have once published, for processing.json and
        // SHA256SUMS and for publishing alike.
        let layout = epoch.publishedLayout(outcome: publication.outcome.rawValue)
        let result = self.result(record, district: district, received: received, layout: layout, set: set,
                                 profile: profile, report: report,
                                 publication: publication, handOff: handOff, started: started,
                                 validationSeconds: validationSeconds)
        if handOff != nil {
            // Durable before publishing: a crash in between must not hand the set off again.
            try fs.recordHandedOff(record.ino, result: try result.json())
        }
        try publish(epoch, layout: layout, result: result, outcome: publication.outcome, started: started)
    }

    /// The run before the restart handed the set off and recorded what came of it; only
    /// publishing was left. The set is never handed off twice.
    private func publishRecorded(_ handedOff: String, _ epoch: ProcessingSnapshot, started: Nanoseconds) throws {
        let result = try JSONDecoder().decode(ProcessingResult.self, from: Data(handedOff.utf8))
        guard let outcome = Outcome(rawValue: result.outcome) else {
            throw AdminError("the recorded result of its hand-off has an unknown outcome '\(result.outcome)'")
        }
        logger.notice("publishing the recorded result of a finished hand-off",
                      metadata: ["district": "\(epoch.district.name)", "epoch": "\(epoch.record.name)"])
        let layout = epoch.publishedLayout(outcome: outcome.rawValue)
        try publish(epoch, layout: layout, result: result, outcome: outcome, started: started)
    }

    /// The files a set is validated as: those received, or those of the one zip archive they
    /// are, unpacked into scratch space (with what unpacking found wrong).
    struct ReceivedSet {
        var files: [SetFile]
        /// The archive the files came from; nil when the set was not zipped.
        var zip: SetFile?
        var problems: [Problem] = []
    }

    /// Unpacks a zipped set into `work`, bounded by the scratch space there is; a set that is
    /// not zipped is used as received.
    private func unpack(_ files: [SetFile], _ record: EpochRecord, district: DistrictRecord,
                        work: String) throws -> ProcessingRules.Step<ReceivedSet> {
        guard let zip = ZipSet.holdsSet(files, markers: settings.markers) else { return .proceed(ReceivedSet(files: files)) }
        // Unzipped files take room on the store's disk that every district's uploads share.
        let room = try scratchRoom()
        if let leave = ProcessingRules.scratchSpace(needing: ZipSet.declaredSize(zip), room: room, for: "unpack this archive",
                                                    district: district.name, epoch: record.name) {
            return .leave(leave)
        }
        try FileManager.default.createDirectory(atPath: work + "/unzipped", withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        var limits = ZipSet.Limits()
        limits.maxTotalBytes = min(limits.maxTotalBytes, room)
        let unzipped = try ZipSet.extract(zip, into: work + "/unzipped", limits: limits)
        return .proceed(ReceivedSet(files: unzipped.files, zip: zip, problems: unzipped.problems))
    }

    /// Runs the profile's hand-off command on copies of the files, in scratch space on the
    /// store's disk, if there is room for them.
    private func runHandOff(_ command: HandOff, _ set: ReceivedSet, _ record: EpochRecord, district: DistrictRecord,
                            profile: Profile, isDelta: Bool, work: String) throws -> ProcessingRules.Step<HandOffResult> {
        if let leave = ProcessingRules.scratchSpace(needing: set.files.reduce(Int64(0)) { $0 + $1.size }, room: try scratchRoom(),
                                                    for: "give the hand-off its copies", district: district.name,
                                                    epoch: record.name, profile: profile.name) {
            return .leave(leave)
        }
        return .proceed(try HandOffRunner.run(command, files: set.files, district: district.name, epoch: record,
                                              profile: profile.name, isDelta: isDelta, work: work))
    }

    /// Validates the set with `profile`, within the time limit; the problems unpacking found
    /// are the set's too.
    private func validate(_ set: ReceivedSet, profile: Profile) throws -> (ValidationReport, seconds: Double) {
        let validationStarted = clock.now()
        var report = try Validator.validate(set.files, profile: profile, timeLimit: .seconds(settings.validationTimeoutSeconds),
                                            strictness: settings.strictness, markers: settings.markers)
        for problem in set.problems {
            report.problems.add(problem)
            if problem.severity == .fatal { report.fatal = true }
        }
        return (report, Double(clock.now() - validationStarted) / 1e9)
    }

    /// processing.json of a processed set, under the names its files have once published.
    private func result(_ record: EpochRecord, district: DistrictRecord, received: [(file: SetFile, hash: String)],
                        layout: PublishedLayout, set: ReceivedSet, profile: Profile, report: ValidationReport,
                        publication: ProcessingRules.Publication, handOff: HandOffResult?, started: Nanoseconds,
                        validationSeconds: Double) -> ProcessingResult {
        ProcessingResult(
            district: district.name, epoch: record.name, outcome: publication.outcome.rawValue, reason: publication.reason,
            profile: profile.name, set: report.isDelta ? "delta" : "bulk",
            files: received.map { file, hash in
                let fileReport = report.files.first { $0.path == file.path }
                return ProcessingResult.File(path: layout.publishedPath(file.path), size: file.size, sha256: hash,
                                             role: fileReport?.role, mode: fileReport?.mode, rows: fileReport?.rows,
                                             accepted: fileReport?.accepted, rejected: fileReport?.rejected,
                                             warned: fileReport?.warned)
            },
            markers: received.map(\.file.path).filter { FileRole.of($0, markers: settings.markers) == .marker }
                .map(layout.publishedPath),
            unzipped: set.zip == nil ? nil : report.files,
            totals: RowTotals(OutcomeRule.dataFiles(report)), rule: publication.rule,
            problems: report.problems.problems, unreportedProblems: report.problems.unreported,
            problemGroups: report.problems.groupsBySeverity,
            handOff: handOff,
            timings: .init(sealed: Self.iso(record.sealed), processingStarted: Self.iso(started), published: "",
                           validationSeconds: validationSeconds))
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

    /// Leaves a sealed epoch in `upload/` for staff, and tells them.
    private func leave(_ record: EpochRecord, district: DistrictRecord, _ leave: ProcessingRules.Leave) throws {
        switch leave.state {
        case .unrecognised: try fs.unrecogniseEpoch(record.ino, reason: leave.reason, profile: leave.profile)
        default: try fs.holdEpoch(record.ino, reason: leave.reason, profile: leave.profile)
        }
        notifier.send(.init(event: leave.event, district: district.name, epoch: record.name, state: leave.state.rawValue,
                            reason: leave.reason, time: Self.iso(clock.now())))
    }

    /// Publishes a processed epoch under the names `layout` gives, counts it, and tells staff
    /// of a failure.
    private func publish(_ epoch: ProcessingSnapshot, layout: PublishedLayout, result: ProcessingResult, outcome: Outcome,
                         started: Nanoseconds) throws {
        var result = result
        result.timings.published = Self.iso(clock.now())
        let json = try result.json()
        let files = [
            InsertedFile(name: PublishedLayout.logName(outcome: outcome.rawValue), bytes: Array(result.logText().utf8)),
            InsertedFile(name: PublishedLayout.resultName, bytes: Array(json.utf8)),
            InsertedFile(name: PublishedLayout.checksumsName, bytes: Array(result.checksums().utf8)),
        ]
        let name = try fs.publishEpoch(epoch, layout: layout, inserting: files, outcome: outcome.rawValue,
                                       profile: result.profile, result: json)
        let (record, district) = (epoch.record, epoch.district)
        logger.notice("epoch published", metadata: [
            "district": "\(district.name)", "epoch": "\(record.name)", "published_as": "\(name)",
            "outcome": "\(outcome.rawValue)", "profile": "\(result.profile)", "files": "\(result.files.count)",
            "bytes": "\(result.files.reduce(0) { $0 + $1.size })"])
        fs.metrics.processed(outcome: outcome.rawValue, seconds: Double(clock.now() - started) / 1e9)
        if outcome == .failed {
            notifier.send(.init(event: "epoch.failed", district: district.name, epoch: record.name, state: "published",
                                reason: result.reason, time: Self.iso(clock.now())))
        }
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
