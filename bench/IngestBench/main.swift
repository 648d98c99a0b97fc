// Reads CSV files with the Ingest reader and reports throughput per core:
//   swift run -c release ingest-bench FILE...
import Foundation
import Glibc
import Ingest

let files = CommandLine.arguments.dropFirst()
guard !files.isEmpty else {
    print("usage: ingest-bench FILE...")
    exit(2)
}
for path in files {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        print("\(path): \(String(cString: strerror(errno)))")
        exit(1)
    }
    var problems = ProblemLog()
    var records = 0
    var fields = 0
    var usage0 = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage0)
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    let bytes = try CSVReader(file: path, fd: fd).read(problems: &problems) { record in
        records += 1
        fields += record.count
    }
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &end)
    var usage1 = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage1)
    close(fd)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    let cpu = seconds(usage1.ru_utime) + seconds(usage1.ru_stime) - seconds(usage0.ru_utime) - seconds(usage0.ru_stime)
    let wall = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
    let mb = Double(bytes) / 1e6
    print("\(path): \(String(format: "%.1f", mb)) MB, \(records) records, \(fields) fields, \(problems.counts.values.reduce(0, +)) problems; "
          + "\(String(format: "%.2f", wall)) s wall, \(String(format: "%.2f", cpu)) s CPU: \(String(format: "%.0f", mb / cpu)) MB/s per core")
}
