#if canImport(Glibc)
import Glibc
#endif
import EpochStore
import Foundation

extension FileSystem {
    // MARK: Create and open

    public func create(parent: InodeNumber, name: String, mode: UInt32, flags: Int32,
                       caller: Caller) throws(Errno) -> (Attributes, Handle) {
        try Self.checkName(name)
        let now = clock.now()
        return try locked { state in
            var record = try newEntry(.file, named: name, in: parent, mode: mode, caller: caller, now: now, state)
            let budget = try descriptorBudget(for: record, caller: caller, state)
            let account = quotaAccount(for: record, state)
            try account?.chargeEntry(logger: logger, now: now)
            let fd: Int32
            do {
                fd = try state.metadata.transaction {
                    record.ino = try state.metadata.insert(record)
                    try state.metadata.touch(parent, mtime: now)
                    return try blobs.createStaging(record.ino)
                }
            } catch {
                account?.credit(bytes: 0, entries: 1)
                throw error
            }
            var content = OpenFile.Content(fd: fd, session: .created, size: 0, atime: now, mtime: now, ctime: now)
            content.quota = account
            content.hash = StreamingHash()
            content.opens = 1
            let writable = flags & O_ACCMODE != O_RDONLY
            let file = OpenFile(ino: record.ino, content: content, writers: writable ? 1 : 0)
            state.open[record.ino] = file
            if let budget { state.descriptors[budget, default: 0] += 1 }
            state.lookups[record.ino, default: 0] += 1
            noteEpochChange(record.epoch, &state, now: now)
            return (attributes(record, state), Handle(file: file, writable: writable, openerPID: caller.pid,
                                                      caching: caching(writable: writable, quota: account),
                                                      budget: budget))
        }
    }

    /// Opens `ino` for one more handle. With passthrough, `registerBacking` gives the kernel a
    /// descriptor as a backing file and returns its id (0 when the kernel refused it).
    public func open(_ ino: InodeNumber, flags: Int32, caller: Caller,
                     registerBacking: ((Int32) -> Int32)? = nil) throws(Errno) -> Handle {
        // O_RDONLY|O_TRUNC truncates too (the kernel checked write permission).
        let writable = flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0
        let registerBacking = usesPassthrough ? registerBacking : nil
        if writable || registerBacking != nil { waitForReleasesInFlight(ino, writable: writable, caller: caller) }
        let (file, backingID, budget) = try acquire(ino, writable: writable, caller: caller, registerBacking: registerBacking)
        let handle = Handle(file: file, writable: writable, openerPID: caller.pid,
                            caching: caching(writable: writable, quota: file.state.withLock { $0.quota }, backingID: backingID),
                            backingID: backingID, budget: budget)
        if writable && flags & O_TRUNC != 0 {
            do {
                try withCopyOnWrite(file) { content throws(Errno) in try resize(&content, ino: ino, to: 0) }
            } catch {
                release(handle)
                throw error
            }
        }
        return handle
    }

    /// The district whose budget of open files a new handle counts against, or EMFILE when
    /// that budget is spent: each district's processes may hold `limits.maxOpenFiles` files
    /// open (the daemon holds a descriptor for each open file, and a copy-on-write's old one
    /// only while a read replies from it), so that no district can use up the daemon's
    /// descriptors and fail another's opens. Root and staff are not counted.
    func descriptorBudget(for record: InodeRecord, caller: Caller, _ state: State) throws(Errno) -> Int64? {
        guard !caller.isRoot, record.district != 0, state.districtOwners[record.district] == caller.uid else { return nil }
        guard state.descriptors[record.district, default: 0] < limits.maxOpenFiles else {
            throw .tooManyOpenFiles
        }
        return record.district
    }

    /// The kernel sends RELEASE after close() has returned, from a queue of its own, so the
    /// open that follows a close can arrive first. With passthrough that would make a writer
    /// meet a reader that has already gone (ETXTBSY) and a reader meet a writer that has gone
    /// (no passthrough for it); so such an open waits a little for the release: a writer up to
    /// half a second before it is refused, a reader 20 ms before it reads through the daemon.
    ///
    /// The wait sleeps in a request thread, of which every district shares a few: each caller
    /// (uid) may have one open waiting at a time, and all together at most
    /// `ReleaseWaits.total`; an open beyond those does not wait (ETXTBSY for a writer, reads
    /// through the daemon for a reader), so that no district can keep the threads asleep.
    func waitForReleasesInFlight(_ ino: InodeNumber, writable: Bool, caller: Caller) {
        guard usesPassthrough else { return }
        let conflicting = { () -> Bool in
            let file = self.state.withLock { $0.open[ino] }
            return file?.state.withLock({ $0.passthroughConflicts(writable: writable) }) == true
        }
        guard conflicting(), releaseWaits.withLock({ $0.enter(caller.uid) }) else { return }
        defer { releaseWaits.withLock { $0.leave(caller.uid) } }
        let deadline = ContinuousClock.now + .milliseconds(writable ? 500 : 20)
        while ContinuousClock.now < deadline, conflicting() {
            usleep(1_000)
        }
    }

    /// Opens `ino` (or joins its open state) for one more handle; with `registerBacking`, a
    /// reader reads through the file holding the content when no writer has it open.
    /// A writer cannot join readers that read through a backing file (ETXTBSY): the kernel
    /// keeps that file for the inode until they close, and would not see the writer's bytes.
    /// `charged`: the open counts against the caller's district's budget of open files (not
    /// the filesystem's own short opens, such as a truncate by path).
    private func acquire(_ ino: InodeNumber, writable: Bool, caller: Caller, startsSession: Bool = true, charged: Bool = true,
                         registerBacking: ((Int32) -> Int32)? = nil) throws(Errno) -> (OpenFile, backingID: Int32, budget: Int64?) {
        try locked { state in
            guard let record = try state.metadata.inode(ino) else { throw Errno.noEntry }
            if record.isDirectory { throw Errno.isDirectory }
            if writable && !caller.isRoot && !Policy.districtMayWrite(record.zone) { throw Errno.accessDenied }
            if writable { try checkEpochAllowsChange(record.epoch, state) }
            let budget = charged ? try descriptorBudget(for: record, caller: caller, state) : nil
            let file: OpenFile
            if let existing = state.open[ino] {
                file = existing
            } else {
                let fd = try openContent(of: record)
                var content = OpenFile.Content(
                    fd: fd, session: .opened(staged: record.staged), size: record.size,
                    atime: record.atime, mtime: record.mtime, ctime: record.ctime)
                // An inode whose name is gone can still be opened through the kernel's cache.
                content.orphaned = record.parent == nil
                content.quota = quotaAccount(for: record, state)
                file = OpenFile(ino: ino, content: content)
                state.open[ino] = file
            }
            let backingID = try file.state.withLock { content throws(Errno) -> Int32 in
                let conflicting = content.passthroughConflicts(writable: writable)
                if writable && conflicting { throw Errno.textBusy }
                content.opens += 1
                var backingID: Int32 = 0
                if !writable, !conflicting, let registerBacking {
                    if content.backingID == 0 {
                        content.backingID = max(0, registerBacking(content.fd))
                        if content.backingID != 0 {
                            metrics.backingFiles.add(1, ordering: .relaxed)
                        } else {
                            noteBackingRefused()
                        }
                    }
                    if content.backingID != 0 {
                        content.passthroughOpens += 1
                        backingID = content.backingID
                    }
                }
                if writable {
                    content.session.openedForWriting(first: file.writers.load(ordering: .relaxed) == 0,
                                                     startsSession: startsSession)
                    file.writers.add(1, ordering: .relaxed)
                }
                return backingID
            }
            if let budget { state.descriptors[budget, default: 0] += 1 }
            return (file, backingID, budget)
        }
    }

    /// Opens the file that holds `record`'s content. A row whose staging file or blob is gone
    /// is damage to the store (EIO, logged), not a name that does not exist (ENOENT).
    private func openContent(of record: InodeRecord) throws -> Int32 {
        do {
            if record.staged { return try blobs.openStaging(record.ino) }
            guard let hash = record.blob else { throw Errno.io }
            return try blobs.openBlob(hash)
        } catch let error as SystemError where error.errno == ENOENT {
            logger.error("a file's content is missing from the store", metadata: [
                "inode": "\(record.ino)", "blob": "\(record.blob ?? "-")", "staged": "\(record.staged)", "error": "\(error)"])
            throw Errno.io
        }
    }

    // MARK: Data

    /// Answers a read: `reply` gets the descriptor and byte count to reply from, without the
    /// file's lock (reads of one file go on in parallel); a copy-on-write meanwhile keeps the
    /// descriptor open until no read replies from it any more.
    public func read<T>(_ handle: Handle, offset: Int64, size: Int, reply: (_ fd: Int32, _ count: Int) -> T) throws(Errno) -> T {
        guard let file = handle.file else { throw .isDirectory }
        let (fd, count) = file.state.withLock { content in
            content.readsInFlight += 1
            return self.readRange(&content, offset: offset, size: size)
        }
        defer {
            file.state.withLock { content in
                content.readsInFlight -= 1
                if content.readsInFlight == 0 { content.closeRetiredDescriptors() }
            }
        }
        return reply(fd, count)
    }

    private func readRange(_ content: inout OpenFile.Content, offset: Int64, size: Int) -> (fd: Int32, count: Int) {
        let count = max(0, min(Int64(size), content.size - offset))
        // relatime: atime moves only when it is older than the last change or a day old.
        if content.atime <= content.mtime || clock.now() - content.atime > 86_400_000_000_000 {
            content.atime = clock.now()
            content.attributesDirty = true
        }
        metrics.readBytes.add(count, ordering: .relaxed)
        return (content.fd, Int(count))
    }

    /// A write answered when it returns: every failure is thrown.
    public func write(_ handle: Handle, offset: Int64, bytes: UnsafeRawBufferPointer, durable: Bool = false) throws(Errno) -> Int {
        try write(handle, offset: offset, bytes: bytes, durable: durable, answersEarly: false) { _ in }
    }

    /// Writes are serialised per file: the bytes go to the staging file and, when they
    /// continue the hashed prefix, into the hash from the same buffer. (Writing outside the
    /// lock to overlap the kernel's parallel writeback was measured slower: out-of-order
    /// completions make the hash read ranges back from the file.)
    ///
    /// Growth past the district's quota is refused before anything changes; a write that
    /// crosses the limit writes what fits and returns the shorter count (the writer's next
    /// write is refused). Either way the writing session counts as interrupted.
    /// `durable`: the write asks for O_DSYNC semantics (the open's flags or `RWF_DSYNC`); the
    /// kernel leaves that to the filesystem for direct-I/O handles.
    ///
    /// `acknowledge` is called with the count as soon as the write is accepted
    /// (quota charged, size and times moved), before the bytes are copied into the staging
    /// file and hashed, so that the writer's next request overlaps that work; the file stays
    /// locked until it is done. Once it has been called the write does not throw: a failure
    /// after it interrupts the session, and every later write, fsync and flush of the session
    /// fails with it. `acknowledge` runs with the file locked: it must not call back into the
    /// filesystem.
    /// Durable writes are never acknowledged early. `answersEarly`: false for a caller answered
    /// when the write returns, to whom every failure is thrown.
    public func write(_ handle: Handle, offset: Int64, bytes: UnsafeRawBufferPointer, durable: Bool = false,
                      answersEarly: Bool = true, acknowledge: (Int) -> Void) throws(Errno) -> Int {
        guard let file = handle.file else { throw .isDirectory }
        guard handle.writable else { throw .badHandle }
        // The kernel leaves O_DSYNC of a direct write to the filesystem: such a write is synced
        // before its reply and keeps its errors to itself; any other is acknowledged once it
        // is accepted, before the bytes are copied and hashed.
        let syncsBeforeReply = durable && handle.directIO
        let answersEarly = answersEarly && !syncsBeforeReply
        let count = try withCopyOnWrite(file) { content throws(Errno) -> Int in
            if let error = content.session.lateWriteError { throw error }
            var bytes = bytes
            // Past the largest file a district may have, as Linux does for RLIMIT_FSIZE: what
            // fits is written (a short count), a write starting at the limit fails.
            if offset > limits.maxFileSize - Int64(bytes.count) {
                failed(&content, through: handle)
                guard offset < limits.maxFileSize else { throw Errno.fileTooLarge }
                bytes = UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(limits.maxFileSize - offset)))
            }
            var growth = max(0, offset + Int64(bytes.count) - content.size)
            if growth > 0, let account = content.quota {
                let granted = account.charge(upTo: growth)
                if granted < growth {
                    failed(&content, through: handle)
                    account.noteRefusal("a write", logger: logger, now: clock.now())
                    let fitting = content.size + granted - offset
                    guard fitting > 0 else {
                        account.credit(bytes: granted)
                        throw Errno.quotaExceeded
                    }
                    bytes = UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(fitting)))
                    growth = granted
                }
            }
            do throws(Errno) {
                guard try makeStaging(&content, ino: file.ino, keeping: content.size, sessionOpen: true) else {
                    // The blob is copied without the lock first; then this runs again.
                    content.quota?.credit(bytes: growth)
                    return 0
                }
            } catch {
                content.quota?.credit(bytes: growth)
                failed(&content, through: handle)
                throw error
            }
            let previousSize = content.size
            content.size = max(content.size, offset + Int64(bytes.count))
            let now = clock.now()
            content.mtime = now
            content.ctime = now
            content.session.wrote()
            // The file stays locked until the bytes are in: whatever reads, stats, syncs or
            // closes it next sees them.
            if answersEarly { acknowledge(bytes.count) }
            do {
                try Sys.pwriteAll(content.fd, bytes, offset)
            } catch {
                // Part of the buffer may have landed: cut anything past the old size (it is
                // not content) and hash the file again at publish.
                try? Sys.ftruncate(content.fd, previousSize)
                content.size = previousSize
                content.hash.invalidate()
                content.quota?.credit(bytes: growth)
                failed(&content, through: handle)
                guard answersEarly else { throw Errno(error) }
                // The kernel took the acknowledged size even for a direct handle (and keeps
                // its own under the writeback cache): it forgets the file at the last close.
                content.session.writeFailedAfterAcknowledgement(Errno(error))
                logger.error("a write failed after it was acknowledged; the upload fails at its next write or close",
                             metadata: ["inode": "\(file.ino)", "offset": "\(offset)", "error": "\(error)"])
                return bytes.count
            }
            content.hash.wrote(bytes, at: offset, fd: content.fd)
            return bytes.count
        }
        if syncsBeforeReply {
            do {
                try fsync(handle, dataOnly: true)
            } catch {
                // The bytes landed but are not durable: the writer is told, as Linux tells an
                // O_DSYNC writer, and the kernel (which did not take the new size) forgets the
                // file at its last close.
                file.state.withLock { $0.session.writeFailed(kernelCacheStale: true) }
                throw error
            }
        }
        return count
    }

    /// A write through `handle` failed or was cut short: the session is interrupted, and a
    /// write the kernel had taken into its cache leaves it holding bytes (and a size) the store
    /// does not have, to be dropped at the last close.
    private func failed(_ content: inout OpenFile.Content, through handle: Handle) {
        content.session.writeFailed(kernelCacheStale: !handle.directIO)
    }

    /// Truncates by path or by handle.
    func truncate(_ ino: InodeNumber, to size: Int64, handle: Handle?, caller: Caller) throws(Errno) {
        if size < 0 { throw .invalid }
        if let handle, handle.writable, let file = handle.file {
            try withCopyOnWrite(file) { content throws(Errno) in
                try resize(&content, ino: ino, to: size, failureInterrupts: true)
                content.session.truncatedByWriter()
            }
            return
        }
        // By path: open the file for the truncate and close it again. A published file that
        // changes is published again; a file still in staging (being written, or interrupted)
        // stays there with its new size: a truncate does not make an upload complete.
        // Like a writer's open, it waits for passthrough readers whose release is on its way.
        waitForReleasesInFlight(ino, writable: true, caller: caller)
        let (file, _, _) = try acquire(ino, writable: true, caller: caller, startsSession: false, charged: false)
        let internalHandle = Handle(file: file, writable: true)
        do {
            try withCopyOnWrite(file) { content throws(Errno) in
                let wasStaging = content.session.isStaging
                let serial = content.session.serial
                let otherWriters = file.writers.load(ordering: .relaxed) > 1
                try resize(&content, ino: ino, to: size, sessionOpen: otherWriters)
                guard content.session.serial != serial else { return }
                content.attributesDirty = true
                content.session.truncatedByPath(wasPublished: !wasStaging, otherWriters: otherWriters)
            }
        } catch {
            release(internalHandle)
            throw error
        }
        release(internalHandle)
    }

    /// Changes the size; a truncate to the current size copies nothing and changes nothing.
    /// `failureInterrupts`: a failure leaves the writing session interrupted (an ftruncate
    /// through the writer's handle; not a truncate by path or `O_TRUNC`, whose caller gets
    /// the error and whose refusal changes nothing). `sessionOpen`: see
    /// `WriteSession.movedToStaging`.
    private func resize(_ content: inout OpenFile.Content, ino: InodeNumber, to size: Int64,
                        failureInterrupts: Bool = false, sessionOpen: Bool = true) throws(Errno) {
        let old = content.size
        guard size != old else { return }
        if size > limits.maxFileSize {
            if failureInterrupts { content.session.writeFailed(kernelCacheStale: false) }
            throw .fileTooLarge
        }
        let charged = max(0, size - old)
        do {
            if charged > 0 { try charge(&content, bytes: charged, for: "a truncate") }
        } catch {
            if failureInterrupts { content.session.writeFailed(kernelCacheStale: false) }
            throw error
        }
        // The account ends up with the size the file really has, whatever fails below.
        defer { content.quota?.credit(bytes: charged - (content.size - old)) }
        do {
            // Without a copy of the blob yet: this runs again once it is made.
            guard try makeStaging(&content, ino: ino, keeping: min(size, old), sessionOpen: sessionOpen) else { return }
            try mapErrors { try Sys.ftruncate(content.fd, size) }
        } catch {
            if failureInterrupts { content.session.writeFailed(kernelCacheStale: false) }
            throw error
        }
        content.hash.truncated(to: size)
        content.size = size
        let now = clock.now()
        content.mtime = now
        content.ctime = now
        content.session.resized()
    }

    /// Charges a file's growth to its district's quota, noting a refusal.
    private func charge(_ content: inout OpenFile.Content, bytes: Int64, for what: String) throws(Errno) {
        guard let account = content.quota else { return }
        do {
            try account.charge(bytes: bytes)
        } catch {
            account.noteRefusal(what, logger: logger, now: clock.now())
            throw error
        }
    }

    /// Runs `change`, a write or truncate, under the file's lock. A change to a published file
    /// first copies the blob (up to what the change keeps) into its new staging file
    /// (`makeStaging`), which may take a whole file (gigabytes) and must not hold up whoever
    /// waits for the file's lock, a stat or an open under the metadata lock above all. So
    /// `makeStaging`, finding no copy made, asks for one (`copyWanted`), and the change returns
    /// having changed nothing; the copy is made without the lock, and the change runs again and
    /// takes it. The change alone decides whether to copy: one that changes nothing, or is
    /// refused (the largest file, the quota), returns before `makeStaging` and costs no copy.
    /// Every write and truncate holds `file.copying` throughout: copies are made at one path,
    /// no change may make its own there while another is being made, and no size changes
    /// between the two runs. A copy that fails fails the change, with nothing changed.
    func withCopyOnWrite<T: Sendable>(_ file: OpenFile,
                                      _ change: (inout OpenFile.Content) throws(Errno) -> T) throws(Errno) -> T {
        try file.copying.withLock { _ throws(Errno) -> T in
            var copied = false
            defer {
                if copied {
                    file.state.withLock { content in
                        guard let unused = content.preparedCopy else { return }
                        content.preparedCopy = nil
                        Sys.close(unused.fd)
                        if !content.session.isStaging { try? blobs.removeStaging(file.ino) }
                    }
                }
            }
            while true {
                // The change; and, when it wants a copy, the blob's descriptor (a duplicate: the
                // file's may be retired meanwhile) and how many bytes to copy.
                let (result, copy) = try file.state.withLock { content throws(Errno) -> (T, (fd: Int32, count: Int64)?) in
                    let result = try change(&content)
                    guard let count = content.copyWanted else { return (result, nil) }
                    content.copyWanted = nil
                    return (result, (try mapErrors { try Sys.duplicate(content.fd) }, count))
                }
                guard let source = copy else { return result }
                defer { Sys.close(source.fd) }
                // A blob never changes: its copy needs no lock.
                let staging = try mapErrors { try blobs.createStaging(file.ino) }
                do {
                    try Sys.copyFile(from: source.fd, to: staging, count: source.count)
                } catch {
                    Sys.close(staging)
                    try? blobs.removeStaging(file.ino)
                    throw errnoOf(error)
                }
                metrics.copiedBytes.add(source.count, ordering: .relaxed)
                copied = true
                file.state.withLock { content in
                    if let unusable = content.preparedCopy { Sys.close(unusable.fd) }
                    content.preparedCopy = (staging, source.count)
                }
            }
        }
    }

    /// Copy-on-write: before the first change to a published file, its first `keeping` bytes
    /// go into a new staging file: the copy `withCopyOnWrite` made without the lock, or, with
    /// nothing to keep, an empty one. False when the copy is still to be made
    /// (`copyWanted`): the change is to return having changed nothing, and runs again.
    private func makeStaging(_ content: inout OpenFile.Content, ino: InodeNumber, keeping: Int64,
                             sessionOpen: Bool) throws(Errno) -> Bool {
        guard !content.session.isStaging else { return true }
        let staging: Int32
        if keeping == 0 {
            staging = try mapErrors { try blobs.createStaging(ino) }
        } else if let prepared = content.preparedCopy, prepared.count == keeping {
            content.preparedCopy = nil
            staging = prepared.fd
        } else {
            content.copyWanted = keeping
            return false
        }
        // A read may still reply from the old descriptor: then it is closed after the last one.
        if content.readsInFlight > 0 { content.retiredFDs.append(content.fd) } else { Sys.close(content.fd) }
        content.fd = staging
        content.size = keeping
        content.hash = keeping == 0 ? StreamingHash() : .invalid
        content.session.movedToStaging(sessionOpen: sessionOpen)
        return true
    }

    // MARK: Close

    /// FLUSH carries the pid of the process closing the file. During a close made by process
    /// exit the process has already released its memory, so `/proc/<pid>/statm` reads all
    /// zeros; an explicit close() from a live process does not.
    ///
    /// The clean close of the last writer, by the thread that opened it, publishes the file
    /// here, before close() returns to the client: RELEASE follows asynchronously and a crash
    /// in between must not turn a finished upload into an interrupted one. Other flushes (a
    /// forked child's inherited descriptor, a dup) leave publishing to RELEASE
    /// (`WriteSession.flushed`).
    public func flush(_ handle: Handle, caller: Caller) throws(Errno) {
        guard let file = handle.file, handle.writable else { return }
        let exiting: Bool
        if let known = Sys.processIsExiting(caller.pid) {
            exiting = known
        } else {
            // A clean close must never be recorded as interrupted for want of a probe.
            exiting = false
            logger.warning("could not tell whether a closing process is exiting: its close counts as clean",
                           metadata: ["pid": "\(caller.pid)", "inode": "\(file.ino)"])
        }
        var step = WriteSession.FlushStep.nothing
        var lateError: Errno?
        let digest = digestAhead(file) { content in
            step = content.session.flushed(exiting: exiting, writers: file.writers.load(ordering: .relaxed),
                                           byOpener: caller.pid == handle.openerPID)
            lateError = content.session.lateWriteError
            return step == .finish
        }
        // Under the metadata lock: the end of the session, or the record that the content lives
        // in staging.
        if step != .nothing {
            let step = step
            do throws(Errno) {
                try locked { state in
                    guard var record = try state.metadata.inode(file.ino) else { return }
                    try file.state.withLock { content in
                        guard !content.orphaned else { return }
                        try carryOut(content.session.completeFlush(step, rowStaged: record.staged, digest: digest),
                                     &content, &record, state.publishing)
                    }
                }
            } catch {
                if lateError == nil { throw error }
            }
        }
        // A write failed after its reply: the session is interrupted, and the close says so.
        if let lateError { throw lateError }
    }

    /// Hashes what the streaming hash has not seen, and makes a file that was fsynced durable,
    /// ahead of the end of its writing session, which takes the metadata lock to publish it, and
    /// without the file's own lock: a resumed or rewritten file may need the whole file read
    /// again (gigabytes), which must hold up neither every other request (the metadata lock)
    /// nor whoever waits for this file (a stat takes its lock under the metadata lock). It reads
    /// a descriptor of its own, since the file's may be closed meanwhile. `endsSession` runs
    /// under the file's lock: it records the close and says whether it is to end the session.
    /// The digest names the serial it was computed at: the event that ends the session uses it
    /// only if no write or truncate came in between (a write holds the lock until its bytes
    /// are in, so an unchanged serial means unchanged bytes).
    private func digestAhead(_ file: OpenFile, _ endsSession: (inout OpenFile.Content) -> Bool) -> WriteSession.Digest? {
        let work = file.state.withLock { content -> (hash: StreamingHash, fd: Int32, serial: UInt64, size: Int64, durable: Bool)? in
            guard endsSession(&content), let fd = try? Sys.duplicate(content.fd) else { return nil }
            return (content.hash, fd, content.session.serial, content.size, content.session.isDurable)
        }
        guard var work else { return nil }
        defer { Sys.close(work.fd) }
        guard let hash = try? work.hash.finish(fd: work.fd, size: work.size) else { return nil }
        // The publish syncs again under the lock, then with nothing left to write.
        if work.durable { try? Sys.fdatasync(work.fd) }
        return WriteSession.Digest(serial: work.serial, hash: hash)
    }

    /// The kernel refused a backing file: the open reads through the daemon. Logged the first
    /// time only (a store below another FUSE mount or overlayfs is refused every time).
    private func noteBackingRefused() {
        if metrics.backingRefusals.add(1, ordering: .relaxed).oldValue == 0 {
            logger.warning("the kernel refused a passthrough backing file: reads go through the daemon (see the daemon's stderr for the reason; epochfs_passthrough_refusals_total counts them)")
        }
    }

    /// Closes `handle`. When the last writer goes without having published (no clean close),
    /// the file stays in staging, marked interrupted, to be resumed. `closeBacking` gives the
    /// kernel back a passthrough backing file's id once the last handle reading through it
    /// has closed.
    public func release(_ handle: Handle, closeBacking: ((Int32) -> Void)? = nil) {
        guard let file = handle.file else { return }
        // The last writer's release ends a session no flush has ended.
        let digest = handle.writable ? digestAhead(file) { content in
            file.writers.load(ordering: .relaxed) == 1 && content.session.hasOpenSession
        } : nil
        var unusedBacking: Int32 = 0
        do {
            try locked { state in try release(file, handle: handle, digest: digest, unusedBacking: &unusedBacking, &state) }
        } catch {
            logger.error("closing a file failed", metadata: ["inode": "\(file.ino)", "errno": "\(error)"])
        }
        if unusedBacking != 0 { closeBacking?(unusedBacking) }
    }

    private func release(_ file: OpenFile, handle: Handle, digest: WriteSession.Digest?, unusedBacking: inout Int32,
                         _ state: inout State) throws {
        // First, so that no failure below keeps the district's count up.
        if let budget = handle.budget {
            let left = (state.descriptors[budget] ?? 1) - 1
            state.descriptors[budget] = left > 0 ? left : nil
        }
        let meta = state.metadata, store = state.publishing
        let writable = handle.writable
        if handle.backingID != 0 {
            file.state.withLock { content in
                content.passthroughOpens -= 1
                if content.passthroughOpens == 0 {
                    unusedBacking = content.backingID
                    content.backingID = 0
                    metrics.backingFiles.subtract(1, ordering: .relaxed)
                }
            }
        }
        // `record` stays what the row says: at the last close, the quota count moves to it.
        guard var record = try meta.inode(file.ino) else { return }
        let (lastClose, orphaned, stale, account, held) = try file.state.withLock {
            content -> (Bool, Bool, Bool, QuotaAccount?, Int64) in
            content.opens -= 1
            if writable { file.writers.subtract(1, ordering: .relaxed) }
            let action = content.session.released(writersLeft: file.writers.load(ordering: .relaxed),
                                                   orphaned: content.orphaned, digest: digest)
            if !content.orphaned && action != .nothing {
                do {
                    try carryOut(action, &content, &record, store)
                } catch {
                    logger.error("publishing a closed file failed; it stays in staging, interrupted",
                                 metadata: ["inode": "\(file.ino)", "error": "\(error)"])
                }
            } else if !content.orphaned && content.attributesDirty && content.opens == 0 {
                var updated = record
                content.copyAttributes(into: &updated)
                if content.session.isStaging && !record.staged {
                    // Changed content nobody finished writing: keep it, as an interrupted file.
                    try store.keepStaged(&updated, interrupted: true)
                } else {
                    try meta.updateContent(updated)
                }
                record = updated
                content.attributesDirty = false
            }
            if content.opens == 0 {
                // Nothing can use the descriptors any more.
                Sys.close(content.fd)
                content.closeRetiredDescriptors()
                content.fd = -1
            }
            if content.orphaned { return (content.opens == 0, true, content.session.kernelCacheStale, nil, 0) }
            return (content.opens == 0, false, content.session.kernelCacheStale, content.quota, content.size)
        }
        if writable {
            // The settle period counts from the last writer's close.
            noteEpochChange(record.epoch, &state)
            if record.epoch == nil && record.zone == .uploadTree && record.parent != nil {
                noteLooseFile(record, name: record.name, &state)
            }
        }
        if lastClose {
            state.open[file.ino] = nil
            if let account, record.size != held {
                // The count followed the open file's size; from here on the row's counts. They
                // differ only when writing the row failed (a full disk).
                account.credit(bytes: held - record.size)
            }
            if orphaned { try deleteOrphanIfUnused(file.ino, &state) }
            if stale, let parent = record.parent { dropFromKernelCache(file.ino, parent: parent, name: record.name) }
        }
    }

    /// Makes the kernel forget a file whose cached pages and size the store refused (a write
    /// back that failed for the quota or a full disk): its pages and attributes are dropped,
    /// and so is its name, so that the inode is evicted (the kernel trusts its own size of a
    /// file under the writeback cache) and looked up afresh. Sent from a queue of its own: a
    /// thread answering a request must not wait on the kernel.
    private func dropFromKernelCache(_ ino: InodeNumber, parent: InodeNumber, name: String) {
        guard let notifier else { return }
        kernelNotices.async {
            notifier.invalidateInode(ino)
            notifier.invalidateEntry(parent: parent, name: name)
        }
    }

    /// Carries out what the write session decided, with the metadata lock and the file's held.
    /// `record` is the file's row, and stays what the row says: a change that fails leaves it.
    private func carryOut(_ action: WriteSession.Action, _ content: inout OpenFile.Content, _ record: inout InodeRecord,
                          _ store: ContentPublishing) throws {
        var updated = record
        content.copyAttributes(into: &updated)
        switch action {
        case .nothing:
            return
        case .recordStaging:
            try store.keepStaged(&updated, interrupted: false)
        case .keepInterrupted:
            content.attributesDirty = false
            try store.keepStaged(&updated, interrupted: true)
            logger.info("upload interrupted", metadata: ["inode": "\(record.ino)", "size": "\(content.size)"])
        case .publish(let digest, let durable):
            content.attributesDirty = false
            do {
                let hash: String
                if let digest {
                    hash = digest
                } else {
                    hash = try content.hash.finish(fd: content.fd, size: content.size)
                }
                try store.publishStaged(&updated, as: hash, fd: content.fd, durable: durable)
            } catch {
                // Keep what was received, as an interrupted file; the closer sees the error.
                if (try? store.keepStaged(&updated, interrupted: true)) != nil { record = updated }
                throw error
            }
            content.session.published()
            metrics.uploadCompleted(bytes: updated.size)
            logger.info("upload completed", metadata: [
                "inode": "\(updated.ino)", "district_id": "\(updated.district)", "epoch": "\(updated.epoch.map { "\($0)" } ?? "-")",
                "name": "\(updated.name)", "size": "\(updated.size)"])
        }
        record = updated
    }

    /// Makes the file's data and the metadata that names it durable, without publishing it.
    public func fsync(_ handle: Handle, dataOnly: Bool) throws(Errno) {
        guard let file = handle.file else { return }
        // The sync runs on a descriptor of its own, without the file's lock (a stat waits for
        // that lock under the metadata lock): it covers every write answered before the fsync,
        // since a write holds the lock until its bytes are in the file.
        let (fd, needsMetadata, published) = try file.state.withLock { content throws(Errno) -> (Int32, Bool, Bool) in
            // An acknowledged write that failed after its reply fails the rest of its session.
            if handle.writable, let error = content.session.lateWriteError { throw error }
            return (try mapErrors { try Sys.duplicate(content.fd) }, content.session.needsDurableRow, !content.session.isStaging)
        }
        defer { Sys.close(fd) }
        try mapErrors { try Sys.fdatasync(fd) }
        if published {
            // The blob's bytes and the commit that names it.
            try syncMetadata()
            return
        }
        guard needsMetadata else { return }
        // Rows made durable below must never name blobs whose bytes are not.
        try syncPublishedBlobs()
        try locked { state in
            guard var record = try state.metadata.inode(file.ino) else { return }
            try file.state.withLock { content in
                guard content.session.needsDurableRow else { return }
                content.copyAttributes(into: &record)
                try state.publishing.keepStaged(&record, interrupted: record.interrupted, durable: true)
                content.session.madeDurable()
            }
        }
    }
}
