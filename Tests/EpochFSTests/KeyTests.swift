@testable import EpochFS
import EpochStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct KeyTests {
    private func key(_ n: Int, comment: String = "") -> StoredKey {
        StoredKey(fingerprint: "SHA256:fp\(n)", algorithm: "ssh-ed25519", bits: 256, data: "AAAA\(n)",
                  comment: comment, added: Int64(n))
    }

    private func file(_ store: TestStore, _ district: String) -> String? {
        try? String(contentsOfFile: store.root + "/authorized_keys/" + district, encoding: .utf8)
    }

    @Test func addedKeysReachTheDistrictsFileWithRestrictAtOnce() throws {
        try withStore { store throws in
            let added = try store.administration.addKeys([key(1, comment: "night job"), key(2)], to: "alpha")
            #expect(added.count == 2)
            #expect(file(store, "alpha") == "restrict ssh-ed25519 AAAA1 night job\nrestrict ssh-ed25519 AAAA2\n")
            #expect(try store.administration.keys(of: "alpha").map(\.fingerprint) == ["SHA256:fp1", "SHA256:fp2"])
        }
    }

    @Test func aKeyAddedTwiceIsStoredOnce() throws {
        try withStore { store throws in
            _ = try store.administration.addKeys([key(1)], to: "alpha")
            let again = try store.administration.addKeys([key(1), key(3)], to: "alpha")
            #expect(again.map(\.fingerprint) == ["SHA256:fp3"])
            #expect(try store.administration.keys(of: "alpha").count == 2)
        }
    }

    @Test func removingTheLastKeyRemovesTheFile() throws {
        try withStore { store throws in
            _ = try store.administration.addKeys([key(1), key(2)], to: "alpha")
            _ = try store.administration.removeKey(fingerprint: "fp1", from: "alpha")  // the SHA256: prefix is optional
            #expect(file(store, "alpha") == "restrict ssh-ed25519 AAAA2\n")
            _ = try store.administration.removeKey(fingerprint: "SHA256:fp2", from: "alpha")
            #expect(file(store, "alpha") == nil)
            #expect(throws: AdminError.self) { try store.administration.removeKey(fingerprint: "SHA256:fp2", from: "alpha") }
        }
    }

    @Test func keysOfAnUnknownDistrictAreRefused() throws {
        try withStore { store throws in
            #expect(throws: AdminError.self) { try store.administration.addKeys([key(1)], to: "nobody") }
            #expect(file(store, "nobody") == nil)
        }
    }

    @Test func removingADistrictRemovesItsKeysAndARecreatedOneHasNone() throws {
        try withStore { store throws in
            _ = try store.administration.addKeys([key(1)], to: "alpha")
            try store.administration.removeDistrict(name: "alpha", deleteData: false)
            #expect(file(store, "alpha") == nil)
            _ = try store.administration.addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID)
            #expect(try store.administration.keys(of: "alpha").isEmpty)
        }
    }

    @Test func openingAStoreRewritesTheFilesFromTheMetadata() throws {
        try withStore { store throws in
            _ = try store.administration.addKeys([key(1)], to: "alpha")
            let directory = store.root + "/authorized_keys"
            try "restrict ssh-ed25519 STALE\n".write(toFile: directory + "/alpha", atomically: false, encoding: .utf8)
            try "restrict ssh-ed25519 GONE\n".write(toFile: directory + "/ghost", atomically: false, encoding: .utf8)
            _ = try store.reopened()
            #expect(file(store, "alpha") == "restrict ssh-ed25519 AAAA1\n")
            #expect(file(store, "ghost") == nil)
        }
    }

    @Test func aFileThatIsCurrentIsNotWrittenAgain() throws {
        try withStore { store throws in
            _ = try store.administration.addKeys([key(1)], to: "alpha")
            let path = store.root + "/authorized_keys/alpha"
            let before = try #require(try Sys.status(path)).st_ino
            _ = try store.reopened()
            _ = try store.administration.addKeys([key(1)], to: "alpha")
            #expect(try Sys.status(path)?.st_ino == before, "same content, owner and mode: no new file")
            _ = try store.administration.addKeys([key(2)], to: "alpha")
            #expect(try Sys.status(path)?.st_ino != before, "new content: a new file renamed into place")
        }
    }

    @Test func onlyRootAndTheKeyGroupCanReachTheKeys() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("epochfs-keys-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let keysGroup: gid_t = 4343
        let fs = try FileSystem(storeRoot: root, staffGID: staffGID, keysGroup: keysGroup, logger: quietLogger)
        _ = try Administration(fs).addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID)
        _ = try Administration(fs).addKeys([key(1)], to: "alpha")
        func status(_ path: String) throws -> stat { try #require(try Sys.status(path)) }
        let store = try status(root)
        #expect(store.st_mode & 0o7777 == 0o711)
        let directory = try status(root + "/authorized_keys")
        #expect(directory.st_mode & 0o7777 == 0o750 && directory.st_gid == keysGroup && directory.st_uid == 0)
        let file = try status(root + "/authorized_keys/alpha")
        #expect(file.st_mode & 0o7777 == 0o640 && file.st_gid == keysGroup && file.st_uid == 0)
        for name in ["metadata.db", "metadata.db-wal", "metadata.db-shm"] where try Sys.status(root + "/" + name) != nil {
            #expect(try status(root + "/" + name).st_mode & 0o077 == 0, "\(name) is root's alone")
        }
        #expect(try Sys.status(root + "/metadata.db-wal") != nil, "the check above saw the WAL file")
    }
}
