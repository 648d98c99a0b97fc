import EpochFS
@testable import EpochPipeline
import EpochStore
import Ingest
import Testing

/// The processor's decisions, over snapshots: order, holds and room.
@Suite struct ProcessingRulesTests {
    static let clever = ProfileLibrary.builtIn.first { $0.name == "clever" }!

    static func epoch(_ name: String, ino: UInt64 = 10, released: Bool = false, outcome: String? = nil,
                      result: String? = nil) -> EpochRecord {
        EpochRecord(ino: InodeNumber(rawValue: ino), district: 1, name: name, state: outcome == nil ? .processing : .published,
                    profile: outcome == nil ? nil : "clever", outcome: outcome, result: result, released: released)
    }

    /// A Clever report with `students` students, each enrolled once.
    static func report(students: Int, delta: Bool = false, timedOut: Bool = false) -> ValidationReport {
        var report = ValidationReport(profile: "clever", problems: ProblemLog(), files: [
            FileReport(path: "schools.csv", size: 10, role: "schools", rows: 2, accepted: 2),
            FileReport(path: "students.csv", size: 10, role: "students", rows: students, accepted: students),
            FileReport(path: "enrollments.csv", size: 10, role: "enrollments", rows: students, accepted: students),
        ], isDelta: delta)
        report.timedOut = timedOut
        return report
    }

    /// A published epoch of `students` whose processing succeeded.
    static func published(_ name: String, ino: UInt64, students: Int) throws -> EpochRecord {
        let result = ProcessingResult(
            district: "alpha", epoch: name, outcome: "succeeded", reason: "", profile: "clever", set: "bulk",
            files: report(students: students).files.map {
                .init(path: $0.path, size: $0.size, sha256: "ab", role: $0.role, accepted: $0.accepted)
            },
            problems: [], unreportedProblems: [:],
            timings: .init(sealed: "", processingStarted: "", published: "", validationSeconds: 0))
        return epoch(name, ino: ino, outcome: "succeeded", result: try result.json())
    }

    static func verdict(_ record: EpochRecord, _ report: ValidationReport, published: [EpochRecord]) -> ProcessingRules.Verdict {
        ProcessingRules.verdict(.init(record: record, district: "alpha", profile: clever, report: report, published: published,
                                      validationTimeoutSeconds: 1800))
    }

    static func outcome(_ verdict: ProcessingRules.Verdict) -> Processor.Outcome? {
        if case .publish(let publication) = verdict { return publication.outcome }
        return nil
    }

    static func held(_ verdict: ProcessingRules.Verdict) -> String? {
        if case .leave(let leave) = verdict, leave.state == .held { return leave.reason }
        return nil
    }

    @Test func anOlderBulkSetIsSupersededAndAnOlderDeltaSetHeldUnlessReleased() throws {
        let newer = try Self.published("1764460800", ino: 5, students: 3)
        let superseded = Self.verdict(Self.epoch("1764374400"), Self.report(students: 3), published: [newer])
        guard case .publish(let publication) = superseded else { Issue.record("\(superseded)"); return }
        #expect(publication.outcome == .superseded && publication.reason.contains("1764460800") && publication.rule == nil)
        let delta = Self.verdict(Self.epoch("1764374400"), Self.report(students: 3, delta: true), published: [newer])
        #expect(Self.held(delta)?.contains("a delta set older than 1764460800") == true)
        #expect(Self.outcome(Self.verdict(Self.epoch("1764374400", released: true), Self.report(students: 3, delta: true),
                                          published: [newer])) == .succeeded)
        // A failed newer set, or one of another profile, orders nothing.
        var failed = newer
        failed.outcome = "failed"
        #expect(Self.outcome(Self.verdict(Self.epoch("1764374400"), Self.report(students: 3), published: [failed])) == .succeeded)
    }

    @Test func aTimeoutFailsTheSetWhateverItsOrder() throws {
        let newer = try Self.published("1764460800", ino: 5, students: 3)
        let verdict = Self.verdict(Self.epoch("1764374400"), Self.report(students: 3, delta: true, timedOut: true), published: [newer])
        guard case .publish(let publication) = verdict else { Issue.record("\(verdict)"); return }
        #expect(publication.outcome == .failed && publication.reason.contains("time limit (1800 s)"))
    }

    @Test func aBulkSetDroppingHalfWhatTheLastOneBeforeItHadIsHeldUnlessReleased() throws {
        let before = try Self.published("1764374400", ino: 5, students: 200)
        let drop = Self.verdict(Self.epoch("1764460800"), Self.report(students: 80), published: [before])
        #expect(Self.held(drop)?.contains("enrollments") == true)
        #expect(Self.held(drop)?.hasSuffix("(release with: epochfs epochs process alpha/1764460800)") == true)
        #expect(Self.outcome(Self.verdict(Self.epoch("1764460800", released: true), Self.report(students: 80),
                                          published: [before])) == .succeeded)
        #expect(Self.outcome(Self.verdict(Self.epoch("1764460800"), Self.report(students: 150), published: [before])) == .succeeded)
        // The baseline is the last set before this one, not a later one.
        let later = try Self.published("1764547200", ino: 6, students: 200)
        #expect(ProcessingRules.baselineRows([later], before: 1_764_460_800) == nil)
    }

    @Test func publishedEpochsMayHoldUpToMaxProcessedBytes() {
        #expect(ProcessingRules.processedBytes(received: 40, kept: 60, limit: 100, district: "alpha", epoch: "e") == nil)
        let held = ProcessingRules.processedBytes(received: 41, kept: 60, limit: 100, district: "alpha", epoch: "e")
        #expect(held?.state == .held && held?.reason.contains("max_processed_bytes") == true)
        #expect(ProcessingRules.processedBytes(received: 1, kept: 200, limit: 100, district: "alpha", epoch: "e") != nil)
    }

    @Test func scratchSpaceIsCheckedBeforeAnythingIsWritten() {
        #expect(ProcessingRules.scratchSpace(needing: nil, room: 0, for: "unpack this archive", district: "a", epoch: "e") == nil)
        #expect(ProcessingRules.scratchSpace(needing: 10, room: 10, for: "unpack this archive", district: "a", epoch: "e") == nil)
        let held = ProcessingRules.scratchSpace(needing: (3 << 20) + 1, room: 1 << 20, for: "give the hand-off its copies",
                                                district: "a", epoch: "e", profile: "clever")
        #expect(held == .held("the store's disk has too little free space to give the hand-off its copies (4 MiB needed, 1 MiB can be used): "
                              + "free space on it, then epochfs epochs process a/e", profile: "clever"))
    }

    @Test func aProfileStaffNamedIsUsedAsItIs() {
        var record = Self.epoch("1764374400", released: true)
        record.profile = "clever"
        guard case .proceed(let profile) = ProcessingRules.profile(for: record, files: [], profiles: [Self.clever],
                                                                   markers: FileRole.defaultMarkers) else {
            Issue.record("not used")
            return
        }
        #expect(profile.name == "clever")
        record.profile = "nosuch"
        guard case .leave(let leave) = ProcessingRules.profile(for: record, files: [], profiles: [Self.clever],
                                                               markers: FileRole.defaultMarkers) else {
            Issue.record("used a profile that does not exist")
            return
        }
        #expect(leave == .unrecognised("no profile named 'nosuch' (see: epochfs profiles list)"))
        #expect(leave.event == "epoch.unrecognised")
    }

    @Test func anEpochIsHeldAfterThreeStartsAndAFailedHandOffFailsTheSet() {
        var record = Self.epoch("1764374400")
        record.attempts = 2
        #expect(ProcessingRules.attempts(record, maximum: 3) == nil)
        record.attempts = 3
        #expect(ProcessingRules.attempts(record, maximum: 3)?.reason.hasPrefix("processing started 3 times") == true)
        let succeeded = ProcessingRules.Publication(outcome: .succeeded, reason: "", rule: nil)
        let ran = HandOffResult(command: ["/bin/x"], exitCode: 0, timedOut: false, seconds: 1, output: "")
        #expect(ProcessingRules.afterHandOff(succeeded, ran) == succeeded)
        var failing = ran
        failing.exitCode = 2
        let failed = ProcessingRules.afterHandOff(succeeded, failing)
        #expect(failed.outcome == .failed && failed.reason == "the hand-off command exited with 2 after 1.0 s")
    }
}
