import EpochCore
#if canImport(Glibc)
import Glibc
#endif

/// Entry points for measuring validation throughput (a bench program calls these): a
/// synthetic OneRoster set of a chosen size, and a timed validation of a set.
public enum IngestBenchmark {
    /// The time and bytes of one validation.
    public struct Measurement: Sendable {
        public var bytes: Int64
        public var cpuSeconds: Double
        public var wallSeconds: Double
        public var report: ValidationReport

        /// Megabytes (10^6 bytes) validated per second of CPU time: per core, whatever else runs.
        public var megabytesPerCPUSecond: Double { Double(bytes) / 1e6 / cpuSeconds }
    }

    /// Validates `files` against `profile` and measures it.
    public static func measure(_ files: [SetFile], profile: Profile) throws -> Measurement {
        let cpuBefore = cpuSeconds()
        let wallBefore = wallSeconds()
        let report = try Validator.validate(files, profile: profile)
        return Measurement(bytes: files.reduce(0) { $0 + $1.size }, cpuSeconds: cpuSeconds() - cpuBefore,
                           wallSeconds: wallSeconds() - wallBefore, report: report)
    }

    /// Writes a valid OneRoster 1.1 bulk set of about `approximateBytes` into `directory`
    /// (which must exist) and returns its files. Ids are 36-character UUID-like strings, as
    /// most student information systems export them; each student has six enrollments.
    public static func writeOneRosterSet(into directory: String, approximateBytes: Int64) throws -> [SetFile] {
        let students = max(Int(approximateBytes / 1_500), 10)
        let schools = 50
        let classes = max(students / 5, 10)
        let courses = 500
        var files: [SetFile] = []
        func file(_ name: String, _ header: String, rows: Int, _ row: (Int, inout [UInt8]) -> Void) throws {
            let path = directory + "/" + name
            let size = try writeFile(path, header: header, rows: rows, row)
            files.append(SetFile(path: name, location: path, size: size))
        }
        var manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        for role in ["categories", "classResources", "courseResources", "lineItems", "resources", "results"] {
            manifest += "file.\(role),absent\n"
        }
        for role in ["academicSessions", "classes", "courses", "demographics", "enrollments", "orgs", "users"] {
            manifest += "file.\(role),bulk\n"
        }
        try file("manifest.csv", String(manifest.dropLast()), rows: 0) { _, _ in }
        try file("orgs.csv", "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId", rows: schools + 1) { n, out in
            id(&out, kind: 1, n)
            if n == 0 {
                text(&out, ",,,District,district,D0,")
            } else {
                text(&out, ",,,School \(n),school,S\(n),")
                id(&out, kind: 1, 0)
            }
        }
        try file("academicSessions.csv", "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
                 rows: 3) { n, out in
            id(&out, kind: 2, n)
            switch n {
            case 0: text(&out, ",,,2025-26,schoolYear,2025-08-15,2026-06-15,,2026")
            case 1: text(&out, ",,,Fall,semester,2025-08-15,2025-12-20,"); id(&out, kind: 2, 0); text(&out, ",2026")
            default: text(&out, ",,,Spring,semester,2026-01-05,2026-06-15,"); id(&out, kind: 2, 0); text(&out, ",2026")
            }
        }
        try file("courses.csv", "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes",
                 rows: courses) { n, out in
            id(&out, kind: 3, n)
            text(&out, ",,,"); id(&out, kind: 2, 0)
            text(&out, ",Course \(n),C\(n),\"09,10\","); id(&out, kind: 1, 1 + n % schools); text(&out, ",Math,")
        }
        try file("classes.csv", "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,"
                 + "termSourcedIds,subjects,subjectCodes,periods", rows: classes) { n, out in
            id(&out, kind: 4, n)
            text(&out, ",,,Class \(n),09,"); id(&out, kind: 3, n % courses)
            text(&out, ",K\(n),scheduled,Room \(n % 40),"); id(&out, kind: 1, 1 + n % schools)
            text(&out, ",\""); id(&out, kind: 2, 1); text(&out, ","); id(&out, kind: 2, 2); text(&out, "\",Math,,\(1 + n % 7)")
        }
        try file("users.csv", "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
                 + "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password", rows: students) { n, out in
            id(&out, kind: 5, n)
            text(&out, ",,,true,"); id(&out, kind: 1, 1 + n % schools)
            text(&out, ",student,student\(n),{SIS:\(n)},Given\(n % 977),Family\(n % 1_999),,\(100_000 + n),student\(n)@example.org,,,,")
            text(&out, n % 2 == 0 ? "09," : "10,")
        }
        try file("enrollments.csv", "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
                 rows: students * 6) { n, out in
            let student = n / 6
            id(&out, kind: 6, n)
            text(&out, ",,,"); id(&out, kind: 4, (student * 7 + n % 6 * 13) % classes)
            text(&out, ","); id(&out, kind: 1, 1 + student % schools)
            text(&out, ","); id(&out, kind: 5, student)
            text(&out, ",student,false,2025-08-15,2026-06-15")
        }
        try file("demographics.csv", "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,"
                 + "nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,countryOfBirthCode,"
                 + "stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus", rows: students) { n, out in
            id(&out, kind: 5, n)
            text(&out, ",,,2010-0\(1 + n % 9)-1\(n % 10),\(n % 2 == 0 ? "female" : "male"),false,false,false,false,true,false,false,US,CA,Fresno,")
        }
        return files
    }

    /// Appends a 36-character id: the kind of record and its number, shaped like a UUID.
    private static func id(_ out: inout [UInt8], kind: Int, _ number: Int) {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        func hex(_ value: Int, width: Int) {
            for shift in stride(from: (width - 1) * 4, through: 0, by: -4) { out.append(digits[(value >> shift) & 0xF]) }
        }
        hex(kind, width: 8)
        text(&out, "-4e2a-4b1c-8d3f-")
        hex(number, width: 12)
    }

    private static func text(_ out: inout [UInt8], _ string: String) {
        out.append(contentsOf: string.utf8)
    }

    /// Writes a header and `rows` rows made by `row`, a megabyte at a time; returns the size.
    private static func writeFile(_ path: String, header: String, rows: Int, _ row: (Int, inout [UInt8]) -> Void) throws -> Int64 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: path, errno: errno) }
        defer { close(fd) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 21)
        var size: Int64 = 0
        func flush() throws {
            do {
                try buffer.withUnsafeBytes { try Sys.writeAll(fd, $0) }
            } catch let error as SystemError {
                throw FileWriteError(path: path, errno: error.errno)
            }
            size += Int64(buffer.count)
            buffer.removeAll(keepingCapacity: true)
        }
        buffer.append(contentsOf: header.utf8)
        buffer.append(UInt8(ascii: "\n"))
        for n in 0..<rows {
            row(n, &buffer)
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count >= 1 << 20 { try flush() }
        }
        try flush()
        return size
    }

    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private static func wallSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
