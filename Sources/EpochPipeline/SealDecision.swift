import EpochFS
import EpochStore
import Ingest

/// Whether an unsealed epoch can seal now, and if not, why. A pure function of what the
/// filesystem reports, so the rules are tested without a mount.
public enum SealDecision: Equatable, Sendable {
    /// Not yet; `until` is when the answer may change without any activity (nil: only
    /// activity can change it).
    case wait(reason: String, until: Nanoseconds?)
    case seal(reason: String)
    /// Blocked for longer than the stall limit: staff are told. It still seals if the
    /// blockers go away.
    case stall(reason: String)
    /// The directory's name is not a date-time: left for staff, never sealed.
    case badName(reason: String)

    static let second: Nanoseconds = 1_000_000_000

    /// - Parameter awaited: files the set's own manifest names that have not arrived.
    public static func decide(_ snapshot: EpochSnapshot, settings: PipelineSettings, now: Nanoseconds,
                              awaited: [String]) -> SealDecision {
        let quiet = now - snapshot.lastChange
        var blockers: [String] = []
        if snapshot.openWriters > 0 {
            blockers.append("\(snapshot.openWriters) file(s) open for writing")
        }
        let files = snapshot.entries.filter { !$0.record.isDirectory }
        let interrupted = files.filter { $0.record.staged || $0.record.interrupted }
        if snapshot.openWriters == 0 && !interrupted.isEmpty {
            blockers.append("interrupted upload of \(list(interrupted.map(\.path))) (resume it, or delete it)")
        }
        let temporary = files.filter { FileRole.of($0.record.name, markers: settings.markers) == .temporary }
        if !temporary.isEmpty {
            blockers.append("temporary name \(list(temporary.map(\.path))) (not renamed yet)")
        }
        if !blockers.isEmpty {
            let reason = blockers.joined(separator: "; ")
            let stallAt = snapshot.lastChange + settings.stallSeconds * second
            if now >= stallAt { return .stall(reason: reason) }
            return .wait(reason: reason, until: stallAt)
        }
        if files.isEmpty {
            return .wait(reason: "empty", until: nil)
        }
        do {
            _ = try EpochName(parsing: snapshot.record.name, now: now / second)
        } catch {
            // Give a client the settle period to rename a directory it made under a working name.
            let settleAt = snapshot.lastChange + settings.settle(for: snapshot.district.name) * second
            if now < settleAt { return .wait(reason: "settling; \(error)", until: settleAt) }
            return .badName(reason: "\(error)")
        }
        let marker = files.first { FileRole.of($0.record.name, markers: settings.markers) == .marker }
        // A marker counts only as the last file of the upload: one sent first (a `put -r` in
        // directory order) must not seal the epoch under the files that follow it.
        let markerIsLatest = marker.map { marker in files.allSatisfy { $0.record.ctime <= marker.record.ctime } } ?? false
        // A marker closed last is the uploader saying it is done: files its manifest names that
        // have not come will not come, and validation reports them. Without one, they may be
        // on their way (one job per file), so the epoch waits for them, up to a limit.
        if !awaited.isEmpty && !markerIsLatest {
            let waitUntil = snapshot.lastChange + settings.manifestWaitSeconds * second
            if now < waitUntil {
                return .wait(reason: "manifest.csv names files that have not arrived: \(list(awaited))", until: waitUntil)
            }
        }
        let settle = settings.settle(for: snapshot.district.name) * second
        let settling = "settling (\((settle - quiet + second - 1) / second) s left)"
        if let marker {
            let markerQuiet = settings.markerQuietMilliseconds * 1_000_000
            if markerIsLatest && quiet >= markerQuiet {
                let missing = awaited.isEmpty ? "" : "; manifest.csv names files that never came: \(list(awaited))"
                return .seal(reason: "marker \(marker.path) closed\(missing)")
            }
            if markerIsLatest { return .wait(reason: "marker \(marker.path) just closed", until: snapshot.lastChange + markerQuiet) }
            if quiet >= settle { return .seal(reason: "quiet for \(settle / second) s") }
            return .wait(reason: "marker \(marker.path) is older than other files; \(settling)", until: snapshot.lastChange + settle)
        }
        if quiet >= settle {
            return .seal(reason: "quiet for \(settle / second) s")
        }
        return .wait(reason: settling, until: snapshot.lastChange + settle)
    }

    private static func list(_ paths: [String]) -> String {
        let shown = paths.prefix(5).joined(separator: ", ")
        return paths.count > 5 ? "\(shown) and \(paths.count - 5) more" : shown
    }
}
