import EpochFS
import EpochStore
import Foundation
import Ingest

/// What processing does with an epoch at each point where it may stop, decided from a
/// snapshot: pure functions, so the rules (order, holds, room, the profile staff named) are
/// tested without a store. `Processor` gathers the snapshots and carries the answers out.
enum ProcessingRules {
    /// Leave a sealed epoch in `upload/` for staff, and tell them.
    struct Leave: Equatable, Sendable {
        /// `held` or `unrecognised`.
        var state: EpochState
        var reason: String
        /// The profile it was recognised as, if it got that far.
        var profile: String?

        /// The staff event that tells of it.
        var event: String { state == .unrecognised ? "epoch.unrecognised" : "epoch.held" }

        static func held(_ reason: String, profile: String? = nil) -> Leave {
            Leave(state: .held, reason: reason, profile: profile)
        }

        static func unrecognised(_ reason: String) -> Leave {
            Leave(state: .unrecognised, reason: reason, profile: nil)
        }
    }

    /// Go on with a value, or leave the epoch for staff.
    enum Step<Value> {
        case proceed(Value)
        case leave(Leave)
    }

    /// An epoch whose processing started this many times without finishing is held: one that
    /// crashes the daemon must not crash it at every start.
    static func attempts(_ record: EpochRecord, maximum: Int) -> Leave? {
        guard record.attempts >= maximum else { return nil }
        return .held("processing started \(record.attempts) times without finishing (the daemon stopped or crashed while processing it): see the daemon's log, then epochfs epochs process")
    }

    /// Published, the epoch joins what its district keeps in upload-processed/: one that would
    /// take it past `limit` (max_processed_bytes) waits until older ones are deleted.
    static func processedBytes(received: Int64, kept: Int64, limit: Int64, district: String, epoch: String) -> Leave? {
        guard received > limit - min(kept, limit) else { return nil }
        return .held("upload-processed/ already holds \(mib(kept)) of this district's published epochs; with this one "
            + "(\(mib(received))) it would pass the limit of \(mib(limit)) (max_processed_bytes): "
            + "delete older published epochs (or wait for retention to), then epochfs epochs process \(district)/\(epoch)")
    }

    /// Scratch space on the store's disk (unzipped files, the hand-off's copies) is the
    /// service's to free, not the district's fault: an epoch that needs more than `room` is
    /// held before anything is written. `needing` nil: not known beforehand (the archive does
    /// not say), and extraction is bounded by `room` instead.
    static func scratchSpace(needing: Int64?, room: Int64, for what: String, district: String, epoch: String,
                             profile: String? = nil) -> Leave? {
        guard let needing, needing > room else { return nil }
        return .held("the store's disk has too little free space to \(what) (\(mib(needing)) needed, \(mib(room)) can be used): "
            + "free space on it, then epochfs epochs process \(district)/\(epoch)", profile: profile)
    }

    /// The profile to validate with: the one staff named when they released the epoch, else
    /// the one that recognises the files.
    static func profile(for record: EpochRecord, files: [SetFile], profiles: [Profile],
                        markers: Set<String>) -> Step<Profile> {
        if record.released, let name = record.profile {
            guard let named = profiles.first(where: { $0.name == name }) else {
                return .leave(.unrecognised("no profile named '\(name)' (see: epochfs profiles list)"))
            }
            return .proceed(named)
        }
        switch Recogniser.recognise(files, profiles: profiles, markers: markers) {
        case .recognised(let found): return .proceed(found)
        case .unrecognised(let reason): return .leave(.unrecognised(reason))
        }
    }

    /// How a validated set is published.
    struct Publication: Equatable, Sendable {
        var outcome: Processor.Outcome
        /// Why it failed or was superseded (empty when it succeeded).
        var reason: String
        /// The outcome rule's decision; nil when something else decided first.
        var rule: OutcomeRule.Decision?
    }

    /// What a validated set leads to, before any hand-off.
    enum Verdict: Equatable, Sendable {
        case publish(Publication)
        case leave(Leave)
    }

    /// What the verdict looks at: the epoch, its validation, and the district's published epochs.
    struct VerdictSnapshot: Sendable {
        var record: EpochRecord
        var district: String
        var profile: Profile
        var report: ValidationReport
        /// The district's published epochs (any profile, any outcome).
        var published: [EpochRecord]
        var validationTimeoutSeconds: Double
    }

    /// The order checks, then the outcome rule, then the mass drop: a timeout fails the set
    /// whatever its order; a bulk set older than one already processed successfully would
    /// roll the district back (superseded), and such a delta set could lose changes (held,
    /// unless released); a bulk set that drops much of what the last bulk set before it had
    /// is held for a person, if the rule lets it succeed and it was not released.
    static func verdict(_ snapshot: VerdictSnapshot) -> Verdict {
        let record = snapshot.record
        let report = snapshot.report
        let profile = snapshot.profile
        let time = Processor.time(of: record)
        let processed = snapshot.published.filter {
            $0.state == .published && $0.profile == profile.name && $0.outcome == Processor.Outcome.succeeded.rawValue
                && $0.ino != record.ino
        }
        let newer = processed.first { Processor.time(of: $0) > time }
        if report.timedOut {
            // What was not read is unknown: neither handed off nor held, whatever its order.
            return .publish(.init(outcome: .failed, reason: "checking the files took longer than the time limit "
                + "(\(Processor.seconds(snapshot.validationTimeoutSeconds))), so processing stopped; nothing was handed off"))
        }
        if let newer, !report.isDelta {
            return .publish(.init(outcome: .superseded,
                                  reason: "a newer bulk set (\(newer.name)) of \(profile.name) was already processed"))
        }
        if let newer, !record.released {
            return .leave(.held("a delta set older than \(newer.name), which was already processed: applying it could lose changes",
                                profile: profile.name))
        }
        let decided = OutcomeRule.decide(report, profile: profile)
        if decided.succeeded && !report.isDelta && !record.released,
           let rows = baselineRows(processed, before: time) {
            let drops = Validator.massDrops(report, previousRows: rows, profile: profile)
            if !drops.isEmpty {
                return .leave(.held(drops.map { "\($0.file): \($0.message)" }.joined(separator: "; ")
                    + " (release with: epochfs epochs process \(snapshot.district)/\(record.name))", profile: profile.name))
            }
        }
        return .publish(.init(outcome: decided.succeeded ? .succeeded : .failed, reason: decided.succeeded ? "" : decided.detail,
                              rule: decided))
    }

    /// Rows accepted by role in the last bulk set processed successfully before `time`; nil
    /// when there is none.
    static func baselineRows(_ processed: [EpochRecord], before time: Int64) -> [String: Int]? {
        processed.compactMap { epoch in Processor.bulkRowCounts(epoch.result).map { (epoch, $0) } }
            .filter { Processor.time(of: $0.0) < time }
            .max { Processor.time(of: $0.0) < Processor.time(of: $1.0) }?.1
    }

    /// A hand-off that did not succeed fails the set.
    static func afterHandOff(_ publication: Publication, _ handOff: HandOffResult?) -> Publication {
        guard let handOff, !handOff.succeeded else { return publication }
        var failed = publication
        failed.outcome = .failed
        failed.reason = "the hand-off command \(handOff.ending)"
        return failed
    }

    /// A size for a person, rounded up to whole MiB.
    static func mib(_ bytes: Int64) -> String { "\(bytes / (1 << 20) + (bytes % (1 << 20) == 0 ? 0 : 1)) MiB" }
}
