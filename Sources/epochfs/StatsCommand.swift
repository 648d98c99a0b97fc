import ArgumentParser
import EpochFS
import EpochStore

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Per district: files, logical bytes, bytes stored after dedup, epochs by state.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let response = try perform(.statistics, store: store.resolved(), logger: makeLogger())
        guard response.ok, let statistics = response.statistics else { throw CommandError(response.message) }
        if json {
            try printJSON(statistics)
            return
        }
        let states = EpochState.allCases.map(\.rawValue)
        print((["DISTRICT", "FILES", "LOGICAL_BYTES", "STORED_BYTES"] + states.map { $0.uppercased() }).joined(separator: "\t"))
        for district in statistics.districts {
            let counts = states.map { String(district.epochs[$0] ?? 0) }
            print(([district.district, String(district.files), String(district.logicalBytes), String(district.storedBytes)] + counts)
                .joined(separator: "\t"))
        }
        print("store: \(statistics.blobs) blobs, \(statistics.blobBytes) bytes (each blob once)")
    }
}
