/// Sets as districts upload them.
public enum Sets {
    /// A small valid Clever set.
    public static let clever: [(String, String)] = [
        ("schools.csv", "School_id,School_name,School_number\r\nS1,North High,001\r\nS2,South Middle,002\r\n"),
        ("students.csv", "School_id,Student_id,Last_name,First_name\r\nS1,1001,Nunez,Ana\r\nS1,1002,Smith,Bo\r\nS2,1003,Lee,Cy\r\n"),
        ("teachers.csv", "School_id,Teacher_id,First_name,Last_name\r\nS1,T1,Dee,Park\r\n"),
        ("sections.csv", "School_id,Section_id,Teacher_id\r\nS1,SEC1,T1\r\n"),
        ("enrollments.csv", "School_id,Section_id,Student_id\r\nS1,SEC1,1001\r\nS1,SEC1,1002\r\n"),
    ]

    public static let done: (String, String) = (".done", "")

    /// A Clever set with `count` students, each enrolled once.
    public static func clever(students count: Int) -> [(String, String)] {
        var students = "School_id,Student_id,Last_name,First_name\r\n"
        var enrollments = "School_id,Section_id,Student_id\r\n"
        for n in 0..<count {
            students += "S1,\(2000 + n),Family\(n),Given\(n)\r\n"
            enrollments += "S1,SEC1,\(2000 + n)\r\n"
        }
        return [clever[0], ("students.csv", students), clever[2], clever[3], ("enrollments.csv", enrollments)]
    }

    public static let oneRosterNames = ["academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
                                 "demographics", "enrollments", "lineItems", "orgs", "resources", "results", "users"]

    /// A OneRoster 1.1 delta set changing one org.
    public static let oneRosterDelta: [(String, String)] = {
        var manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        for name in oneRosterNames { manifest += "file.\(name),\(name == "orgs" ? "delta" : "absent")\n" }
        manifest += "source.systemName,Test SIS\nsource.systemCode,T\n"
        let orgs = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
            + "org1,active,2026-11-28T00:00:00Z,North District,district,D1,\n"
        return [("manifest.csv", manifest), ("orgs.csv", orgs)]
    }()

    /// A OneRoster 1.2 delta set changing one org, whose manifest gives `extra` too.
    public static func oneRoster12Delta(_ extra: String) -> [(String, String)] {
        let manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.orgs,delta\n\(extra)\n"
            + "source.systemName,Test SIS\nsource.systemCode,T\n"
        return [("manifest.csv", manifest), oneRosterDelta[1]]
    }

    /// A OneRoster 1.1 bulk set of one org and `count` users, the first `rejected` of them with
    /// a role the format does not have.
    public static func oneRosterBulk(users count: Int, rejected: Int) -> [(String, String)] {
        var manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
        for name in oneRosterNames { manifest += "file.\(name),\(name == "orgs" || name == "users" ? "bulk" : "absent")\n" }
        manifest += "source.systemName,Test SIS\nsource.systemCode,T\n"
        let orgs = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\norg1,,,North District,district,D1,\n"
        var users = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
            + "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
        for n in 0..<count {
            users += "u\(n),,,true,org1,\(n < rejected ? "pupil" : "student"),user\(n),,Given\(n),Family\(n),,,,,,,09,\n"
        }
        return [("manifest.csv", manifest), ("orgs.csv", orgs), ("users.csv", users)]
    }
}
