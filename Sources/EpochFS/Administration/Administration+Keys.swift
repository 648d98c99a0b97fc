import EpochStore

extension Administration {
    /// A district's keys, oldest first.
    public func keys(of name: String) throws -> [StoredKey] {
        try filesystem.withState { state in
            try state.metadata.keys(of: try FileSystem.district(named: name, in: state))
        }
    }

    /// Adds keys (already checked) to a district; ones it has already are left as they are.
    /// They work from the next login on: the district's authorized-keys file is rewritten
    /// (always, so that a write that failed before is repaired) before this returns. Returns
    /// the keys that were new.
    public func addKeys(_ keys: [StoredKey], to name: String) throws -> [StoredKey] {
        let keyFiles = filesystem.keyFiles
        let added = try filesystem.withState { state -> [StoredKey] in
            let meta = state.metadata
            let district = try FileSystem.district(named: name, in: state)
            let added = try meta.transaction {
                try keys.filter { try meta.insertKey($0, district: district) }
            }
            try keyFiles.write(district: name, keys: try meta.keys(of: district))
            return added
        }
        for key in added {
            logger.notice("key added", metadata: ["district": "\(name)", "key.fingerprint": "\(key.fingerprint)", "key.type": "\(key.algorithm)"])
        }
        return added
    }

    /// Removes a district's key by its fingerprint (`SHA256:…`, the prefix optional); the next
    /// login with it fails.
    public func removeKey(fingerprint: String, from name: String) throws -> StoredKey {
        let wanted = fingerprint.hasPrefix("SHA256:") ? fingerprint : "SHA256:" + fingerprint
        let keyFiles = filesystem.keyFiles
        let removed = try filesystem.withState { state -> StoredKey in
            let meta = state.metadata
            let district = try FileSystem.district(named: name, in: state)
            let keys = try meta.keys(of: district)
            guard let key = keys.first(where: { $0.fingerprint == wanted }) else {
                try keyFiles.write(district: name, keys: keys)
                throw AdminError("district '\(name)' has no key \(wanted) (see: epochfs keys list \(name))")
            }
            // The file first: if the commit then fails, the key is refused but still listed
            // (and a retry removes it); the other order could leave a removed key working.
            try keyFiles.write(district: name, keys: keys.filter { $0.fingerprint != key.fingerprint })
            try meta.transaction { _ = try meta.deleteKey(fingerprint: key.fingerprint, district: district) }
            return key
        }
        logger.notice("key removed", metadata: ["district": "\(name)", "key.fingerprint": "\(removed.fingerprint)"])
        return removed
    }
}
