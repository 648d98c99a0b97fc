@testable import EpochStore
import TestSupport
import Testing

/// The store's units of work and the counts the statistics and the metrics share.
@Suite struct UnitOfWorkTests {
    private struct Refused: Error {}

    private func withStore<T>(_ body: (MetadataStore, String) throws -> T) throws -> T {
        try withTemporaryDirectory { dir throws in
            let path = dir + "/metadata.db"
            return try body(try MetadataStore(path: path, now: 42), path)
        }
    }

    @Test func aUnitOfWorkKeepsAllItDidOrNothing() throws {
        try withStore { store, path throws in
            _ = try store.transaction { try store.insertDistrict(name: "kept", uid: 7, gid: 7, now: 1) }
            #expect(throws: Refused.self) {
                try store.transaction {
                    _ = try store.insertDistrict(name: "undone", uid: 8, gid: 8, now: 1)
                    throw Refused()
                }
            }
            _ = try store.transaction(durable: true) { try store.insertDistrict(name: "durable", uid: 9, gid: 9, now: 1) }
            try store.checkpoint()
            #expect(try MetadataStore(path: path, now: 99).districts().map(\.name).sorted() == ["durable", "kept"])
        }
    }

    @Test func aDurableUnitOfWorkCommitsWithFullSyncAndOnlyIt() throws {
        try withStore { store, _ throws in
            func synchronous() throws -> Int64? { try store.database.first("PRAGMA synchronous") { $0.int(0) } }
            let normal = try synchronous()
            let during = try store.transaction(durable: true) { try synchronous() }
            #expect(during == 2, "FULL while the durable unit of work runs")
            #expect(try synchronous() == normal)
            #expect(try store.transaction { try synchronous() } == normal)
        }
    }

    @Test func epochCountsAreOfOneDistrictOrOfTheWholeStore() throws {
        try withStore { store, _ throws in
            let epochs: [(ino: UInt64, district: Int64, state: EpochState)] = [
                (50, 1, .receiving), (51, 1, .published), (52, 1, .published), (60, 2, .published), (61, 2, .held),
            ]
            for epoch in epochs {
                try store.insertEpoch(EpochRecord(ino: InodeNumber(rawValue: epoch.ino), district: epoch.district,
                                                  name: "e\(epoch.ino)", state: epoch.state))
            }
            #expect(try store.epochCounts(district: 1) == ["receiving": 1, "published": 2])
            #expect(try store.epochCounts(district: 2) == ["published": 1, "held": 1])
            #expect(try store.epochCounts(district: 3) == [:])
            #expect(try store.epochCounts() == ["receiving": 1, "published": 3, "held": 1])
        }
    }
}
