import ArgumentParser
import EpochFS
import EpochStore
import Foundation
import Ingest

struct EpochsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epochs",
        abstract: "List epochs, see why one is where it is, and process one by hand.",
        subcommands: [List.self, Show.self, Process.self, Reprocess.self])

    /// `DISTRICT/EPOCH` as staff type it.
    struct EpochPath: ExpressibleByArgument {
        var district: String
        var epoch: String

        init?(argument: String) {
            let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            district = parts[0]
            epoch = parts[1]
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List epochs by district and name.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Only this district's epochs.")
        var district: String?
        @Option(help: "Only epochs in this state: \(EpochState.allCases.map(\.rawValue).joined(separator: ", ")).")
        var state: EpochState?
        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            let response = try perform(.listEpochs(district: district, state: state), store: store.resolved(), logger: makeLogger())
            guard response.ok, let epochs = response.epochs else { throw CommandError(response.message) }
            if json {
                try printJSON(epochs)
                return
            }
            print("DISTRICT\tEPOCH\tSTATE\tOUTCOME\tPROFILE\tWHY")
            for summary in epochs {
                let epoch = summary.epoch
                let why = epoch.reason.isEmpty ? (summary.waiting ?? "") : epoch.reason
                // Names and reasons are the district's text: a tab or a newline in them would shift
                // the columns or forge a row.
                print("\(summary.district)\t\(printable(epoch.name))\t\(epoch.state.rawValue)\t\(epoch.outcome ?? "-")\t"
                      + "\(epoch.profile.map(printable) ?? "-")\t\(printable(why))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an epoch's state, why it is there, and its problems.")
        @Argument(help: "DISTRICT/EPOCH (DISTRICT/upload-processed/EPOCH for a published one whose name is in upload/ again)")
        var epoch: EpochPath
        @OptionGroup var store: StoreOptions
        @Flag(help: "Print JSON (with processing.json as `result`).")
        var json = false

        func run() throws {
            let response = try perform(.showEpoch(district: epoch.district, epoch: epoch.epoch), store: store.resolved(),
                                       logger: makeLogger())
            guard response.ok, let summary = response.epochs?.first else { throw CommandError(response.message) }
            if json {
                try printJSON(summary)
                return
            }
            let record = summary.epoch
            print("epoch:    \(summary.district)/\(printable(record.name))")
            print("state:    \(record.state.rawValue)")
            if !record.reason.isEmpty { print("why:      \(printable(record.reason))") }
            if let waiting = summary.waiting { print("waiting:  \(printable(waiting))") }
            if let profile = record.profile { print("profile:  \(printable(profile))") }
            if let outcome = record.outcome { print("outcome:  \(outcome)") }
            if let sealed = record.sealed { print("sealed:   \(iso(sealed))") }
            if let published = record.published {
                print("published: \(iso(published)) as upload-processed/\(printable(record.name))")
            }
            struct Problems: Decodable { var problems: [Problem] }
            if let result = record.result,
               let problems = try? JSONDecoder().decode(Problems.self, from: Data(result.utf8)).problems {
                print("problems: \(problems.count)")
                for problem in problems { print("  \(printable(problem.description))") }
            }
        }
    }

    struct Process: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Process an unrecognised or held epoch by hand (releases a hold; --profile names the format).")
        @Argument(help: "DISTRICT/EPOCH")
        var epoch: EpochPath
        @OptionGroup var store: StoreOptions
        @Option(help: "The profile to process it with, instead of recognising one (see: epochfs profiles list).")
        var profile: String?

        func run() throws {
            try requireRoot("epochfs epochs process")
            if let profile {
                let known = try ProfileLibrary.load(directory: Configuration.load().pipeline.profilesDirectory).map(\.name)
                guard known.contains(profile) else {
                    throw CommandError("no profile '\(profile)': the profiles are \(known.joined(separator: ", ")) (see: epochfs profiles list)")
                }
            }
            try report(perform(.processEpoch(district: epoch.district, epoch: epoch.epoch, profile: profile),
                               store: store.resolved(), logger: makeLogger()))
        }
    }

    struct Reprocess: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Process an epoch again: a published one gets a new log in place; a held or unrecognised one is released.")
        @Argument(help: "DISTRICT/EPOCH")
        var epoch: EpochPath
        @OptionGroup var store: StoreOptions

        func run() throws {
            try requireRoot("epochfs epochs reprocess")
            try report(perform(.reprocessEpoch(district: epoch.district, epoch: epoch.epoch), store: store.resolved(),
                               logger: makeLogger()))
        }
    }
}

extension EpochState: ExpressibleByArgument {}

struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "The integration profiles: built in, and the operator's (profiles_directory).",
        subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the profiles the daemon would use.")
        func run() throws {
            let directory = Configuration.load().pipeline.profilesDirectory
            let builtIn = Set(ProfileLibrary.builtIn.map(\.name))
            for profile in try ProfileLibrary.load(directory: directory) {
                let origin = builtIn.contains(profile.name) && ProfileLibrary.builtIn.contains(profile) ? "built in" : directory
                print("\(profile.name)\t\(origin)\t\(profile.description ?? "")")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a profile as JSON (a starting point for an operator's own file).")
        @Argument var name: String
        func run() throws {
            let profiles = try ProfileLibrary.load(directory: Configuration.load().pipeline.profilesDirectory)
            guard let profile = profiles.first(where: { $0.name == name }) else {
                throw CommandError("no profile '\(name)' (see: epochfs profiles list)")
            }
            print(try profile.encodedJSON())
        }
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func iso(_ time: Nanoseconds) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(time) / 1e9))
}
