import Glibc
import Synchronization
import Testing

/// Many writers and readers at once; the kernel sends their requests on several threads.
@Suite("Concurrency", .serialized, .requiresMount)
struct ConcurrencyTests {
    @Test("writers in three districts at once, in this process and as the districts' own dd")
    func writersAcrossDistricts() throws {
        try withMount(districts: [.alpha, .beta, .gamma]) { fs in
            var expected = [(path: String, data: [UInt8], owner: uid_t)]()
            var jobs = [@Sendable () throws -> Void]()
            for district in [District.alpha, .beta, .gamma] {
                let epoch = fs.upload(district) + "/1764374400"
                try district.identity.must(.mkdir(epoch))
                for writer in 0..<2 {
                    let path = epoch + "/writer-\(writer).bin"
                    let data = TestData.random((4 << 20) + writer * 1001)
                    expected.append((path, data, 0))
                    jobs.append { try writeInRandomChunks(data, to: path, syncing: writer == 1) }
                }
                let source = fs.directory.path + "/dd-\(district.name).bin"
                let data = TestData.random((3 << 20) + 333)
                try Files.write(source, data)
                expected.append((epoch + "/dd.bin", data, district.uid))
                let identity = district.identity
                jobs.append {
                    let result = try Command.run(
                        ["dd", "if=\(source)", "of=\(epoch)/dd.bin", "bs=64k", "status=none"], as: identity)
                    if !result.succeeded { throw CommandError(description: "\(result)") }
                }
            }

            let errors = runConcurrently(jobs)
            #expect(errors.isEmpty, "\(errors)")
            for (path, data, owner) in expected {
                expectBytes(try Files.read(path), data, path)
                #expect(sha256Attribute(of: path) == TestData.sha256(data), "user.sha256 of \(path)")
                #expect(attributes(of: path)?.st_uid == owner, "owner of \(path)")
            }
        }
    }

    @Test("four threads creating 400 files each in one directory")
    func createsInOneDirectory() throws {
        try withMount { fs in
            let directory = fs.upload(.alpha) + "/many"
            try Files.mkdir(directory)
            let contents = (0..<4).map { thread in
                (0..<400).map { index in ("t\(thread)-\(index).csv", TestData.random(Int.random(in: 0...3000))) }
            }
            let errors = runConcurrently(contents.map { files in
                {
                    for (name, data) in files { try Files.write(directory + "/" + name, data) }
                }
            })
            #expect(errors.isEmpty, "\(errors)")
            let listed = try Files.list(directory)
            #expect(listed.count == 1600, "every name listed once")
            #expect(Set(listed) == Set(contents.joined().map(\.0)))
            for (name, data) in contents.joined() {
                expectBytes(try Files.read(directory + "/" + name), data, name)
            }
        }
    }

    @Test("six threads writing the same content at once: one blob, reclaimed when all go")
    func identicalContentRace() throws {
        try withMount { fs in
            let before = fs.blobs()
            let data = TestData.random(2 << 20)
            let hash = TestData.sha256(data)
            let paths = (0..<6).map { fs.upload(.alpha) + "/copy-\($0)" }
            var errors = runConcurrently(paths.map { path in { try writeInRandomChunks(data, to: path, syncing: false) } })
            #expect(errors.isEmpty, "\(errors)")
            #expect(eventually { fs.blobs() == (before + ["\(hash.prefix(2))/\(hash)"]).sorted() }, "one blob: \(fs.blobs()) before \(before)")
            for path in paths {
                #expect(sha256Attribute(of: path) == hash)
                expectBytes(try Files.read(path), data, path)
            }
            errors = runConcurrently(paths.map { path in { try sys("unlink \(path)") { unlink(path) } } })
            #expect(errors.isEmpty, "\(errors)")
            #expect(eventually { fs.blobs() == before }, "blob reclaimed: \(fs.blobs())")
        }
    }

    @Test("readers never see a torn file while it is replaced by rename")
    func readersDuringReplacement() throws {
        try withMount { fs in
            let target = fs.upload(.alpha) + "/schools.csv"
            let versions = (0..<60).map { _ in TestData.random(64 << 10) }
            try Files.write(target, versions[0])
            let done = Flag()
            let writer: @Sendable () throws -> Void = {
                defer { done.set() }
                for (index, version) in versions.enumerated().dropFirst() {
                    let temporary = target + ".part\(index)"
                    try writeInRandomChunks(version, to: temporary, syncing: false)
                    try sys("rename") { rename(temporary, target) }
                }
            }
            let reader: @Sendable () throws -> Void = {
                var reads = 0
                while !done.isSet || reads == 0 {
                    let content = try Files.read(target)
                    reads += 1
                    guard versions.contains(content) else {
                        throw CommandError(description: "read \(content.count) bytes that match no version")
                    }
                }
            }
            let errors = runConcurrently([writer, reader, reader, reader])
            #expect(errors.isEmpty, "\(errors)")
            expectBytes(try Files.read(target), versions.last!, "the last version")
            #expect(names(in: fs.upload(.alpha)) == ["schools.csv"])
        }
    }
}

/// Writes `data` as a new file in chunks of random sizes, with an fsync midway if asked.
private func writeInRandomChunks(_ data: [UInt8], to path: String, syncing: Bool) throws {
    let file = try OpenFile(path, O_WRONLY | O_CREAT | O_EXCL)
    var offset = 0
    var synced = false
    while offset < data.count {
        let count = min(Int.random(in: 4096...262_144), data.count - offset)
        try file.write(Array(data[offset..<offset + count]))
        offset += count
        if syncing && !synced && offset > data.count / 2 {
            try file.sync()
            synced = true
        }
    }
    try file.close()
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
