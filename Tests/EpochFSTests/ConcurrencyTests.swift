@testable import EpochFS
import EpochStore
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ConcurrencyTests {
    @Test func parallelWritersAndReadersEachGetTheirOwnContent() throws {
        try withStore { store throws in
            let fs = store.fs
            let upload = store.upload
            let shared = pattern(20_000, seed: 99)
            let failures = Mutex<[String]>([])
            let inodes = Mutex<[Int: InodeNumber]>([:])
            DispatchQueue.concurrentPerform(iterations: 32) { i in
                do {
                    let content = i % 4 == 0 ? shared : pattern(20_000 + i, seed: i)
                    let (created, handle) = try fs.create(parent: upload, name: "f\(i)", mode: 0o644, flags: writeFlags,
                                                          caller: alphaCaller)
                    for start in stride(from: 0, to: content.count, by: 4096).reversed() {
                        try fs.put(handle, Array(content[start..<min(start + 4096, content.count)]), at: Int64(start))
                    }
                    try fs.flush(handle, caller: alphaCaller)
                    fs.release(handle)
                    inodes.withLock { $0[i] = created.ino }
                    if try fs.contents(created.ino) != content || fs.hashAttribute(created.ino) != sha256Hex(content) {
                        failures.withLock { $0.append("f\(i): wrong content or hash") }
                    }
                } catch {
                    failures.withLock { $0.append("f\(i): \(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            #expect(inodes.withLock { $0.count } == 32)
            #expect(try store.stagingFiles().isEmpty)
            #expect(try store.blobFiles().count == 25)
            #expect(try store.blobReferences(sha256Hex(shared)) == 8)
            #expect(try store.names(upload).count == 32)
        }
    }
}
