// Ingest throughput per core.
//   ingest-bench FILE...                       read CSV files with the streaming reader
//   ingest-bench --oneroster-set MB DIRECTORY  write a valid OneRoster 1.1 set of about MB
//                                              megabytes into DIRECTORY, then validate it
import Foundation
import Glibc
import Ingest

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

var arguments = Array(CommandLine.arguments.dropFirst())
guard !arguments.isEmpty else {
    print("usage: ingest-bench FILE... | ingest-bench --oneroster-set MB DIRECTORY")
    exit(2)
}

if arguments.first == "--oneroster-set" {
    guard arguments.count == 3, let megabytes = Int64(arguments[1]) else {
        print("usage: ingest-bench --oneroster-set MB DIRECTORY")
        exit(2)
    }
    let files = try IngestBenchmark.writeOneRosterSet(into: arguments[2], approximateBytes: megabytes * 1_000_000)
    guard let profile = ProfileLibrary.builtIn.first(where: { $0.name == "oneroster-1.1" }) else { exit(1) }
    guard case .recognised(let found) = Recogniser.recognise(files, profiles: ProfileLibrary.builtIn), found.name == profile.name else {
        print("the generated set was not recognised as oneroster-1.1")
        exit(1)
    }
    // Once to warm the page cache, then measured.
    _ = try IngestBenchmark.measure(files, profile: profile)
    let run = try IngestBenchmark.measure(files, profile: profile)
    let rows = run.report.files.reduce(0) { $0 + $1.rows }
    print("validated \(format(Double(run.bytes) / 1e6)) MB of OneRoster 1.1 CSV (\(files.count) files, \(rows) rows, "
          + "\(run.report.problems.counts.values.reduce(0, +)) problems, fatal: \(run.report.fatal)): "
          + "\(format(run.wallSeconds, 2)) s wall, \(format(run.cpuSeconds, 2)) s CPU: "
          + "\(format(run.megabytesPerCPUSecond, 0)) MB/s per core")
    exit(0)
}

for path in arguments {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        print("\(path): \(String(cString: strerror(errno)))")
        exit(1)
    }
    var problems = ProblemLog()
    var records = 0
    var fields = 0
    let cpu0 = cpuSeconds()
    let wall0 = Date()
    let bytes = try CSVReader(file: path, fd: fd).read(problems: &problems) { record in
        records += 1
        fields += record.count
    }
    let wall = Date().timeIntervalSince(wall0)
    let cpu = cpuSeconds() - cpu0
    close(fd)
    let mb = Double(bytes) / 1e6
    print("\(path): \(format(mb)) MB, \(records) records, \(fields) fields, \(problems.counts.values.reduce(0, +)) problems; "
          + "\(format(wall, 2)) s wall, \(format(cpu, 2)) s CPU: \(format(mb / cpu, 0)) MB/s per core")
}
