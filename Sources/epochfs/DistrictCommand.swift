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
        @Flag(help: "Also create the unix user NAME: no shell, no password, in the districts group; it is removed with the district.")
        var createUser = false

        func run() throws {
            try requireRoot("epochfs district add")
            let districtsGroup = Configuration.load().districtsGroup
            if createUser {
                try addWithNewUser(districtsGroup: districtsGroup)
                return
            }
            var uid = self.uid, gid = self.gid
            if uid == nil || gid == nil {
                guard let user = getpwnam(name) else {
                    throw CommandError("district '\(name)' has no unix user '\(name)': pass --create-user to create it, create it yourself (useradd), or pass --uid and --gid")
                }
                uid = uid ?? user.pointee.pw_uid
                gid = gid ?? user.pointee.pw_gid
            }
            let response = try perform(.addDistrict(name: name, uid: uid!, gid: gid!, managedUser: false),
                                       store: store.resolved(), logger: makeLogger())
            try report(response)
            if getpwnam(name) != nil && !UnixAccounts.isMember(name, of: districtsGroup) {
                warn("unix user '\(name)' is not in group '\(districtsGroup)', so sshd will not chroot it into its tree or ask epochfs for its keys: usermod -aG \(districtsGroup) \(name)")
            }
        }

        private func addWithNewUser(districtsGroup: String) throws {
            guard uid == nil, gid == nil else {
                throw CommandError("--create-user picks the user's ids itself: drop --uid and --gid")
            }
            try FileSystem.validateDistrictName(name)
            guard getpwnam(name) == nil else {
                throw CommandError("unix user '\(name)' exists already: drop --create-user to give the district that user")
            }
            try UnixAccounts.createDistrictUser(name, group: districtsGroup)
            guard let user = getpwnam(name) else { throw CommandError("useradd \(name) succeeded but the user cannot be found") }
            let request = ControlRequest.addDistrict(name: name, uid: user.pointee.pw_uid, gid: user.pointee.pw_gid, managedUser: true)
            do {
                let response = try perform(request, store: store.resolved(), logger: makeLogger())
                try report(response)
                print("unix user '\(name)' created (in group \(districtsGroup), no shell, key logins only)")
            } catch {
                // Unless the district was made after all (a daemon that committed and then did
                // not answer): its user must stay.
                let listed = try? perform(.listDistricts, store: store.resolved(), logger: makeLogger())
                if listed?.districts?.contains(where: { $0.district.name == name }) != true {
                    try? UnixAccounts.deleteUser(name)
                }
                throw error
            }
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
            guard let district = response.district else { return }
            let ended = UnixAccounts.endSessions(of: name, uid: district.uid)
            if ended > 0 { print("ended \(ended) running session process\(ended == 1 ? "" : "es") of uid \(district.uid)") }
            if district.managedUser && getpwnam(name) != nil {
                try UnixAccounts.deleteUser(name)
                print("unix user '\(name)' removed")
            }
        }
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
}

func report(_ response: ControlResponse) throws {
    guard response.ok else { throw CommandError(response.message) }
    print(response.message)
}
