@testable import EpochFS
import EpochStore
import Foundation
import Testing

/// What the administration reports of a whole store: statistics and the metrics file.
@Suite struct AdministrationTests {
    @Test func statisticsCountEachDistrictsEpochsAndTheMetricsEveryEpoch() throws {
        try withStore { store throws in
            let administration = store.administration
            let beta = try administration.addDistrict(name: "beta", uid: betaUID, gid: betaUID)
            _ = try store.makeEpoch("1764374400")
            _ = try store.makeEpoch("1764460800")
            _ = try store.fs.mkdir(parent: InodeNumber(rawValue: beta.uploadIno), name: "1764374400", mode: 0o755, caller: betaCaller)

            let statistics = try administration.statistics()
            #expect(statistics.districts.map(\.district) == ["alpha", "beta"])
            #expect(statistics.districts.map(\.epochs) == [["receiving": 2], ["receiving": 1]])

            let path = store.root + "/metrics.prom"
            try administration.writeMetrics(to: path)
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            #expect(lines.contains("epochfs_epochs{state=\"receiving\"} 3"))
            #expect(lines.contains("epochfs_epochs{state=\"published\"} 0"))
            #expect(try permissionBits(path) == 0o644, "the node exporter reads it")
            #expect(try Sys.status(path + ".tmp") == nil)
        }
    }
}
