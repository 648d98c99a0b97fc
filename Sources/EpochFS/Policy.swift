import EpochStore

/// Who may change what, by zone. The kernel (`default_permissions`) has already checked the
/// mode bits we report; these are the rules mode bits cannot express.
enum Policy {
    /// The two areas of a district between which nothing may be renamed.
    enum Area { case shape, upload, processed }

    static func area(_ zone: Zone) -> Area {
        switch zone {
        case .root, .districtRoot: return .shape
        case .upload, .uploadTree: return .upload
        case .processed, .processedTree: return .processed
        }
    }

    /// A district (any non-root caller) may write only inside its upload area.
    static func districtMayWrite(_ zone: Zone) -> Bool {
        zone == .upload || zone == .uploadTree
    }

    /// The zone of a new entry in `parent`, or the reason it may not be created.
    static func childZone(creatingIn parent: InodeRecord, caller: Caller) throws(Errno) -> Zone {
        switch parent.zone {
        case .root, .districtRoot:
            // The shape of `/` and `/<district>/` is managed by `epochfs district`, even for root.
            throw .notPermitted
        case .upload, .uploadTree:
            return .uploadTree
        case .processed, .processedTree:
            guard caller.isRoot else { throw .accessDenied }
            return .processedTree
        }
    }

    /// May `caller` remove (or rename away) `record`, which lives in `parent`?
    static func checkRemove(_ record: InodeRecord, in parent: InodeRecord, caller: Caller) throws(Errno) {
        switch record.zone {
        case .root, .districtRoot, .upload, .processed:
            throw .notPermitted
        case .uploadTree:
            return
        case .processedTree:
            guard caller.isRoot else { throw .accessDenied }
        }
    }

    static func checkSetattr(_ record: InodeRecord, caller: Caller, changesOwner: Bool, changesMode: Bool,
                             changesTimes: Bool) throws(Errno) {
        if changesOwner && !caller.isRoot { throw .notPermitted }
        switch record.zone {
        case .root, .districtRoot, .processed:
            if changesOwner || changesMode || (changesTimes && !caller.isRoot) { throw .notPermitted }
        case .upload:
            if changesOwner || changesMode { throw .notPermitted }
        case .uploadTree:
            return
        case .processedTree:
            // A published epoch is presented as the district's and read-only whatever its
            // rows hold (see `FileSystem.attributes`): a mode or owner would change nothing.
            if changesOwner || changesMode || (changesTimes && !caller.isRoot) { throw .notPermitted }
        }
    }
}
