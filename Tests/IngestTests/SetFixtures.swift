import Foundation
import Ingest

/// A temporary epoch directory that tests write small sets into; removed by `remove()`.
struct TestDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        try write(name, Array(text.utf8))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + "/" + name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func write(_ set: [String: String]) throws {
        for (name, text) in set { try write(name, text) }
    }

    /// Every regular file under the directory, as the store would list an epoch.
    var files: [SetFile] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var files: [SetFile] = []
        while let relative = enumerator?.nextObject() as? String {
            let location = path + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let size = (try? FileManager.default.attributesOfItem(atPath: location)[.size] as? Int64) ?? 0
            files.append(SetFile(path: relative, location: location, size: size))
        }
        return files.sorted { $0.path < $1.path }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Small valid sets of each built-in profile; tests break one thing at a time.
enum Sets {
    static func profile(_ name: String) -> Profile {
        ProfileLibrary.builtIn.first { $0.name == name }!
    }

    static func manifest(version: String, modes: [String: String]) -> String {
        var text = "propertyName,value\nmanifest.version,1.0\noneroster.version,\(version)\n"
        for (role, mode) in modes.sorted(by: { $0.key < $1.key }) { text += "file.\(role),\(mode)\n" }
        return text + "source.systemName,Test SIS\nsource.systemCode,T1\n"
    }

    static let orgs = """
        sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
        s1,,,School One,school,,d1
        d1,,,District One,district,,

        """
    static let academicSessions = """
        sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear
        y1,,,2025-26,schoolYear,2025-08-15,2026-06-15,,2026
        t1,,,Fall,term,2025-08-15,2025-12-20,y1,2026

        """
    static let courses = """
        sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes
        c1,,,y1,Algebra,ALG1,"09,10",s1,Math,

        """
    static let classes = """
        sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods
        k1,,,Algebra 1,09,c1,ALG1-1,scheduled,Room 5,s1,"t1,y1",Math,,1

        """
    static let users11 = """
        sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password
        u1,,,true,s1,teacher,tjones,,Tom,Jones,,T1,tj@example.org,,,,,
        u2,,,true,"s1,d1",student,asmith,,Ann,Smith,,S1,,,,u3,09,
        u3,,,true,s1,parent,bsmith,,Bob,Smith,,,,,,u2,,

        """
    static let users12 = """
        sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns
        u1,,,true,tjones,,Tom,Jones,,T1,tj@example.org,,,,,,,,,,,s1,
        u2,,,true,asmith,,Ann,Smith,,S1,,,,u3,09,,,,Annie,,,s1,she/her
        u3,,,true,bsmith,,Bob,Smith,,,,,,u2,,,,,,,,s1,

        """
    static let roles12 = """
        sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId
        r1,,,u1,primary,teacher,2025-08-15,2026-06-15,s1,
        r2,,,u2,primary,student,,,s1,

        """
    static let enrollments = """
        sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate
        e1,,,k1,s1,u1,teacher,true,2025-08-15,2026-06-15
        e2,,,k1,s1,u2,student,false,,

        """
    static let demographics = """
        sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus
        u2,,,2010-03-04,female,false,false,false,false,true,false,false,US,CA,Fresno,

        """

    static let bulk11 = ["academicSessions": "bulk", "categories": "absent", "classes": "bulk", "classResources": "absent",
                         "courses": "bulk", "courseResources": "absent", "demographics": "bulk", "enrollments": "bulk",
                         "lineItems": "absent", "orgs": "bulk", "resources": "absent", "results": "absent", "users": "bulk"]

    /// A valid OneRoster 1.1 bulk set.
    static var oneRoster11: [String: String] {
        ["manifest.csv": manifest(version: "1.1", modes: bulk11), "orgs.csv": orgs, "academicSessions.csv": academicSessions,
         "courses.csv": courses, "classes.csv": classes, "users.csv": users11, "enrollments.csv": enrollments,
         "demographics.csv": demographics]
    }

    /// A valid OneRoster 1.2 bulk set.
    static var oneRoster12: [String: String] {
        var modes = bulk11
        for role in ["lineItemLearningObjectiveIds", "lineItemScoreScales", "resultLearningObjectiveIds", "resultScoreScales",
                     "scoreScales", "userProfiles", "userResources"] {
            modes[role] = "absent"
        }
        modes["roles"] = "bulk"
        return ["manifest.csv": manifest(version: "1.2", modes: modes), "orgs.csv": orgs, "academicSessions.csv": academicSessions,
                "courses.csv": courses, "classes.csv": classes, "users.csv": users12, "roles.csv": roles12,
                "enrollments.csv": enrollments, "demographics.csv": demographics]
    }

    static let cleverSchools = """
        School_id,School_name,School_number,Low_grade,High_grade
        sch1,North High,101,9,12

        """
    static let cleverStudents = """
        School_id,Student_id,Last_name,First_name,DOB,Grade,IEP_status,Student_street
        sch1,st1,Smith,Ann,03/04/2010,9,N,1 Main St
        sch1,st1,Smith,Ann,03/04/2010,9,N,2 Oak Ave
        sch1,st2,Nuñez,José,12/31/2009,10,Y,

        """
    static let cleverTeachers = """
        School_id,Teacher_id,First_name,Last_name,Teacher_email
        sch1,te1,Tom,Jones,tj@example.org

        """
    static let cleverSections = """
        School_id,Section_id,Teacher_id,Name,Term_start,Term_end
        sch1,se1,te1,Algebra,8/15/2025,12/20/2025

        """
    static let cleverEnrollments = """
        School_id,Section_id,Student_id
        sch1,se1,st1
        sch1,se1,st2

        """
    static let cleverStaff = """
        School_id,Staff_id,Staff_email,First_name,Last_name
        sch1,sf1,office@example.org,Pat,Lee

        """

    /// A valid Clever set.
    static var clever: [String: String] {
        ["schools.csv": cleverSchools, "students.csv": cleverStudents, "teachers.csv": cleverTeachers,
         "sections.csv": cleverSections, "enrollments.csv": cleverEnrollments, "staff.csv": cleverStaff]
    }

    /// Writes `set` into a new directory, validates it and returns the report.
    static func validate(_ set: [String: String], profile name: String, strictness: Strictness = .standard,
                         extra: (TestDirectory) throws -> Void = { _ in }) throws -> ValidationReport {
        try validate(set, profile: profile(name), strictness: strictness, extra: extra)
    }

    /// The same with a profile of the test's own (a built-in changed, say).
    static func validate(_ set: [String: String], profile: Profile, strictness: Strictness = .standard,
                         markers: Set<String> = FileRole.defaultMarkers,
                         extra: (TestDirectory) throws -> Void = { _ in }) throws -> ValidationReport {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(set)
        try extra(directory)
        return try Validator.validate(directory.files, profile: profile, strictness: strictness, markers: markers)
    }
}

extension ValidationReport {
    func problems(_ code: String) -> [Problem] {
        problems.problems.filter { $0.code == code }
    }

    func file(_ role: String) -> FileReport? {
        files.first { $0.role == role }
    }
}
