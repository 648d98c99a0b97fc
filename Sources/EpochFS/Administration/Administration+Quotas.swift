import EpochStore

extension Administration {
    /// 2^62: far beyond any disk, and far enough from `Int64.max` that no sum overflows.
    static let largestQuota: Int64 = 1 << 62

    /// Sets a district's quota (`epochfs district set`); a nil limit is left as it is.
    public func setQuota(of name: String, bytes: QuotaLimit?, files: QuotaLimit?) throws -> (DistrictRecord, MetadataStore.UploadUsage) {
        let result = try filesystem.withState { state -> (DistrictRecord, MetadataStore.UploadUsage) in
            var district = try FileSystem.district(named: name, in: state)
            for limit in [bytes, files] {
                if let value = limit?.value, value < 0 || value > Self.largestQuota {
                    throw AdminError("a quota is a number from 0 to \(Self.largestQuota) (got \(value)); to lift one, pass 'none'")
                }
            }
            if let bytes { district.quotaBytes = bytes.value }
            if let files { district.quotaFiles = files.value }
            try state.metadata.transaction {
                try state.metadata.setQuota(of: district, bytes: district.quotaBytes, files: district.quotaFiles)
            }
            let account = state.quotas[district.id]
            account?.setLimits(bytes: district.quotaBytes, files: district.quotaFiles)
            return (district, account?.usage ?? .zero)
        }
        logger.notice("district quota set", metadata: [
            "district": "\(name)", "quota_bytes": "\(result.0.quotaBytes.map { "\($0)" } ?? "-")",
            "quota_files": "\(result.0.quotaFiles.map { "\($0)" } ?? "-")"])
        return result
    }

    /// What each district holds in `upload/` as its quota counts it, by district id.
    public func quotaUsage() -> [Int64: MetadataStore.UploadUsage] {
        filesystem.state.withLock { $0.quotas.mapValues(\.usage) }
    }

    /// "district 'x': quota 10737418240 bytes (2147483648 used), no file limit (1234 used)",
    /// with a warning when it holds more than a limit allows.
    static func describeQuota(of district: DistrictRecord, used: MetadataStore.UploadUsage) -> String {
        func part(_ limit: Int64?, _ used: Int64, _ unit: String) -> String {
            limit.map { "\($0) \(unit) (\(used) used)" } ?? "no \(unit) limit (\(used) used)"
        }
        var message = "district '\(district.name)': quota \(part(district.quotaBytes, used.bytes, "bytes")), "
            + part(district.quotaFiles, used.entries, "files")
        if let limit = district.quotaBytes, used.bytes > limit {
            message += "; it already holds more bytes in upload/ than that: its uploads fail with EDQUOT until processed or deleted files bring it below"
        } else if let limit = district.quotaFiles, used.entries > limit {
            message += "; it already holds more files in upload/ than that: it cannot create any until processed or deleted files bring it below"
        }
        return message
    }
}
