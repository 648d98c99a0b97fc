@testable import EpochFS
import Testing

/// The write session's rules, without a store: each test drives the machine through the events
/// the filesystem reports and checks the action it is told to carry out.
@Suite struct WriteSessionTests {
    /// A published file opened by one writer, who writes once.
    private func rewritten() -> WriteSession {
        var session = WriteSession.opened(staged: false)
        session.openedForWriting(first: true)
        session.movedToStaging(sessionOpen: true)
        session.wrote()
        return session
    }

    /// The one writer's close: FLUSH from the thread that opened it, completed under the
    /// metadata lock, then RELEASE; the actions of both.
    private func close(_ session: inout WriteSession, exiting: Bool = false,
                       rowStaged: Bool = false) -> (flush: WriteSession.Action, release: WriteSession.Action) {
        let step = session.flushed(exiting: exiting, writers: 1, byOpener: true)
        let flush = session.completeFlush(step, rowStaged: rowStaged)
        return (flush, session.released(writersLeft: 0, orphaned: false))
    }

    @Test func aCleanCloseOfANewFilePublishesItAtTheFlush() {
        var session = WriteSession.created
        session.wrote()
        #expect(session.flushed(exiting: false, writers: 1, byOpener: true) == .finish)
        #expect(session.completeFlush(.finish, rowStaged: true) == .publish(digest: nil, durable: false))
        session.published()
        #expect(session.state == .published)
        #expect(!session.isStaging)
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
    }

    @Test func aCloseByProcessExitKeepsTheUploadInterrupted() {
        var session = rewritten()
        let actions = close(&session, exiting: true)
        #expect(actions.flush == .nothing)
        #expect(actions.release == .keepInterrupted)
        #expect(session.isStaging && session.interrupted)
    }

    @Test func writesWithoutAFlushKeepTheUploadInterrupted() {
        var session = rewritten()
        #expect(session.released(writersLeft: 0, orphaned: false) == .keepInterrupted)
    }

    @Test func aWriteAfterTheLastCleanFlushInterrupts() {
        var session = WriteSession.created
        session.wrote()
        #expect(session.flushed(exiting: false, writers: 2, byOpener: true) == .recordStaging)
        session.wrote()
        #expect(session.released(writersLeft: 0, orphaned: false) == .keepInterrupted)
    }

    @Test func aFailedWriteThenACleanCloseKeepsTheUploadInterrupted() {
        var session = rewritten()
        session.writeFailed(kernelCacheStale: false)
        session.wrote()
        let actions = close(&session)
        #expect(actions.flush == .keepInterrupted)
        #expect(actions.release == .nothing)
        #expect(!session.kernelCacheStale)
    }

    @Test func aRefusalOfACachedWriteMakesTheKernelForgetTheFile() {
        var session = rewritten()
        session.writeFailed(kernelCacheStale: true)
        #expect(session.kernelCacheStale)
        // A new session starts clean but the kernel's cache is still wrong.
        _ = close(&session)
        session.openedForWriting(first: true)
        #expect(session.kernelCacheStale)
    }

    @Test func aNewWritingSessionForgetsTheLastOnesInterruption() {
        var session = rewritten()
        session.writeFailed(kernelCacheStale: false)
        #expect(close(&session, exiting: true).release == .keepInterrupted)
        #expect(session.state == .kept(.init(changed: true)))
        // The resume: a new writer, more bytes, a clean close.
        session.openedForWriting(first: true)
        #expect(!session.interrupted)
        session.wrote()
        let actions = close(&session, rowStaged: true)
        #expect(actions.flush == .publish(digest: nil, durable: false))
    }

    @Test func aSecondWriterJoiningDoesNotForgetTheSessionsFailure() {
        var session = rewritten()
        session.writeFailed(kernelCacheStale: false)
        session.openedForWriting(first: false)
        #expect(session.interrupted)
    }

    @Test func anInterruptedUploadOpenedForReadingIsNotPublished() {
        var session = WriteSession.opened(staged: true)
        #expect(session.isStaging)
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
    }

    @Test func aForkedChildsFlushDoesNotPublish() {
        var session = rewritten()
        // The child's clean close of its inherited descriptor only records the staging file.
        #expect(session.flushed(exiting: false, writers: 1, byOpener: false) == .recordStaging)
        #expect(session.completeFlush(.recordStaging, rowStaged: false) == .recordStaging)
        #expect(session.completeFlush(.recordStaging, rowStaged: true) == .nothing)
        // A child exiting with it does not make the parent's later clean close an interruption.
        #expect(session.flushed(exiting: true, writers: 1, byOpener: false) == .nothing)
        let actions = close(&session, rowStaged: true)
        #expect(actions.flush == .publish(digest: nil, durable: false))
    }

    @Test func theFlushOfOneOfSeveralWritersLeavesPublishingToTheLastRelease() {
        var session = rewritten()
        session.openedForWriting(first: false)
        #expect(session.flushed(exiting: false, writers: 2, byOpener: true) == .recordStaging)
        #expect(session.released(writersLeft: 1, orphaned: false) == .nothing)
        #expect(session.flushed(exiting: false, writers: 1, byOpener: true) == .finish)
        #expect(session.completeFlush(.finish, rowStaged: true) == .publish(digest: nil, durable: false))
    }

    @Test func aWriterOpeningDuringTheLastClosePutsPublishingOffToItsRelease() {
        var session = rewritten()
        #expect(session.flushed(exiting: false, writers: 1, byOpener: true) == .finish)
        session.openedForWriting(first: false)
        #expect(session.completeFlush(.finish, rowStaged: false) == .recordStaging)
        #expect(session.released(writersLeft: 1, orphaned: false) == .nothing)
        #expect(session.released(writersLeft: 0, orphaned: false) == .publish(digest: nil, durable: false))
    }

    @Test func aLateWriteErrorFailsTheRestOfTheSession() {
        var session = rewritten()
        session.writeFailedAfterAcknowledgement(.noSpace)
        #expect(session.lateWriteError == .noSpace)
        #expect(session.kernelCacheStale)
        let step = session.flushed(exiting: false, writers: 1, byOpener: true)
        #expect(session.lateWriteError == .noSpace)
        #expect(session.completeFlush(step, rowStaged: false) == .keepInterrupted)
        // The error ends with the session; the interruption does not.
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
        #expect(session.lateWriteError == nil)
        #expect(session.interrupted)
    }

    @Test func aLateWriteErrorLastsWhileAnyWriterIsOpen() {
        var session = rewritten()
        session.openedForWriting(first: false)
        session.writeFailedAfterAcknowledgement(.io)
        #expect(session.released(writersLeft: 1, orphaned: false) == .nothing)
        #expect(session.lateWriteError == .io)
        #expect(session.released(writersLeft: 0, orphaned: false) == .keepInterrupted)
        #expect(session.lateWriteError == nil)
    }

    @Test func aTruncateByPathOfAPublishedFileRepublishesIt() {
        var session = WriteSession.opened(staged: false)
        session.openedForWriting(first: true, startsSession: false)
        session.movedToStaging(sessionOpen: false)
        session.resized()
        session.truncatedByPath(wasPublished: true, otherWriters: false)
        #expect(session.released(writersLeft: 0, orphaned: false) == .publish(digest: nil, durable: false))
    }

    @Test func aTruncateByPathAfterAWriterExitedStillRepublishes() {
        var session = WriteSession.opened(staged: false)
        // A writer that changed nothing was killed; a reader keeps the file open.
        session.openedForWriting(first: true)
        #expect(session.flushed(exiting: true, writers: 1, byOpener: true) == .nothing)
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
        session.openedForWriting(first: true, startsSession: false)
        session.movedToStaging(sessionOpen: false)
        session.resized()
        session.truncatedByPath(wasPublished: true, otherWriters: false)
        #expect(session.released(writersLeft: 0, orphaned: false) == .publish(digest: nil, durable: false))
    }

    @Test func aTruncateByPathThatFailsChangesNothing() {
        var session = WriteSession.opened(staged: false)
        session.openedForWriting(first: true, startsSession: false)
        // Copied into staging, then the ftruncate failed: no change, no session.
        session.movedToStaging(sessionOpen: false)
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
    }

    @Test func aTruncateByPathOfAnInterruptedUploadDoesNotCompleteIt() {
        var session = WriteSession.opened(staged: true)
        session.openedForWriting(first: true, startsSession: false)
        session.resized()
        session.truncatedByPath(wasPublished: false, otherWriters: false)
        #expect(session.released(writersLeft: 0, orphaned: false) == .nothing)
        #expect(session.isStaging)
    }

    @Test func aTruncateByPathBesideAWriterIsPartOfThatWritersSession() {
        var session = rewritten()
        session.openedForWriting(first: false, startsSession: false)
        session.resized()
        session.truncatedByPath(wasPublished: false, otherWriters: true)
        #expect(session.released(writersLeft: 1, orphaned: false) == .nothing)
        // The writer's clean close covers the truncate.
        let actions = close(&session)
        #expect(actions.flush == .publish(digest: nil, durable: false))
    }

    @Test func anOrphanIsPublishedByNobody() {
        var session = rewritten()
        session.writeFailedAfterAcknowledgement(.io)
        #expect(session.released(writersLeft: 0, orphaned: true) == .nothing)
        #expect(session.lateWriteError == nil)
    }

    @Test func aFileCreatedReadOnlyIsPublishedAtItsRelease() {
        var session = WriteSession.created
        #expect(session.released(writersLeft: 0, orphaned: false) == .publish(digest: nil, durable: false))
    }

    @Test func anFsyncedUploadIsPublishedDurably() {
        var session = rewritten()
        #expect(session.needsDurableRow)
        session.madeDurable()
        #expect(!session.needsDurableRow && session.isDurable)
        #expect(close(&session).flush == .publish(digest: nil, durable: true))
        session.published()
        #expect(!session.isDurable && !session.needsDurableRow)
        // A new copy-on-write starts a staging file that is not durable.
        session.movedToStaging(sessionOpen: true)
        #expect(session.needsDurableRow)
    }

    @Test func aDigestComputedAheadIsUsedOnlyIfNothingChangedSince() {
        var session = rewritten()
        #expect(session.flushed(exiting: false, writers: 1, byOpener: true) == .finish)
        let digest = WriteSession.Digest(serial: session.serial, hash: "abc")
        #expect(session.completeFlush(.finish, rowStaged: true, digest: digest) == .publish(digest: "abc", durable: false))

        var changed = rewritten()
        #expect(changed.hasOpenSession, "the last writer's release would end it")
        let stale = WriteSession.Digest(serial: changed.serial, hash: "stale")
        changed.wrote()
        #expect(changed.flushed(exiting: false, writers: 1, byOpener: false) == .recordStaging)
        #expect(changed.released(writersLeft: 0, orphaned: false, digest: stale) == .publish(digest: nil, durable: false))
        #expect(!changed.hasOpenSession)
    }

    @Test func aWriteThroughAnotherDescriptorAfterThePublishingFlushStartsAgain() {
        var session = rewritten()
        #expect(close(&session).flush == .publish(digest: nil, durable: false))
        session.published()
        // The handle is still open (a dup): a write copies the blob again, in the same session.
        session.movedToStaging(sessionOpen: true)
        session.wrote()
        #expect(close(&session).flush == .publish(digest: nil, durable: false))
    }

    @Test func anFtruncateThroughAHandleWhoseFlushEndedTheSessionBelongsToItAgain() {
        var session = rewritten()
        session.writeFailed(kernelCacheStale: false)
        let step = session.flushed(exiting: false, writers: 1, byOpener: true)
        #expect(session.completeFlush(step, rowStaged: false) == .keepInterrupted)
        // Another descriptor of the same handle is still open.
        session.truncatedByWriter()
        #expect(session.state == .writing(.init(changed: true)))
        #expect(session.released(writersLeft: 0, orphaned: false) == .keepInterrupted)
    }
}
