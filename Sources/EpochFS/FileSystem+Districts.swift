import EpochStore

/// A refused administrative request, with what to do about it.
public struct AdminError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension FileSystem {
    /// District names become unix user names and sshd chroot paths: keep to what `useradd` takes.
    public static func validateDistrictName(_ name: String) throws(AdminError) {
        let allowed = name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d  // a-z 0-9 _ -
        }
        guard !name.isEmpty, name.utf8.count <= 32, allowed, let first = name.utf8.first,
              (first >= 0x61 && first <= 0x7a) || first == 0x5f else {
            throw AdminError("invalid district name '\(name)': use 1-32 characters a-z, 0-9, '_' or '-', starting with a letter or '_' (it is also the unix user name)")
        }
    }

    public func districts() throws(Errno) -> [DistrictRecord] {
        try locked { state in try state.metadata.districts() }
    }

    public struct DistrictUsage: Sendable, Codable {
        public var files: Int64
        public var bytes: Int64
    }

    public func usage(of district: DistrictRecord) throws(Errno) -> DistrictUsage {
        try locked { state in
            let usage = try state.metadata.districtUsage(district)
            return DistrictUsage(files: usage.files, bytes: usage.bytes)
        }
    }

    /// Creates a district's tree; it appears in `ls` of the mount at once.
    public func addDistrict(name: String, uid: UInt32, gid: UInt32, managedUser: Bool = false) throws -> DistrictRecord {
        try Self.validateDistrictName(name)
        let record = try withState { state -> DistrictRecord in
            if try state.metadata.district(named: name) != nil {
                throw AdminError("district '\(name)' exists already")
            }
            if try state.metadata.child(of: .root, named: name) != nil {
                throw AdminError("'\(name)' is taken in the mount's root")
            }
            let district = try state.metadata.database.transaction {
                try state.metadata.insertDistrict(name: name, uid: uid, gid: gid, managedUser: managedUser, now: currentTime())
            }
            state.quotas[district.id] = QuotaAccount(district, usage: .zero)
            state.districtOwners[district.id] = district.uid
            return district
        }
        notifier?.invalidateEntry(parent: .root, name: name)
        notifier?.invalidateInode(.root)
        logger.notice("district added", metadata: ["district": "\(name)", "uid": "\(uid)", "gid": "\(gid)"])
        return record
    }

    /// Removes a district and its keys. One that holds files is refused unless `deleteData`
    /// says to delete them: a district created again under the same name must never see the
    /// old one's files.
    @discardableResult
    public func removeDistrict(name: String, deleteData: Bool) throws -> DistrictRecord {
        let district = try withState { state -> DistrictRecord in
            let meta = state.metadata
            let district = try Self.district(named: name, in: state)
            let root = InodeNumber(rawValue: district.rootIno)
            let below = try meta.descendants(of: root)
            let held = below.filter { $0.ino.rawValue != district.uploadIno && $0.ino.rawValue != district.processedIno }
            if !held.isEmpty && !deleteData {
                let files = held.filter { !$0.isDirectory }.count
                throw AdminError("district '\(name)' still holds \(files) files and \(held.count - files) directories: move them away first, or pass --delete-data to delete them")
            }
            // Its keys stop working first, so that no failure below leaves them working.
            try keyFiles.write(district: name, keys: [])
            var removal = Removal()
            try meta.database.transaction {
                for record in below { try removeName(record, &state, &removal) }
                if let rootRecord = try meta.inode(root) { try meta.delete(rootRecord) }
                try meta.deleteDistrictRow(district)
                try meta.touch(.root, mtime: currentTime())
            }
            complete(removal, state)
            state.epochs = state.epochs.filter { $0.value.record.district != district.id }
            state.quotas[district.id] = nil
            state.districtOwners[district.id] = nil
            return district
        }
        notifier?.invalidateEntry(parent: .root, name: name)
        notifier?.invalidateInode(.root)
        logger.notice("district removed", metadata: ["district": "\(name)", "data_deleted": "\(deleteData)"])
        return district
    }
}

/// What `epochfs stats` shows of one district.
public struct DistrictStatistics: Sendable, Codable {
    public var district: String
    /// Files below upload/ and upload-processed/.
    public var files: Int64
    /// Their sizes added up.
    public var logicalBytes: Int64
    /// The distinct blobs they name: what the district's files take on disk after dedup
    /// (a blob shared with another district counts for each).
    public var storedBytes: Int64
    /// Epochs by state (`receiving`, `published`, …).
    public var epochs: [String: Int]
}

/// What `epochfs stats` shows.
public struct StoreStatistics: Sendable, Codable {
    public var districts: [DistrictStatistics]
    /// Every blob in the store, counted once.
    public var blobs: Int64
    public var blobBytes: Int64
}

extension FileSystem {
    public func statistics() throws(Errno) -> StoreStatistics {
        try locked { state in
            let meta = state.metadata
            let districts = try meta.districts().map { district in
                let usage = try meta.districtUsage(district)
                return DistrictStatistics(district: district.name, files: usage.files, logicalBytes: usage.bytes,
                                          storedBytes: try meta.districtStoredBytes(district),
                                          epochs: try meta.epochCounts(district: district.id))
            }
            let totals = try meta.blobTotals()
            return StoreStatistics(districts: districts, blobs: totals.count, blobBytes: totals.bytes)
        }
    }
}
