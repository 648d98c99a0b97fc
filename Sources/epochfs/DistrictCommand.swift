import ArgumentParser
import EpochFS
import EpochStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct DistrictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "district",
        abstract: "Add, list and remove districts.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a district's tree: /<name>/upload and /<name>/upload-processed.")

        @Argument(help: "The district's name; also its unix user name and sshd chroot.")
        var name: String
        @OptionGroup var store: StoreOptions
        @Option(help: "The district's uid (default: the unix user NAME's).")
        var uid: UInt32?
        @Option(help: "The district's gid (default: the unix user NAME's primary group).")
        var gid: UInt32?

        func run() throws {
            try requireRoot("epochfs district add")
            var uid = self.uid, gid = self.gid
            if uid == nil || gid == nil {
                guard let user = getpwnam(name) else {
                    throw CommandError("district '\(name)' has no unix user '\(name)': create it (useradd) or pass --uid and --gid")
                }
                uid = uid ?? user.pointee.pw_uid
                gid = gid ?? user.pointee.pw_gid
            }
            let response = try perform(.addDistrict(name: name, uid: uid!, gid: gid!), store: store.resolved(), logger: makeLogger())
            try report(response)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List districts with their owner and what they hold.")
        @OptionGroup var store: StoreOptions

        func run() throws {
            let store = self.store.resolved()
            guard FileManager.default.fileExists(atPath: StorePaths(root: store).metadata) else {
                throw CommandError("no store at \(store): mount one first (epochfs mount) or pass --store")
            }
            let response = try perform(.listDistricts, store: store, logger: makeLogger())
            guard response.ok, let summaries = response.districts else { throw CommandError(response.message) }
            print("NAME\tUID\tGID\tFILES\tBYTES")
            for summary in summaries {
                let district = summary.district
                print("\(district.name)\t\(district.uid)\t\(district.gid)\t\(summary.files)\t\(summary.bytes)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a district and its tree.")
        @Argument var name: String
        @OptionGroup var store: StoreOptions
        @Flag(help: "Delete the files the district still holds (otherwise removal is refused while it holds any).")
        var deleteData = false

        func run() throws {
            try requireRoot("epochfs district remove")
            let response = try perform(.removeDistrict(name: name, deleteData: deleteData), store: store.resolved(), logger: makeLogger())
            try report(response)
        }
    }
}

func report(_ response: ControlResponse) throws {
    guard response.ok else { throw CommandError(response.message) }
    print(response.message)
}
