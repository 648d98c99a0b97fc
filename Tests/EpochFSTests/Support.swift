import Crypto
@testable import EpochFS
@testable import EpochStore
import Foundation
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

let quietLogger = Logger(label: "epochfs.tests") { _ in SwiftLogNoOpLogHandler() }
let staffGID: UInt32 = 2000
let alphaUID: UInt32 = 1001
let betaUID: UInt32 = 1002
/// The district `alpha` writing from a live process (this one), so its flushes are clean.
let alphaCaller = Caller(uid: alphaUID, gid: alphaUID, pid: getpid())
let betaCaller = Caller(uid: betaUID, gid: betaUID, pid: getpid())
let rootCaller = Caller(uid: 0, gid: 0, pid: getpid())
let writeFlags = O_WRONLY | O_CREAT

/// A store in a fresh directory, served by a `FileSystem`, with the district `alpha`.
struct TestStore {
    let root: String
    let fs: FileSystem
    let alpha: DistrictRecord

    /// What staff do to this store.
    var administration: Administration { Administration(fs) }

    var districtRoot: InodeNumber { InodeNumber(rawValue: alpha.rootIno) }
    var upload: InodeNumber { InodeNumber(rawValue: alpha.uploadIno) }
    var processed: InodeNumber { InodeNumber(rawValue: alpha.processedIno) }

    /// Another `FileSystem` on the same store, as after a restart (or a crash of this one).
    func reopened() throws -> TestStore {
        TestStore(root: root, fs: try FileSystem(storeRoot: root, staffGID: staffGID, logger: quietLogger), alpha: alpha)
    }

    func record(_ ino: InodeNumber) throws -> InodeRecord? {
        try fs.state.withLock { try $0.metadata.inode(ino) }
    }

    func blobReferences(_ hash: String) throws -> Int64? {
        try fs.state.withLock { state in
            try state.metadata.database.first("SELECT refs FROM blobs WHERE hash = ?", .text(hash)) { $0.int(0) }
        }
    }

    /// Blobs still waiting to be deleted, after the syncer's next pass.
    func doomedBlobs() throws -> [String] {
        try fs.reclaimSpace()
        return try fs.state.withLock { try $0.metadata.doomedBlobs() }
    }

    /// Every blob file in the store, after the syncer's next pass (which deletes the blobs
    /// nothing names any more).
    func blobFiles() throws -> [String] {
        try fs.reclaimSpace()
        var hashes: [String] = []
        for shard in try Sys.listDirectory(fs.blobs.blobsDirectory) {
            hashes += try Sys.listDirectory(fs.blobs.blobsDirectory + "/" + shard)
        }
        return hashes.sorted()
    }

    /// A new epoch directory in alpha's `upload/`, made by alpha.
    func makeEpoch(_ name: String = "1764374400") throws -> InodeNumber {
        try fs.mkdir(parent: upload, name: name, mode: 0o755, caller: alphaCaller).ino
    }

    func stagingFiles() throws -> [InodeNumber] {
        try fs.blobs.stagingFiles().sorted()
    }

    /// Names in a directory, read page by page.
    func names(_ directory: InodeNumber) throws -> [String] {
        var names: [String] = []
        var offset: Int64 = 0
        while true {
            let page = try fs.readdir(directory, offset: offset, limit: 64)
            guard let last = page.last else { break }
            names += page.map(\.name).filter { $0 != "." && $0 != ".." }
            offset = last.nextOffset
        }
        return names
    }
}

func withStore<T>(limits: DistrictLimits = DistrictLimits(), _ body: (TestStore) throws -> T) throws -> T {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("epochfs-tests-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let fs = try FileSystem(storeRoot: root, staffGID: staffGID, limits: limits, logger: quietLogger)
    let alpha = try Administration(fs).addDistrict(name: "alpha", uid: alphaUID, gid: alphaUID)
    return try body(TestStore(root: root, fs: fs, alpha: alpha))
}

extension FileSystem {
    /// Creates `name`, writes `bytes`, closes it cleanly; the file is published.
    @discardableResult
    func makeFile(in parent: InodeNumber, _ name: String, _ bytes: [UInt8], mode: UInt32 = 0o644,
                  caller: Caller = alphaCaller) throws -> InodeNumber {
        let (attributes, handle) = try create(parent: parent, name: name, mode: mode, flags: writeFlags, caller: caller)
        if !bytes.isEmpty { try put(handle, bytes, at: 0) }
        try flush(handle, caller: caller)
        release(handle)
        // Like the kernel once the new file drops out of its cache.
        forget([(attributes.ino, 1)])
        return attributes.ino
    }

    func put(_ handle: Handle, _ bytes: [UInt8], at offset: Int64) throws {
        let written = try bytes.withUnsafeBytes { raw throws(Errno) in try write(handle, offset: offset, bytes: raw) }
        #expect(written == bytes.count)
    }

    /// The descriptor and count a read replies from (the adapter replies inside `read`'s closure).
    func read(_ handle: Handle, offset: Int64, size: Int) throws(Errno) -> (fd: Int32, count: Int) {
        try read(handle, offset: offset, size: size) { fd, count in (fd, count) }
    }

    /// Everything a read handle sees.
    func readAll(_ handle: Handle) throws -> [UInt8] {
        let (fd, count) = try read(handle, offset: 0, size: 1 << 30)
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        try bytes.withUnsafeMutableBytes { raw in
            while done < count {
                let n = try Sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: raw[done...]), Int64(done))
                if n == 0 { break }
                done += n
            }
        }
        #expect(done == count)
        return bytes
    }

    func contents(_ ino: InodeNumber) throws -> [UInt8] {
        let handle = try open(ino, flags: O_RDONLY, caller: rootCaller)
        defer { release(handle) }
        return try readAll(handle)
    }

    /// Publishes a sealed `epoch` as the processor does: marked processing, then published
    /// with `files` inserted under the names its snapshot gives them.
    func publish(_ epoch: InodeNumber, inserting files: [InsertedFile], outcome: String = "succeeded",
                 profile: String? = nil) throws -> String {
        let snapshot = try startProcessing(epoch)
        return try publishEpoch(snapshot, layout: PublishedLayout(inserting: files.map(\.name), topLevel: snapshot.topLevelNames),
                                inserting: files, outcome: outcome, profile: profile, result: "{}")
    }

    func hashAttribute(_ ino: InodeNumber) throws -> String {
        String(decoding: try getxattr(ino, name: FileSystem.hashAttribute), as: UTF8.self)
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).hex
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Records what the filesystem tells the kernel.
final class RecordingNotifier: KernelNotifier {
    let events = Mutex<[String]>([])
    func invalidateEntry(parent: InodeNumber, name: String) { events.withLock { $0.append("entry \(parent)/\(name)") } }
    func invalidateInode(_ ino: InodeNumber) { events.withLock { $0.append("inode \(ino)") } }
}

func readFile(_ path: String) throws -> [UInt8] {
    let fd = try Sys.open(path, O_RDONLY)
    defer { Sys.close(fd) }
    let size = Int(try Sys.fstat(fd).st_size)
    var bytes = [UInt8](repeating: 0, count: size)
    let n = try bytes.withUnsafeMutableBytes { try Sys.pread(fd, $0, 0) }
    return Array(bytes[0..<n])
}

func permissionBits(_ path: String) throws -> UInt32? {
    try Sys.status(path).map { UInt32($0.st_mode) & 0o7777 }
}

extension OpenFile {
    /// Closes the open file's descriptors without a release, as a crash would.
    func closeDescriptors() {
        state.withLock { content in
            Sys.close(content.fd)
            content.closeRetiredDescriptors()
            content.fd = -1
        }
    }
}
