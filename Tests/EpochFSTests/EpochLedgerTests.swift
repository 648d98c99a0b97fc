import EpochFS
import EpochStore
import Testing

/// The epoch lifecycle's transition table, without a store.
@Suite struct EpochLedgerTests {
    static let now: Nanoseconds = 1_795_917_600_000_000_000

    /// A ledger in `phase`.
    static func ledger(_ phase: EpochLedger.Phase, withdrawn: Bool = false) -> EpochLedger {
        let (state, sealed): (EpochState, Nanoseconds?) = switch phase {
        case .receiving: (.receiving, nil)
        case .stalled: (.stalled, nil)
        case .badlyNamed: (.unrecognised, nil)
        case .sealed: (.sealed, now - 10)
        case .processing: (.processing, now - 10)
        case .unrecognised: (.unrecognised, now - 10)
        case .held: (.held, now - 10)
        case .published: (.published, now - 10)
        }
        return EpochLedger(EpochRecord(ino: InodeNumber(rawValue: 7), district: 1, name: "1764374400", state: state,
                                       sealed: sealed, withdrawn: withdrawn, attempts: 1))
    }

    /// Applies `event` with arguments that let it through when its phase allows it.
    static func apply(_ event: EpochLedger.Event, to ledger: inout EpochLedger) throws(EpochLedger.Refusal) -> EpochLedger.Commit? {
        switch event {
        case .resumeReceiving: try ledger.resumeReceiving()
        case .stall: try ledger.stall(reason: "temporary name x.part")
        case .markBadlyNamed: try ledger.markBadlyNamed(reason: "not a date-time")
        case .seal: try ledger.seal(now: now)
        case .startProcessing: try ledger.startProcessing()
        case .recordHandedOff: try ledger.recordHandedOff(result: "{}")
        case .hold: try ledger.hold(reason: "mass drop", profile: "clever")
        case .unrecognise: try ledger.unrecognise(reason: "no profile")
        case .release: try ledger.release(profile: nil, openWriters: 0, now: now)
        case .reprocess: try ledger.reprocess()
        case .publish: try ledger.publish(.init(name: "1764374400", outcome: "succeeded", profile: "clever", result: "{}"), now: now)
        case .withdraw: ledger.withdraw()
        }
    }

    /// Every event in every phase: allowed exactly where the table says, and a refused one
    /// leaves the row as it was.
    @Test(arguments: EpochLedger.Event.allCases)
    func eachEventHappensOnlyInThePhasesTheTableAllows(_ event: EpochLedger.Event) throws {
        for phase in EpochLedger.Phase.allCases {
            var ledger = Self.ledger(phase)
            let before = ledger
            let allowed = event.allowedFrom.contains(phase)
            do {
                if try Self.apply(event, to: &ledger) != nil {
                    #expect(allowed, "\(event) from \(phase)")
                    #expect(ledger != before, "\(event) from \(phase) changes the row")
                } else {
                    // A withdrawal has nothing to record outside its phases: deleting is ordinary there.
                    #expect(event == .withdraw && !allowed, "\(event) from \(phase)")
                    #expect(ledger == before)
                }
            } catch {
                #expect(!allowed, "\(event) from \(phase): \(error)")
                #expect(error.event == event && error.phase == phase)
                #expect(ledger == before, "\(event) refused from \(phase) changes nothing")
            }
        }
    }

    @Test func theTableAsTheDocsGiveIt() {
        #expect(EpochLedger.Event.seal.allowedFrom == [.receiving, .stalled, .badlyNamed])
        #expect(EpochLedger.Event.startProcessing.allowedFrom == [.sealed, .processing])
        #expect(EpochLedger.Event.release.allowedFrom == [.badlyNamed, .unrecognised, .held])
        #expect(EpochLedger.Event.reprocess.allowedFrom == [.published])
        #expect(EpochLedger.Event.publish.allowedFrom == [.sealed, .processing])
        #expect(EpochLedger.Event.recordHandedOff.allowedFrom == [.processing])
    }

    @Test func sealingFreezesAndQueues() throws {
        var ledger = Self.ledger(.stalled)
        #expect(ledger.allowsChange)
        #expect(try ledger.seal(now: Self.now) == .durable)
        #expect(ledger.record.state == .sealed && ledger.record.sealed == Self.now && ledger.record.reason.isEmpty)
        #expect(!ledger.allowsChange && !ledger.allowsRemoval)
        #expect(ledger.phase == .sealed)
    }

    @Test func eachStartOfProcessingIsCountedDurably() throws {
        var ledger = Self.ledger(.sealed)
        #expect(try ledger.startProcessing() == .durable)
        #expect(try ledger.startProcessing() == .durable, "again after a crash")
        #expect(ledger.record.state == .processing && ledger.record.attempts == 3)
    }

    @Test func aBadlyNamedEpochIsUnrecognisedButStaysWritable() throws {
        var ledger = Self.ledger(.receiving)
        #expect(try ledger.markBadlyNamed(reason: "not a date-time") == .ordinary)
        #expect(ledger.record.state == .unrecognised && ledger.phase == .badlyNamed)
        #expect(ledger.allowsChange && ledger.allowsRemoval)
        // Renamed to a proper name, it waits like any other.
        #expect(try ledger.resumeReceiving() == .ordinary)
        #expect(ledger.record.state == .receiving && ledger.record.reason.isEmpty)
    }

    @Test func releasingSealsABadlyNamedEpochAsItStandsButNotUnderAWriter() throws {
        var ledger = Self.ledger(.badlyNamed)
        #expect(throws: EpochLedger.Refusal.self) { try ledger.release(profile: "clever", openWriters: 1, now: Self.now) }
        #expect(ledger == Self.ledger(.badlyNamed))
        #expect(try ledger.release(profile: "clever", openWriters: 0, now: Self.now) == .durable)
        #expect(ledger.record.state == .sealed && ledger.record.sealed == Self.now && ledger.record.released)
        #expect(ledger.record.profile == "clever" && ledger.record.attempts == 0 && ledger.record.reason == "released by staff")
        // A held one keeps the time it sealed at; open writers do not matter, it is frozen.
        var held = Self.ledger(.held)
        _ = try held.release(profile: nil, openWriters: 3, now: Self.now)
        #expect(held.record.sealed == Self.now - 10)
    }

    @Test func refusalsSayWhatStaffCanDo() throws {
        var published = Self.ledger(.published)
        do {
            _ = try published.release(profile: nil, openWriters: 0, now: Self.now)
            Issue.record("released a published epoch")
        } catch {
            #expect(error.message == "the epoch is published: only an unrecognised or held one can be processed by hand (see: epochfs epochs show)")
        }
        var held = Self.ledger(.held)
        do {
            _ = try held.reprocess()
            Issue.record("reprocessed a held epoch")
        } catch {
            #expect(error.message == "only a published epoch can be processed again; for a held or unrecognised one use: epochfs epochs process")
        }
        var withdrawn = Self.ledger(.unrecognised, withdrawn: true)
        do {
            _ = try withdrawn.release(profile: nil, openWriters: 0, now: Self.now)
            Issue.record("released a withdrawn epoch")
        } catch {
            #expect(error.message.hasPrefix("the district deleted files from it after it was sealed"))
        }
        var receiving = Self.ledger(.receiving)
        do {
            _ = try receiving.publish(.init(name: "x", outcome: "succeeded", profile: nil, result: "{}"), now: Self.now)
            Issue.record("published an epoch still receiving")
        } catch {
            #expect(error.message == "epoch 7 is not waiting to be published")
        }
    }

    @Test func deletingFromAHeldOrUnrecognisedEpochWithdrawsItOnce() {
        for phase in [EpochLedger.Phase.held, .unrecognised] {
            var ledger = Self.ledger(phase)
            #expect(ledger.allowsRemoval && !ledger.allowsChange)
            #expect(ledger.withdraw() == .withTree)
            #expect(ledger.record.withdrawn && ledger.record.reason.contains("will not be processed"))
            #expect(ledger.withdraw() == nil, "withdrawn already")
        }
        var stalled = Self.ledger(.stalled)
        #expect(stalled.allowsRemoval && stalled.withdraw() == nil, "never sealed: deleting is ordinary activity")
        #expect(!Self.ledger(.processing).allowsRemoval)
    }

    @Test func publishingRecordsTheOutcomeAndForgetsTheHandOff() throws {
        var ledger = Self.ledger(.processing)
        _ = try ledger.recordHandedOff(result: "{\"outcome\":\"succeeded\"}")
        #expect(ledger.record.handedOff != nil)
        let commit = try ledger.publish(.init(name: "1764374400.2", outcome: "failed", profile: "clever", result: "{}"), now: Self.now)
        #expect(commit == .withTree)
        let record = ledger.record
        #expect(record.state == .published && record.name == "1764374400.2" && record.published == Self.now)
        #expect(record.outcome == "failed" && record.profile == "clever" && record.result == "{}" && record.handedOff == nil)
        // Processed again by staff: queued as released, its outcome forgotten.
        _ = try ledger.reprocess()
        #expect(ledger.record.state == .sealed && ledger.record.released && ledger.record.outcome == nil && ledger.record.attempts == 0)
    }
}
