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
        abstract: "Add, list, change and remove districts.",
        subcommands: [Add.self, List.self, Settings.self, Remove.self])

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
            try Administration.validateDistrictName(name)
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
            print("NAME\tUID\tGID\tFILES\tBYTES\tUPLOAD_FILES\tUPLOAD_BYTES\tQUOTA_FILES\tQUOTA_BYTES")
            for summary in summaries {
                let district = summary.district
                func show(_ value: Int64?) -> String { value.map(String.init) ?? "-" }
                let columns: [String] = [
                    district.name, String(district.uid), String(district.gid), String(summary.files), String(summary.bytes),
                    show(summary.upload?.entries), show(summary.upload?.bytes), show(district.quotaFiles), show(district.quotaBytes),
                ]
                print(columns.joined(separator: "\t"))
            }
        }
    }

    struct Settings: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change a district's settings: its quota in upload/.",
            discussion: """
                The quota counts what the district holds in upload/ (epochs not yet processed and loose \
                files): the logical size of its files, and its files and directories. Processed epochs \
                do not count. A write, truncate, file or directory that would pass a limit fails with \
                EDQUOT; nothing stored is touched. A quota below what the district holds is allowed: \
                it then cannot grow until it is below again.
                """)

        @Argument(help: "The district.")
        var name: String
        @OptionGroup var store: StoreOptions
        @Option(help: ArgumentHelp("Most bytes it may hold in upload/: a number with an optional K, M, G or T (powers of 1024), or 'none'.",
                                   valueName: "size"))
        var quotaBytes: QuotaLimitArgument?
        @Option(help: ArgumentHelp("Most files and directories it may hold in upload/, or 'none'.", valueName: "count"))
        var quotaFiles: QuotaLimitArgument?

        func validate() throws {
            if quotaBytes == nil && quotaFiles == nil {
                throw ValidationError("nothing to change: pass --quota-bytes, --quota-files or both")
            }
        }

        func run() throws {
            try requireRoot("epochfs district set")
            let request = ControlRequest.setQuota(district: name, bytes: quotaBytes?.limit, files: quotaFiles?.limit)
            try report(try perform(request, store: store.resolved(), logger: makeLogger()))
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

/// A quota as typed: `none`, a count, or a size with a K, M, G or T suffix (powers of 1024;
/// `KiB`, `KB` and `k` are read the same way).
struct QuotaLimitArgument: ExpressibleByArgument {
    let limit: QuotaLimit

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces)
        if ["none", "unlimited"].contains(text.lowercased()) {
            limit = .unlimited
            return
        }
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        var unit = text.dropFirst(digits.count).uppercased()
        for ending in ["IB", "B"] where unit.hasSuffix(ending) {
            unit = String(unit.dropLast(ending.count))
            break
        }
        let shifts: [String: Int64] = ["": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50]
        guard !digits.isEmpty, let value = Int64(digits), let shift = shifts[unit],
              value <= Int64.max >> shift else { return nil }
        limit = .limit(value << shift)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
