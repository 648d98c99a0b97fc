import EpochFS
@testable import EpochPipeline
import EpochStore
import Testing

/// The sealing rules of issue "Epochs", decided from what the filesystem reports.
@Suite struct SealDecisionTests {
    static let second: Nanoseconds = 1_000_000_000
    /// 2026-11-29T02:00:00Z, the time the epoch names below refer to.
    static let now: Nanoseconds = 1_795_917_600 * second

    /// Files are changed in the order given, one second apart, the last one `quietFor` ago.
    private func snapshot(_ name: String = "20261129T020000Z", files: [(String, staged: Bool, interrupted: Bool)],
                          openWriters: Int = 0, quietFor seconds: Int64) -> EpochSnapshot {
        let district = DistrictRecord(id: 1, name: "alpha", uid: 1, gid: 1, rootIno: 2, uploadIno: 3, processedIno: 4,
                                      created: 0, managedUser: false)
        let lastChange = Self.now - seconds * Self.second
        let entries = files.enumerated().map { index, file in
            EpochEntry(path: file.0, record: InodeRecord(
                ino: InodeNumber(rawValue: UInt64(100 + index)), parent: InodeNumber(rawValue: 10),
                name: String(file.0.split(separator: "/").last!), kind: .file, mode: 0o644, uid: 1, gid: 1,
                time: lastChange - Int64(files.count - 1 - index) * Self.second, blob: file.staged ? nil : "ab",
                staged: file.staged, interrupted: file.interrupted, zone: .uploadTree, district: 1))
        }
        return EpochSnapshot(
            record: EpochRecord(ino: InodeNumber(rawValue: 10), district: 1, name: name, state: .receiving),
            district: district, generation: 1, lastChange: lastChange,
            openWriters: openWriters, entries: entries)
    }

    private func decide(_ snapshot: EpochSnapshot, settle: Int64 = 300, stall: Int64 = 3600,
                        awaited: [String] = []) -> SealDecision {
        var settings = PipelineSettings()
        settings.settleSeconds = settle
        settings.stallSeconds = stall
        return SealDecision.decide(snapshot, settings: settings, now: Self.now, awaited: awaited)
    }

    private func isSeal(_ decision: SealDecision) -> Bool {
        if case .seal = decision { return true }
        return false
    }

    private func waitReason(_ decision: SealDecision) -> String? {
        if case .wait(let reason, _) = decision { return reason }
        return nil
    }

    @Test func aQuietCompleteEpochSealsAfterTheSettlePeriodOnly() {
        let files = [("students.csv", staged: false, interrupted: false)]
        #expect(waitReason(decide(snapshot(files: files, quietFor: 299)))?.hasPrefix("settling") == true)
        #expect(isSeal(decide(snapshot(files: files, quietFor: 300))))
    }

    @Test func aMarkerSealsAtOnceButNotPastAnOpenWriterOrAnInterruptedFile() {
        let marked = [("students.csv", staged: false, interrupted: false), (".done", staged: false, interrupted: false)]
        #expect(isSeal(decide(snapshot(files: marked, quietFor: 1))))
        // Not in the instant after its close: the client's next request may be on its way.
        #expect(waitReason(decide(snapshot(files: marked, quietFor: 0)))?.contains("just closed") == true)
        #expect(waitReason(decide(snapshot(files: marked, openWriters: 1, quietFor: 0)))?.contains("open for writing") == true)
        let cut = marked + [("schools.csv", staged: true, interrupted: true)]
        #expect(waitReason(decide(snapshot(files: cut, quietFor: 1000)))?.contains("interrupted upload of schools.csv") == true)
        // A marker still being written (staged) is not a clean close.
        let markerOpen = [("students.csv", staged: false, interrupted: false), ("_SUCCESS", staged: true, interrupted: true)]
        #expect(!isSeal(decide(snapshot(files: markerOpen, quietFor: 0))))
    }

    @Test func aMarkerSentBeforeOtherFilesDoesNotSealThem() {
        // `put -r` in directory order sends `.done` first.
        let markerFirst = [(".done", staged: false, interrupted: false), ("students.csv", staged: false, interrupted: false)]
        let waiting = waitReason(decide(snapshot(files: markerFirst, quietFor: 10)))
        #expect(waiting?.contains("older than other files") == true, "\(String(describing: waiting))")
        #expect(isSeal(decide(snapshot(files: markerFirst, quietFor: 300))), "the settle period still applies")
    }

    @Test func temporaryNamesBlockAndStrayFilesDoNot() {
        let temporary = [("students.csv.filepart", staged: false, interrupted: false)]
        #expect(waitReason(decide(snapshot(files: temporary, quietFor: 1000)))?.contains("temporary name") == true)
        for name in ["x.part", "x.tmp", ".in.students.csv"] {
            #expect(!isSeal(decide(snapshot(files: [(name, staged: false, interrupted: false)], quietFor: 1000))), "\(name)")
        }
        let stray = [("students.csv", staged: false, interrupted: false), ("Thumbs.db", staged: false, interrupted: false)]
        #expect(isSeal(decide(snapshot(files: stray, quietFor: 1000))))
    }

    @Test func anEpochBlockedPastTheStallLimitIsStalled() {
        let cut = [("students.csv", staged: true, interrupted: true)]
        #expect(waitReason(decide(snapshot(files: cut, quietFor: 3599))) != nil)
        guard case .stall(let reason) = decide(snapshot(files: cut, quietFor: 3600)) else {
            Issue.record("expected a stall")
            return
        }
        #expect(reason.contains("students.csv"))
    }

    @Test func aManifestNamingMissingFilesWaitsUpToItsLimitWithoutAMarker() {
        let files = [("manifest.csv", staged: false, interrupted: false), ("orgs.csv", staged: false, interrupted: false)]
        let waiting = decide(snapshot(files: files, quietFor: 400), awaited: ["users.csv"])
        #expect(waitReason(waiting)?.contains("users.csv") == true, "past the settle period: \(waiting)")
        #expect(isSeal(decide(snapshot(files: files, quietFor: 2 * 3600), awaited: ["users.csv"])))
        // A marker sent before other files says nothing about the end of the upload.
        let markerFirst = [(".done", staged: false, interrupted: false)] + files
        #expect(waitReason(decide(snapshot(files: markerFirst, quietFor: 400), awaited: ["users.csv"]))?.contains("users.csv") == true)
    }

    @Test func aMarkerClosedLastSealsThoughTheManifestNamesFilesThatNeverCame() {
        let files = [("manifest.csv", staged: false, interrupted: false), ("orgs.csv", staged: false, interrupted: false),
                     (".done", staged: false, interrupted: false)]
        guard case .seal(let reason) = decide(snapshot(files: files, quietFor: 1), awaited: ["users.csv"]) else {
            Issue.record("expected a seal")
            return
        }
        #expect(reason.contains(".done") && reason.contains("users.csv"), "\(reason)")
        // Not in the instant after its close, as with any marker.
        #expect(waitReason(decide(snapshot(files: files, quietFor: 0), awaited: ["users.csv"]))?.contains("just closed") == true)
    }

    @Test func badNamesAndEmptyEpochsNeverSeal() {
        let files = [("students.csv", staged: false, interrupted: false)]
        guard case .badName(let reason) = decide(snapshot("backup-old", files: files, quietFor: 1000)) else {
            Issue.record("expected a bad name")
            return
        }
        #expect(!reason.isEmpty)
        // A name far in the future is refused too.
        if case .seal = decide(snapshot("20301129T020000Z", files: files, quietFor: 1000)) {
            Issue.record("a name four years ahead sealed")
        }
        #expect(waitReason(decide(snapshot(files: [], quietFor: 100_000))) == "empty")
    }
}
