import EpochStore

extension Administration {
    public func districts() throws(Errno) -> [DistrictRecord] {
        try filesystem.locked { state in try state.metadata.districts() }
    }

    public struct DistrictUsage: Sendable, Codable {
        public var files: Int64
        public var bytes: Int64
    }

    public func usage(of district: DistrictRecord) throws(Errno) -> DistrictUsage {
        try filesystem.locked { state in
            let usage = try state.metadata.districtUsage(district)
            return DistrictUsage(files: usage.files, bytes: usage.bytes)
        }
    }

    /// Creates a district's tree; it appears in `ls` of the mount at once.
    public func addDistrict(name: String, uid: UInt32, gid: UInt32, managedUser: Bool = false) throws -> DistrictRecord {
        try Self.validateDistrictName(name)
        let record = try filesystem.withState { state -> DistrictRecord in
            if try state.metadata.district(named: name) != nil {
                throw AdminError("district '\(name)' exists already")
            }
            if try state.metadata.child(of: .root, named: name) != nil {
                throw AdminError("'\(name)' is taken in the mount's root")
            }
            let district = try state.metadata.transaction {
                try state.metadata.insertDistrict(name: name, uid: uid, gid: gid, managedUser: managedUser, now: filesystem.clock.now())
            }
            state.quotas[district.id] = QuotaAccount(district, usage: .zero)
            state.districtOwners[district.id] = district.uid
            return district
        }
        filesystem.notifier?.invalidateEntry(parent: .root, name: name)
        filesystem.notifier?.invalidateInode(.root)
        logger.notice("district added", metadata: ["district": "\(name)", "uid": "\(uid)", "gid": "\(gid)"])
        return record
    }

    /// Removes a district and its keys. One that holds files is refused unless `deleteData`
    /// says to delete them: a district created again under the same name must never see the
    /// old one's files.
    @discardableResult
    public func removeDistrict(name: String, deleteData: Bool) throws -> DistrictRecord {
        let fs = filesystem
        let district = try fs.withState { state -> DistrictRecord in
            let meta = state.metadata
            let district = try FileSystem.district(named: name, in: state)
            let root = InodeNumber(rawValue: district.rootIno)
            let below = try meta.descendants(of: root)
            let held = below.filter { $0.ino.rawValue != district.uploadIno && $0.ino.rawValue != district.processedIno }
            if !held.isEmpty && !deleteData {
                let files = held.filter { !$0.isDirectory }.count
                throw AdminError("district '\(name)' still holds \(files) files and \(held.count - files) directories: move them away first, or pass --delete-data to delete them")
            }
            // Its keys stop working first, so that no failure below leaves them working.
            try fs.keyFiles.write(district: name, keys: [])
            var removal = FileSystem.Removal()
            try meta.transaction {
                for record in below { try fs.removeName(record, &state, &removal) }
                if let rootRecord = try meta.inode(root) { try meta.delete(rootRecord) }
                try meta.deleteDistrictRow(district)
                try meta.touch(.root, mtime: filesystem.clock.now())
            }
            fs.complete(removal, state)
            state.epochs = state.epochs.filter { $0.value.record.district != district.id }
            state.quotas[district.id] = nil
            state.districtOwners[district.id] = nil
            return district
        }
        fs.notifier?.invalidateEntry(parent: .root, name: name)
        fs.notifier?.invalidateInode(.root)
        logger.notice("district removed", metadata: ["district": "\(name)", "data_deleted": "\(deleteData)"])
        return district
    }
}
