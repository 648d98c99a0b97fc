import EpochStore
import Foundation
import SSHKeys
#if canImport(Glibc)
import Glibc
#endif

extension StoredKey {
    /// A key as the keys table keeps it, added at `added`.
    public init(_ key: PublicKey, added: Nanoseconds) {
        self.init(fingerprint: key.fingerprint, algorithm: key.algorithm, bits: key.bits,
                  data: Data(key.blob).base64EncodedString(), comment: key.comment, added: added)
    }
}

/// The web console's requests: the same rules as the command line's, and answers that never
/// say whether a district exists.
extension Administration {
    /// The largest log `epochReport` reads (a log lists every received file, so it grows with
    /// them; real ones are a few kilobytes).
    static let reportLogLimit = 16 << 20

    public func perform(_ request: WebRequest) -> ControlResponse {
        let notFound = ControlResponse(ok: false, message: "not found", code: .notFound)
        do {
            switch request {
            case .listDistricts:
                var response = ControlResponse(ok: true, message: "districts")
                response.districtNames = try districts().map(\.name)
                return response
            case .listKeys(let district):
                let keys = try keys(of: district)
                return ControlResponse(ok: true, message: "\(keys.count) keys", keys: keys)
            case .addKeys(let district, let text):
                let parsed: [PublicKey]
                do {
                    parsed = try KeyText.parse(text)
                } catch {
                    // The problems name lines and reasons, never what the lines hold: a
                    // private key pasted by mistake goes no further than this.
                    var response = ControlResponse(ok: false, message: "refused, nothing was stored:\n"
                                                   + error.problems.map { "  \($0)" }.joined(separator: "\n"),
                                                   code: .keysRefused)
                    response.keyProblems = error.problems
                    return response
                }
                let now = filesystem.clock.now()
                let added = try addKeys(parsed.map { StoredKey($0, added: now) }, to: district)
                return ControlResponse(ok: true, message: Self.describeAdded(added, of: parsed.count, to: district), keys: added)
            case .removeKey(let district, let fingerprint):
                let key = try removeKey(fingerprint: fingerprint, from: district)
                return ControlResponse(ok: true, message: "removed key \(key.fingerprint); the next login with it fails", keys: [key])
            case .listEpochs(let district):
                // Newest first, as a district reads them: in the order they arrived (inode
                // numbers only grow), since names may mix Unix seconds and ISO 8601.
                let summaries = try epochSummaries(district: district, state: nil).sorted { $0.epoch.ino > $1.epoch.ino }
                return ControlResponse(ok: true, message: "\(summaries.count) epochs", epochs: summaries)
            case .showEpoch(let district, let epoch):
                let summary = try epochSummary(district: district, epoch: epoch)
                return ControlResponse(ok: true, message: summary.epoch.state.rawValue, epochs: [summary])
            case .epochReport(let district, let epoch):
                var response = ControlResponse(ok: true, message: "report")
                response.report = try epochReport(district: district, epoch: epoch)
                return response
            }
        } catch is AdminError {
            // No such district, epoch or key, alike.
            return notFound
        } catch {
            return ControlResponse(ok: false, message: "\(error)")
        }
    }

    /// A published epoch's log (read from its blob) and processing.json (kept in its row);
    /// `epoch` is its name in `upload-processed/`, with or without that prefix.
    public func epochReport(district name: String, epoch: String) throws -> EpochReport {
        let missing = AdminError("district '\(name)' has no published epoch '\(epoch)'")
        let summary = try epochSummary(district: name, epoch: epoch.hasPrefix("upload-processed/") ? epoch : "upload-processed/" + epoch)
        guard let outcome = summary.epoch.outcome else { throw missing }
        let logName = PublishedLayout.logName(outcome: outcome)
        let blob = try filesystem.withState { state -> String in
            // The daemon's own file (root's, as publishing inserted it), published as a blob.
            guard let log = try state.metadata.child(of: summary.epoch.ino, named: logName), log.uid == 0,
                  let blob = log.blob else {
                throw missing
            }
            return blob
        }
        // Blobs are immutable: read without the lock. Retention may delete the epoch meanwhile.
        guard let (bytes, whole) = try? readBlob(blob, limit: Self.reportLogLimit) else { throw missing }
        var log = String(decoding: bytes, as: UTF8.self)
        if !whole {
            log += "\n… (the log goes on: the whole of it is upload-processed/\(summary.epoch.name)/\(logName), over SFTP)\n"
        }
        return EpochReport(epoch: summary, logName: logName, log: log, result: summary.epoch.result ?? "")
    }

    /// Up to `limit` bytes of a blob, and whether that is all of it.
    private func readBlob(_ hash: String, limit: Int) throws -> ([UInt8], Bool) {
        let fd = try filesystem.blobs.openBlob(hash)
        defer { Sys.close(fd) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let n = try buffer.withUnsafeMutableBytes { try Sys.read(fd, $0) }
            if n == 0 { return (bytes, true) }
            bytes += buffer[..<min(n, limit - bytes.count)]
        }
        return (bytes, false)
    }
}
