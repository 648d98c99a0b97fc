/// The writing session of an open file, as a state machine: where the content is (the
/// published blob or the staging file), whether a session of writers will publish it, and how
/// that session has gone. Pure: each event is one `mutating` function that returns what the
/// filesystem is to do (under the file's lock, and the metadata lock where it says so); nothing
/// else changes this state. Descriptors, reads in flight, size, times, the streaming hash and
/// passthrough backing stay with `OpenFile.Content`; the count of writers is `OpenFile.writers`,
/// handed to the events that need it.
///
/// See `docs/architecture.md`, "Files: staging, publishing, copy-on-write".
struct WriteSession: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// The content is the published blob, unchanged since.
        case published
        /// The content is in the staging file and a session of writers is open on it: it is
        /// published, or kept as interrupted, when that session's last writer closes.
        case writing(Staging)
        /// Like `writing`, after a clean FLUSH by the last writer from the thread that opened
        /// it: that flush goes on (under the metadata lock) to end the session before close()
        /// returns, unless a writer opens meanwhile.
        case closing(Staging)
        /// The content is in the staging file and no session will publish it: an interrupted
        /// upload opened again, or the content a session left (interrupted, or its publish
        /// failed). A new writer's session resumes it.
        case kept(Staging)
    }

    /// The staging file, while it holds the content.
    struct Staging: Sendable, Equatable {
        /// Changed since the staging file was made or opened: the row may still name the old blob.
        var changed: Bool
        /// The staging file and the row that names it were made durable by an fsync: publishing
        /// it must be durable too, so what survived a power cut before the close still does.
        var durable = false
    }

    /// The hash of the staging file as it was at `serial`, computed ahead of the session's end
    /// outside the locks and handed to the event that ends it: valid while the serial is
    /// unchanged (the size never changes without a change of serial).
    struct Digest: Sendable, Equatable {
        var serial: UInt64
        var hash: String
    }

    /// How the current session of writers has gone: at its end, what decides between publishing
    /// the content and keeping it as an interrupted upload.
    enum Outcome: Sendable, Equatable {
        /// Every change up to the serial `flushedAt` was followed by a clean flush (a close by a
        /// live process); a change after it, not yet flushed, interrupts.
        case clean(flushedAt: UInt64)
        /// The last flush came from a process that was exiting: the writer was killed or its
        /// session dropped. A later clean flush (the parent after a forked child) overrides it.
        case exited
        /// A write or truncate of the session failed (quota, largest file, full disk): what the
        /// file holds is not what its writer sent, however cleanly it closes. `late`: a write
        /// acknowledged before its copy failed; every later write, fsync and flush of the
        /// session fails with it (a writer retrying what the kernel reported as a short write
        /// must not go on past bytes that were lost), until the last writer closes.
        case failed(late: Errno?)
    }

    /// What the filesystem is to do after an event.
    enum Action: Sendable, Equatable {
        case nothing
        /// Publish the staging file as a blob: hash it (unless `digest`, computed ahead, is of
        /// the bytes it holds), then the store's publish, durable when the staging file was
        /// made durable. Then `published()`.
        case publish(digest: String?, durable: Bool)
        /// Keep the content in staging, its row marked interrupted: its writers went away
        /// without finishing.
        case keepInterrupted
        /// Record in the row that the content now lives in staging (not interrupted): the
        /// session goes on, and publishing waits for its last writer's release. Until then a
        /// crash must not bring back the old content of a rewritten file.
        case recordStaging
    }

    /// What a FLUSH is to do next, once it has been recorded.
    enum FlushStep: Sendable, Equatable {
        case nothing
        /// Record that the content lives in staging (`completeFlush`, under the metadata lock).
        case recordStaging
        /// End the session (`completeFlush`, under the metadata lock), with the digest of what
        /// the streaming hash had not seen, computed ahead without any lock.
        case finish
    }

    private(set) var state: State
    private(set) var outcome: Outcome = .clean(flushedAt: 0)
    /// Incremented by every write or truncate: an unchanged serial is unchanged bytes.
    private(set) var serial: UInt64 = 0
    /// A write the kernel had taken (into its page cache, or a size it acknowledged) failed: the
    /// kernel holds bytes and a size the store does not, and must forget the file at its last
    /// close. Never reset while the file is open.
    private(set) var kernelCacheStale = false

    /// A file just created: an empty staging file, and its creator's session open.
    static let created = WriteSession(state: .writing(Staging(changed: true)))

    /// A file opened: its content is the published blob or, for an interrupted upload, its
    /// staging file (which no session will publish until a writer resumes it).
    static func opened(staged: Bool) -> WriteSession {
        WriteSession(state: staged ? .kept(Staging(changed: false)) : .published)
    }

    private init(state: State) {
        self.state = state
    }

    // MARK: What the state says

    /// The content is the staging file (writable); otherwise the immutable blob.
    var isStaging: Bool { state != .published }

    /// The staging file and its row were made durable by an fsync.
    var isDurable: Bool { staging?.durable ?? false }

    /// The session's writers did not finish: its end keeps the content as an interrupted upload.
    var interrupted: Bool {
        switch outcome {
        case .clean(let flushedAt): return serial > flushedAt
        case .exited, .failed: return true
        }
    }

    /// The error of a write that failed after it was acknowledged, while its session lasts.
    var lateWriteError: Errno? {
        if case .failed(let late) = outcome { return late }
        return nil
    }

    /// A session of writers is open on the staging file: the release of its last writer ends it
    /// (what a flush has not ended already), and wants the file hashed ahead.
    var hasOpenSession: Bool {
        switch state {
        case .writing, .closing: return true
        case .published, .kept: return false
        }
    }

    /// An fsync must make the row that names the staging file durable.
    var needsDurableRow: Bool { isStaging && !isDurable }

    private var staging: Staging? {
        switch state {
        case .published: return nil
        case .writing(let staging), .closing(let staging), .kept(let staging): return staging
        }
    }

    // MARK: Events

    /// A handle that may write opened the file. `first`: no other writer had it open, so a new
    /// session begins and whatever interrupted the last one is forgotten. `startsSession`:
    /// false for the filesystem's own short open of a truncate by path, which begins nothing.
    /// Any new writer means a closing writer was not the last after all.
    mutating func openedForWriting(first: Bool, startsSession: Bool = true) {
        if startsSession && first { outcome = .clean(flushedAt: serial) }
        switch state {
        case .closing(let staging):
            state = .writing(staging)
        case .kept(let staging) where startsSession:
            state = .writing(staging)
        case .published, .writing, .kept:
            break
        }
    }

    /// Copy-on-write: the content moved from the blob to a new staging file, for a change
    /// about to be made. `sessionOpen`: the change is a writer's (a write, an ftruncate, an
    /// `O_TRUNC`) or meets other writers; a truncate by path alone opens a session only once
    /// it has succeeded (`truncatedByPath`), so that one that fails changes nothing.
    mutating func movedToStaging(sessionOpen: Bool) {
        guard state == .published else { return }
        state = sessionOpen ? .writing(Staging(changed: false)) : .kept(Staging(changed: false))
    }

    /// A write was accepted (before its bytes are copied): the session is writing again,
    /// even if a writer had ended it meanwhile through another descriptor of the same handle.
    mutating func wrote() {
        serial &+= 1
        updateStaging { $0.changed = true }
        if case .kept(let staging) = state { state = .writing(staging) }
    }

    /// The size changed (a truncate by path or through a handle, or `O_TRUNC`).
    mutating func resized() {
        serial &+= 1
        updateStaging { $0.changed = true }
    }

    /// An ftruncate through a writer's handle, whether or not it changed the size: that
    /// writer's session is writing.
    mutating func truncatedByWriter() {
        if case .kept(let staging) = state { state = .writing(staging) }
    }

    /// A truncate by path changed the size. Of a published file that no writer has open, it is
    /// a session of its own, complete when done: the file is published again at its release.
    /// Of a file in staging (being written, or interrupted), it changes nothing else: a
    /// truncate does not make an upload complete.
    mutating func truncatedByPath(wasPublished: Bool, otherWriters: Bool) {
        guard wasPublished, !otherWriters else { return }
        outcome = .clean(flushedAt: serial)
        if case .kept(let staging) = state { state = .writing(staging) }
    }

    /// A write or truncate failed or was cut short: the session is interrupted. `cached`: the
    /// kernel had taken the write into its cache, and holds bytes the store does not.
    mutating func writeFailed(kernelCacheStale cached: Bool) {
        if case .failed = outcome {} else { outcome = .failed(late: nil) }
        if cached { kernelCacheStale = true }
    }

    /// A write acknowledged before its copy failed: the rest of the session fails with `error`,
    /// and the kernel, which took the acknowledged size, forgets the file at its last close.
    mutating func writeFailedAfterAcknowledgement(_ error: Errno) {
        outcome = .failed(late: error)
        kernelCacheStale = true
    }

    /// FLUSH of a writer's handle by process `exiting` or not. The last close decides: a forked
    /// child exiting with an inherited descriptor does not make the parent's later clean close
    /// an interruption. The last writer's clean close, by the thread that opened it, ends the
    /// session at once (RELEASE comes later and asynchronously: a crash in between must not
    /// leave a finished upload looking interrupted); any other flush only records a clean
    /// close, and that the content now lives in staging, and publishing waits for RELEASE.
    mutating func flushed(exiting: Bool, writers: Int, byOpener: Bool) -> FlushStep {
        if case .failed = outcome {} else { outcome = exiting ? .exited : .clean(flushedAt: serial) }
        if !exiting && byOpener && writers == 1 {
            switch state {
            case .writing(let staging), .closing(let staging):
                state = .closing(staging)
                return .finish
            case .published, .kept:
                return .nothing
            }
        }
        if !exiting, let staging, staging.changed { return .recordStaging }
        return .nothing
    }

    /// The rest of a flush, under the metadata lock. `rowStaged`: the row already says the
    /// content is in staging. `digest`: the file hashed ahead, for a flush that ends the session.
    /// A flush that was to end the session and finds it ended already (by a flush through
    /// another descriptor of the handle) does nothing more; one that finds a writer opened
    /// meanwhile only records the staging file.
    mutating func completeFlush(_ step: FlushStep, rowStaged: Bool, digest: Digest? = nil) -> Action {
        switch (step, state) {
        case (.nothing, _):
            return .nothing
        case (.finish, .closing(let staging)):
            return finish(staging, digest)
        case (.finish, .published), (.finish, .kept):
            return .nothing
        case (.finish, .writing), (.recordStaging, _):
            return isStaging && !rowStaged ? .recordStaging : .nothing
        }
    }

    /// RELEASE of a handle; `writersLeft`: writers still open after it. The session ends with
    /// its last writer: published or kept as interrupted. A file that lost its name
    /// (`orphaned`) is published by nobody. `digest`: the file hashed ahead, for the release of
    /// the last writer of an open session.
    mutating func released(writersLeft: Int, orphaned: Bool, digest: Digest? = nil) -> Action {
        guard writersLeft == 0 else { return .nothing }
        // The late error ends with the session (the session stays interrupted).
        if case .failed(.some) = outcome { outcome = .failed(late: nil) }
        guard !orphaned else { return .nothing }
        switch state {
        case .writing(let staging), .closing(let staging): return finish(staging, digest)
        case .published, .kept: return .nothing
        }
    }

    /// The session ends: its content is kept in staging until `published()` says otherwise. A
    /// digest computed before the last write or truncate is not the content's.
    private mutating func finish(_ staging: Staging, _ digest: Digest?) -> Action {
        state = .kept(staging)
        if interrupted { return .keepInterrupted }
        return .publish(digest: digest?.serial == serial ? digest?.hash : nil, durable: staging.durable)
    }

    /// The staging file became the published blob.
    mutating func published() {
        state = .published
    }

    /// An fsync made the staging file and the row that names it durable.
    mutating func madeDurable() {
        updateStaging { $0.durable = true }
    }

    /// Changes the staging file's record in whichever state holds it (none when published).
    private mutating func updateStaging(_ change: (inout Staging) -> Void) {
        switch state {
        case .published: break
        case .writing(var staging): change(&staging); state = .writing(staging)
        case .closing(var staging): change(&staging); state = .closing(staging)
        case .kept(var staging): change(&staging); state = .kept(staging)
        }
    }
}
