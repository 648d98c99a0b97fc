import EpochStore

/// Staff's view of the epochs and what they may decide: list and show them, process a held or
/// unrecognised one by hand, process a published one again.
extension Administration {
    /// Queues a sealed epoch that is unrecognised or held for processing by staff's decision
    /// (`epochfs epochs process`): no hold applies, and `profile` (if given) is used as is.
    public func releaseEpoch(_ ino: InodeNumber, profile: String?) throws -> EpochRecord {
        try filesystem.syncPublishedBlobs()
        let record = try filesystem.withState { state -> EpochRecord in
            guard let current = state.epochs[ino]?.record else {
                throw AdminError(EpochLedger.refusal(.release, state: nil, phase: nil, ino: ino).message)
            }
            // A badly named epoch, never sealed, is sealed as it stands: not under a writer.
            let writers = current.sealed == nil ? try filesystem.openWriters(below: ino, state) : 0
            let now = filesystem.clock.now()
            do {
                return try filesystem.transition(ino, &state) { ledger throws(EpochLedger.Refusal) in
                    try ledger.release(profile: profile, openWriters: writers, now: now)
                } ?? current
            } catch let refusal as EpochLedger.Refusal {
                throw AdminError(refusal.message)
            }
        }
        filesystem.epochActivity.signal()
        return record
    }

    /// Epochs for `epochfs epochs list`, by district name and epoch name; without their
    /// processing.json unless `withResults`.
    public func epochSummaries(district name: String?, state epochState: EpochState?, named epochName: String? = nil,
                               withResults: Bool = false) throws -> [EpochSummary] {
        try filesystem.withState { state in
            let districts = Dictionary(uniqueKeysWithValues: try state.metadata.districts().map { ($0.id, $0.name) })
            let only = try name.map { try FileSystem.district(named: $0, in: state).id }
            return try state.metadata.epochs(district: only, states: epochState.map { [$0] }, named: epochName,
                                             withResults: withResults).map { record in
                EpochSummary(district: districts[record.district] ?? "?", epoch: record,
                             waiting: state.epochs[record.ino].map(\.waiting).flatMap { $0.isEmpty ? nil : $0 })
            }.sorted { ($0.district, $0.epoch.name) < ($1.district, $1.epoch.name) }
        }
    }

    /// One epoch by district and name, with its processing.json: `NAME` is the one in
    /// `upload/` if there is one, else the published one; `upload/NAME` and
    /// `upload-processed/NAME` say which.
    public func epochSummary(district name: String, epoch: String) throws -> EpochSummary {
        var wanted = epoch
        var area: Bool? = nil  // true: published only; false: unpublished only
        if epoch.hasPrefix("upload-processed/") {
            wanted = String(epoch.dropFirst("upload-processed/".count))
            area = true
        } else if epoch.hasPrefix("upload/") {
            wanted = String(epoch.dropFirst("upload/".count))
            area = false
        }
        let matches = try epochSummaries(district: name, state: nil, named: wanted, withResults: true).filter {
            area == nil || area == ($0.epoch.state == .published)
        }
        guard let found = matches.first(where: { $0.epoch.state != .published }) ?? matches.first else {
            throw AdminError("district '\(name)' has no epoch '\(epoch)' (see: epochfs epochs list --district \(name))")
        }
        return found
    }

    /// Queues a published epoch to be processed again (`epochfs epochs reprocess`): the files
    /// its last publishing inserted are removed, and it is processed like a released epoch;
    /// publishing it again leaves it where it is in `upload-processed/`.
    public func reprocessEpoch(_ ino: InodeNumber) throws -> EpochRecord {
        let (record, removed) = try filesystem.withState { state -> (EpochRecord, [String]) in
            let meta = state.metadata
            guard let published = try meta.epoch(ino) else {
                throw AdminError(EpochLedger.refusal(.reprocess, state: nil, phase: nil, ino: ino).message)
            }
            var ledger = EpochLedger(published)
            do throws(EpochLedger.Refusal) {
                _ = try ledger.reprocess()
            } catch {
                throw AdminError(error.message)
            }
            let record = ledger.record
            let inserted = try meta.epochTree(ino).filter {
                $0.record.parent == ino && $0.record.uid == 0 && PublishedLayout.insertedNames.contains($0.record.name)
            }.map(\.record)
            var removal = FileSystem.Removal()
            try meta.transaction {
                for file in inserted { try filesystem.removeName(file, &state, &removal) }
                try meta.updateEpoch(record)
            }
            filesystem.complete(removal, state)
            state.epochs[ino] = EpochActivity(record: record, lastChange: filesystem.clock.now())
            return (record, inserted.map(\.name))
        }
        if let notifier = filesystem.notifier {
            for name in removed { notifier.invalidateEntry(parent: ino, name: name) }
            notifier.invalidateInode(ino)
        }
        filesystem.epochActivity.signal()
        return record
    }
}
