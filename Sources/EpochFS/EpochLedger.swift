import EpochStore

/// The lifecycle of one epoch: which event may happen in which phase, and what each does to
/// the epoch's row. Pure (no store, no clock: times come with the events), so the rules are
/// tested without I/O; `FileSystem` takes the lock, asks the ledger, and writes the row the
/// way the returned `Commit` says. Nothing else changes an epoch's state.
public struct EpochLedger: Sendable, Equatable {
    public private(set) var record: EpochRecord

    public init(_ record: EpochRecord) {
        self.record = record
    }

    /// Where an epoch stands: its state, told apart by whether it has sealed (a badly named
    /// epoch is `unrecognised` but was never sealed, and stays writable).
    public enum Phase: Sendable, Hashable, CaseIterable {
        case receiving, stalled, badlyNamed, sealed, processing, unrecognised, held, published
    }

    public var phase: Phase {
        switch record.state {
        case .receiving: .receiving
        case .stalled: .stalled
        case .unrecognised: record.sealed == nil ? .badlyNamed : .unrecognised
        case .sealed: .sealed
        case .processing: .processing
        case .held: .held
        case .published: .published
        }
    }

    /// What may happen to an epoch.
    public enum Event: String, Sendable, CaseIterable {
        /// The sealer found it waiting again (a stalled one unblocked, a badly named one renamed).
        case resumeReceiving
        case stall
        case markBadlyNamed
        case seal
        case startProcessing
        case recordHandedOff
        case hold
        case unrecognise
        /// Staff process a held or unrecognised one by hand (`epochfs epochs process`).
        case release
        /// Staff process a published one again (`epochfs epochs reprocess`).
        case reprocess
        case publish
        /// The district deleted something from it after it sealed.
        case withdraw

        /// The transition table: the phases each event may happen in.
        public var allowedFrom: Set<Phase> {
            switch self {
            case .resumeReceiving: [.stalled, .badlyNamed]
            case .stall: [.receiving, .badlyNamed]
            case .markBadlyNamed: [.receiving, .stalled]
            case .seal: [.receiving, .stalled, .badlyNamed]
            // Processing again after a crash starts from `processing`.
            case .startProcessing: [.sealed, .processing]
            case .recordHandedOff: [.processing]
            case .hold, .unrecognise: [.sealed, .processing]
            case .release: [.badlyNamed, .unrecognised, .held]
            case .reprocess: [.published]
            // Publishing straight from `sealed` is what processing does, less the mark.
            case .publish: [.sealed, .processing]
            case .withdraw: [.unrecognised, .held]
            }
        }
    }

    /// How the changed row must be written.
    public enum Commit: Sendable, Equatable {
        /// In its own transaction.
        case ordinary
        /// In a durable transaction: the change must survive a crash (a seal, a start of
        /// processing, a finished hand-off, a release).
        case durable
        /// Within the caller's own transaction, with the tree's changes (publishing, reprocessing).
        case withTree
    }

    /// An event refused in the epoch's phase, with the message staff see.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var event: Event
        public var phase: Phase?
        public var message: String
        public var description: String { message }
    }

    /// Why `event` is refused for an epoch in `state` (nil: an epoch the filesystem no longer
    /// tracks, which is published or gone).
    public static func refusal(_ event: Event, state: EpochState?, phase: Phase?, ino: InodeNumber) -> Refusal {
        let message = switch event {
        case .release:
            "the epoch is \(state?.rawValue ?? EpochState.published.rawValue): only an unrecognised or held one can be processed by hand (see: epochfs epochs show)"
        case .reprocess:
            "only a published epoch can be processed again; for a held or unrecognised one use: epochfs epochs process"
        case .publish:
            "epoch \(ino) is not waiting to be published"
        default:
            "an epoch that is \(state?.rawValue ?? "not tracked") cannot \(event.rawValue)"
        }
        return Refusal(event: event, phase: phase, message: message)
    }

    private func permit(_ event: Event) throws(Refusal) {
        guard event.allowedFrom.contains(phase) else {
            throw Self.refusal(event, state: record.state, phase: phase, ino: record.ino)
        }
    }

    /// A badly named, or stalled, epoch is waiting like any other again.
    public mutating func resumeReceiving() throws(Refusal) -> Commit {
        try permit(.resumeReceiving)
        record.state = .receiving
        record.reason = ""
        return .ordinary
    }

    /// It could not seal within the stall limit: staff are told. It still seals once unblocked.
    public mutating func stall(reason: String) throws(Refusal) -> Commit {
        try permit(.stall)
        record.state = .stalled
        record.reason = reason
        return .ordinary
    }

    /// Its name is not a date-time: left for staff, unsealed (renaming it puts it back).
    public mutating func markBadlyNamed(reason: String) throws(Refusal) -> Commit {
        try permit(.markBadlyNamed)
        record.state = .unrecognised
        record.reason = reason
        return .ordinary
    }

    /// Sealed: its content is frozen and it is queued (the sealed row is the job).
    public mutating func seal(now: Nanoseconds) throws(Refusal) -> Commit {
        try permit(.seal)
        record.state = .sealed
        record.reason = ""
        record.sealed = now
        return .durable
    }

    /// A processing run starts, and is counted: an epoch whose processing crashes the daemon
    /// is held after a few attempts instead of crashing it at every start.
    public mutating func startProcessing() throws(Refusal) -> Commit {
        try permit(.startProcessing)
        record.state = .processing
        record.attempts += 1
        return .durable
    }

    /// The processing.json of a run whose hand-off finished: a run the daemon did not get to
    /// publish is published from this, never handed off again.
    public mutating func recordHandedOff(result: String) throws(Refusal) -> Commit {
        try permit(.recordHandedOff)
        record.handedOff = result
        return .durable
    }

    /// Held for a person (a mass drop, an old delta, too little room, a run that never finished).
    public mutating func hold(reason: String, profile: String? = nil) throws(Refusal) -> Commit {
        try permit(.hold)
        record.state = .held
        record.reason = reason
        if let profile { record.profile = profile }
        return .ordinary
    }

    /// No profile recognised it (or staff named one that does not exist).
    public mutating func unrecognise(reason: String, profile: String? = nil) throws(Refusal) -> Commit {
        try permit(.unrecognise)
        record.state = .unrecognised
        record.reason = reason
        if let profile { record.profile = profile }
        return .ordinary
    }

    /// Queued again by staff's decision: no hold applies, and `profile` (if given) is used as
    /// is. A badly named epoch, never sealed, is sealed now, as it stands; one with files open
    /// for writing is not.
    public mutating func release(profile: String?, openWriters: Int, now: Nanoseconds) throws(Refusal) -> Commit {
        try permit(.release)
        if record.withdrawn {
            throw Refusal(event: .release, phase: phase, message: "the district deleted files from it after it was sealed, so it is not what was uploaded: have them upload the set again as a new epoch")
        }
        if record.sealed == nil && openWriters > 0 {
            throw Refusal(event: .release, phase: phase, message: "files in it are open for writing: wait until the upload has finished")
        }
        if record.sealed == nil { record.sealed = now }
        record.state = .sealed
        record.reason = "released by staff"
        record.released = true
        record.attempts = 0
        record.profile = profile
        return .durable
    }

    /// A published epoch queued again by staff: processed like a released one, its outcome
    /// and profile forgotten (the files its publishing inserted go in the same transaction).
    public mutating func reprocess() throws(Refusal) -> Commit {
        try permit(.reprocess)
        record.state = .sealed
        record.reason = "reprocessing requested by staff"
        record.released = true
        record.attempts = 0
        record.outcome = nil
        record.profile = nil
        return .withTree
    }

    /// What publishing records.
    public struct Publication: Sendable, Equatable {
        /// The name in `upload-processed/`.
        public var name: String
        public var outcome: String
        public var profile: String?
        /// processing.json.
        public var result: String

        public init(name: String, outcome: String, profile: String?, result: String) {
            self.name = name
            self.outcome = outcome
            self.profile = profile
            self.result = result
        }
    }

    /// Published: moved to `upload-processed/` with its outcome; the record of a finished
    /// hand-off has served its purpose.
    public mutating func publish(_ publication: Publication, now: Nanoseconds) throws(Refusal) -> Commit {
        try permit(.publish)
        record.state = .published
        record.reason = ""
        record.name = publication.name
        record.published = now
        record.outcome = publication.outcome
        record.profile = publication.profile
        record.result = publication.result
        record.handedOff = nil
        return .withTree
    }

    /// Something is about to be deleted from a sealed epoch that may be deleted: what is left
    /// is no longer what was sealed, so it is never processed; the district can only finish
    /// deleting it. nil when there is nothing to record (not sealed, or withdrawn already).
    public mutating func withdraw() -> Commit? {
        guard Event.withdraw.allowedFrom.contains(phase), !record.withdrawn else { return nil }
        record.withdrawn = true
        record.reason = "files were deleted from it after it was sealed: it will not be processed; delete the rest of it, and upload the set again as a new epoch"
        return .withTree
    }

    // MARK: What the phase allows below the epoch

    /// Once an epoch is sealed nothing below it may be added or changed, by anyone: what is
    /// processed is exactly what was sealed.
    public var allowsChange: Bool { !record.isFrozen }

    /// Deleting from a sealed epoch is allowed only while nobody will process it (it is
    /// unrecognised or held): deleting it withdraws it, so the rule is the withdrawal's.
    public var allowsRemoval: Bool {
        !record.isFrozen || Event.withdraw.allowedFrom.contains(phase)
    }
}
