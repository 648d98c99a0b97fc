@testable import EpochFS
import EpochStore
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PolicyTests {
    @Test func theShapeOfRootAndDistrictRootsIsFixed() throws {
        try withStore { store throws in
            let fs = store.fs
            for caller in [rootCaller, alphaCaller] {
                #expect(throws: Errno.notPermitted) { try fs.mkdir(parent: .root, name: "x", mode: 0o755, caller: caller) }
                #expect(throws: Errno.notPermitted) { try fs.mkdir(parent: store.districtRoot, name: "x", mode: 0o755, caller: caller) }
                #expect(throws: Errno.notPermitted) {
                    try fs.create(parent: store.districtRoot, name: "x", mode: 0o644, flags: writeFlags, caller: caller)
                }
                #expect(throws: Errno.notPermitted) {
                    try fs.create(parent: .root, name: "x", mode: 0o644, flags: writeFlags, caller: caller)
                }
                #expect(throws: Errno.notPermitted) { try fs.rmdir(parent: store.districtRoot, name: "upload", caller: caller) }
                #expect(throws: Errno.notPermitted) { try fs.rmdir(parent: .root, name: "alpha", caller: caller) }
            }
            #expect(try store.names(.root) == ["alpha"])
            #expect(Set(try store.names(store.districtRoot)) == ["upload", "upload-processed"])
        }
    }

    @Test func onlyRootWritesInUploadProcessed() throws {
        try withStore { store throws in
            let fs = store.fs
            #expect(throws: Errno.accessDenied) {
                try fs.create(parent: store.processed, name: "x", mode: 0o644, flags: writeFlags, caller: alphaCaller)
            }
            #expect(throws: Errno.accessDenied) {
                try fs.mkdir(parent: store.processed, name: "x", mode: 0o755, caller: alphaCaller)
            }
            let epoch = try fs.mkdir(parent: store.processed, name: "1764374400", mode: 0o755, caller: rootCaller)
            #expect(try store.record(epoch.ino)?.zone == .processedTree)
            let log = try fs.makeFile(in: epoch.ino, "processing-succeeded.log", bytes("ok"), caller: rootCaller)
            #expect(try store.record(log)?.zone == .processedTree)

            #expect(throws: Errno.accessDenied) { try fs.open(log, flags: O_WRONLY, caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { try fs.access(log, mask: W_OK, caller: alphaCaller) }
            try fs.access(log, mask: R_OK, caller: alphaCaller)
            try fs.access(log, mask: W_OK, caller: rootCaller)
            #expect(throws: Errno.accessDenied) { try fs.setattr(log, AttributeChanges(size: 0), handle: nil, caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { try fs.unlink(parent: epoch.ino, name: "processing-succeeded.log", caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { try fs.rmdir(parent: store.processed, name: "1764374400", caller: alphaCaller) }
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(log, AttributeChanges(mtime: .at(1)), handle: nil, caller: alphaCaller)
            }
            #expect(try fs.contents(log) == bytes("ok"))

            try fs.unlink(parent: epoch.ino, name: "processing-succeeded.log", caller: rootCaller)
            try fs.rmdir(parent: store.processed, name: "1764374400", caller: rootCaller)
            #expect(try store.names(store.processed).isEmpty)
        }
    }

    @Test func districtWritesOnlyBelowUpload() throws {
        try withStore { store throws in
            let fs = store.fs
            try fs.access(store.upload, mask: W_OK, caller: alphaCaller)
            #expect(throws: Errno.accessDenied) { try fs.access(store.districtRoot, mask: W_OK, caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { try fs.access(store.processed, mask: W_OK, caller: alphaCaller) }
            #expect(throws: Errno.accessDenied) { try fs.access(.root, mask: W_OK, caller: alphaCaller) }
            #expect(throws: Errno.notPermitted) { try fs.refuseLink() }
        }
    }

    @Test func onlyRootChangesOwners() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "f", bytes("x"))
            #expect(throws: Errno.notPermitted) { try fs.setattr(ino, AttributeChanges(uid: 0), handle: nil, caller: alphaCaller) }
            #expect(throws: Errno.notPermitted) { try fs.setattr(ino, AttributeChanges(gid: 0), handle: nil, caller: alphaCaller) }
            #expect(try store.record(ino)?.uid == alphaUID)
            #expect(try store.record(ino)?.gid == alphaUID)

            let unchanged = try fs.setattr(ino, AttributeChanges(uid: alphaUID, gid: staffGID), handle: nil, caller: alphaCaller)
            #expect(unchanged.uid == alphaUID)
            #expect(unchanged.gid == staffGID)
            #expect(try store.record(ino)?.gid == alphaUID)

            let changed = try fs.setattr(ino, AttributeChanges(uid: 4242, gid: 4343), handle: nil, caller: rootCaller)
            #expect(changed.uid == 4242)
            #expect(try store.record(ino)?.uid == 4242)
            #expect(try store.record(ino)?.gid == 4343)
            #expect(changed.gid == staffGID)
        }
    }

    @Test func chmodNeverKeepsSetuidSetgidOrSticky() throws {
        try withStore { store throws in
            let fs = store.fs
            let ino = try fs.makeFile(in: store.upload, "tool", bytes("#!/bin/sh"), mode: 0o755)
            let attributes = try fs.setattr(ino, AttributeChanges(mode: 0o4755), handle: nil, caller: alphaCaller)
            #expect(attributes.mode & 0o7777 == 0o755)
            #expect(try store.record(ino)?.mode == 0o755)
            _ = try fs.setattr(ino, AttributeChanges(mode: 0o7711), handle: nil, caller: alphaCaller)
            #expect(try store.record(ino)?.mode == 0o711)
            #expect(try fs.getattr(ino).mode & 0o7000 == 0)

            let dir = try fs.mkdir(parent: store.upload, name: "d", mode: 0o3777, caller: alphaCaller)
            #expect(dir.mode & 0o7000 == 0)
            let created = try fs.makeFile(in: store.upload, "s", bytes("x"), mode: 0o6755)
            #expect(try fs.getattr(created).mode & 0o7000 == 0)
        }
    }

    @Test func uploadKeepsItsModeAndOwner() throws {
        try withStore { store throws in
            let fs = store.fs
            for caller in [alphaCaller, rootCaller] {
                #expect(throws: Errno.notPermitted) {
                    try fs.setattr(store.upload, AttributeChanges(mode: 0o777), handle: nil, caller: caller)
                }
            }
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(store.upload, AttributeChanges(uid: 0), handle: nil, caller: rootCaller)
            }
            let same = try fs.setattr(store.upload, AttributeChanges(mode: 0o750), handle: nil, caller: alphaCaller)
            #expect(same.mode == UInt32(S_IFDIR) | 0o750)
            let touched = try fs.setattr(store.upload, AttributeChanges(mtime: .at(5_000_000_000)), handle: nil, caller: alphaCaller)
            #expect(touched.mtime == 5_000_000_000)
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(store.districtRoot, AttributeChanges(mode: 0o700), handle: nil, caller: rootCaller)
            }
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(store.processed, AttributeChanges(mtime: .now), handle: nil, caller: alphaCaller)
            }
            _ = try fs.setattr(store.processed, AttributeChanges(mtime: .at(7)), handle: nil, caller: rootCaller)
            #expect(try fs.getattr(store.processed).mtime == 7)
        }
    }

    @Test func presentedAttributesOfTheFixedDirectories() throws {
        try withStore { store throws in
            let fs = store.fs
            let root = try fs.getattr(.root)
            #expect(root.mode == UInt32(S_IFDIR) | 0o755)
            #expect(root.uid == 0 && root.gid == 0)
            #expect(root.nlink == 3)
            let districtRoot = try fs.lookup(parent: .root, name: "alpha")
            #expect(districtRoot.ino == store.districtRoot)
            #expect(districtRoot.mode == UInt32(S_IFDIR) | 0o755)
            #expect(districtRoot.uid == 0 && districtRoot.gid == 0)
            #expect(districtRoot.nlink == 4)
            let upload = try fs.lookup(parent: store.districtRoot, name: "upload")
            #expect(upload.mode == UInt32(S_IFDIR) | 0o750)
            #expect(upload.uid == alphaUID)
            #expect(upload.gid == staffGID)
            let processed = try fs.lookup(parent: store.districtRoot, name: "upload-processed")
            #expect(processed.mode == UInt32(S_IFDIR) | 0o550)
            #expect(processed.uid == alphaUID && processed.gid == staffGID)
        }
    }

    @Test func filesBelowUploadShowTheStaffGroupWithReadAndNeverWrite() throws {
        try withStore { store throws in
            let fs = store.fs
            let cases: [(UInt32, UInt32)] = [(0o600, 0o640), (0o666, 0o646), (0o644, 0o644), (0o620, 0o640), (0o000, 0o040)]
            for (index, (requested, shown)) in cases.enumerated() {
                let ino = try fs.makeFile(in: store.upload, "f\(index)", bytes("x"), mode: requested)
                let attributes = try fs.getattr(ino)
                #expect(attributes.mode == UInt32(S_IFREG) | shown, "mode \(String(requested, radix: 8))")
                #expect(attributes.uid == alphaUID)
                #expect(attributes.gid == staffGID)
                #expect(attributes.nlink == 1)
                #expect(try store.record(ino)?.mode == requested)
            }
            let dir = try fs.mkdir(parent: store.upload, name: "d", mode: 0o700, caller: alphaCaller)
            #expect(dir.mode == UInt32(S_IFDIR) | 0o750)
            #expect(dir.gid == staffGID)
            let wide = try fs.mkdir(parent: store.upload, name: "w", mode: 0o777, caller: alphaCaller)
            #expect(wide.mode == UInt32(S_IFDIR) | 0o757)

            let ino = try fs.lookup(parent: store.upload, name: "f0").ino
            let chmodded = try fs.setattr(ino, AttributeChanges(mode: 0o664), handle: nil, caller: alphaCaller)
            #expect(chmodded.mode == UInt32(S_IFREG) | 0o644)
            #expect(try store.record(ino)?.mode == 0o664)
        }
    }

    @Test func uploadProcessedIsShownAsTheDistrictsReadOnlyAndPrivate() throws {
        try withStore { store throws in
            let fs = store.fs
            for mode: UInt32 in [0o600, 0o644, 0o777, 0o000] {
                let log = try fs.makeFile(in: store.processed, "log\(mode)", bytes("x"), mode: mode, caller: rootCaller)
                let attributes = try fs.getattr(log)
                #expect(attributes.mode == UInt32(S_IFREG) | 0o440, "a root-made file of mode \(String(mode, radix: 8))")
                #expect(attributes.gid == staffGID)
                #expect(attributes.uid == alphaUID)
            }
            let epoch = try fs.mkdir(parent: store.processed, name: "1764374400", mode: 0o777, caller: rootCaller)
            #expect(epoch.mode == UInt32(S_IFDIR) | 0o550)
            #expect(epoch.uid == alphaUID && epoch.gid == staffGID)
            // A mode or owner would change nothing that anyone sees: even root is refused.
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(epoch.ino, AttributeChanges(mode: 0o755), handle: nil, caller: rootCaller)
            }
            #expect(throws: Errno.notPermitted) {
                try fs.setattr(epoch.ino, AttributeChanges(uid: 0), handle: nil, caller: rootCaller)
            }
            _ = try fs.setattr(epoch.ino, AttributeChanges(mtime: .at(1)), handle: nil, caller: rootCaller)
        }
    }

    @Test func attributesCarrySizeBlocksAndTimes() throws {
        try withStore { store throws in
            let fs = store.fs
            let before = WallClock.system.now()
            let ino = try fs.makeFile(in: store.upload, "f", pattern(5000))
            let attributes = try fs.getattr(ino)
            #expect(attributes.size == 5000)
            #expect(attributes.blocks == 16)
            #expect(attributes.mtime >= before && attributes.mtime <= WallClock.system.now())
            let set = try fs.setattr(ino, AttributeChanges(atime: .at(11_000_000_000), mtime: .at(22_000_000_000)),
                                     handle: nil, caller: alphaCaller)
            #expect(set.atime == 11_000_000_000)
            #expect(set.mtime == 22_000_000_000)
            #expect(set.ctime >= before)
            #expect(try store.record(ino)?.mtime == 22_000_000_000)
            #expect(try fs.getattr(store.upload).blocks == 8)
        }
    }
}
