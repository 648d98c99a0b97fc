import Foundation
import Ingest
import Testing

/// `extends`: a profile written as a built-in and its differences (docs/profiles.md,
/// "Extending a built-in").
@Suite struct ProfileExtendsTests {
    /// The profiles a directory holding `files` (name → JSON) gives.
    private func load(_ files: [String: String]) throws -> [Profile] {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write(files)
        return try ProfileLibrary.load(directory: directory.path)
    }

    @Test func oneRoster12IsOneRoster11WithItsDifferencesInTheirPlaces() {
        let profile = Sets.profile("oneroster-1.2")
        #expect(profile.files.map(\.name) == [
            "academicSessions", "orgs", "courses", "classes", "users", "roles", "enrollments", "demographics", "categories",
            "classResources", "courseResources", "lineItemLearningObjectiveIds", "lineItemScoreScales", "lineItems", "resources",
            "resultLearningObjectiveIds", "resultScoreScales", "results", "scoreScales", "userProfiles", "userResources",
        ])
        #expect(profile.file(named: "users")?.columns.map(\.name) == [
            "sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds", "givenName", "familyName",
            "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades", "password",
            "userMasterIdentifier", "resourceSourcedIds", "preferredGivenName", "preferredMiddleName", "preferredFamilyName",
            "primaryOrgSourcedId", "pronouns",
        ])
        #expect(profile.file(named: "demographics")?.columns.first { $0.name == "sex" }
            == Column(name: "sex", type: .enumeration, values: ["male", "female", "other", "unspecified"]))
        #expect(profile.recognition.manifest?.values == ["manifest.version": "1.0", "oneroster.version": "1.2"])
        // What 1.2 does not restate is 1.1's.
        let oneRoster11 = Sets.profile("oneroster-1.1")
        #expect(profile.recognition.manifest?.whenMissing == oneRoster11.recognition.manifest?.whenMissing)
        #expect(profile.file(named: "classes") == oneRoster11.file(named: "classes"))
        #expect(profile.modeRules == oneRoster11.modeRules && profile.massDrop == oneRoster11.massDrop)
    }

    @Test func anOperatorProfileGivesOnlyWhatDiffersFromItsBuiltIn() throws {
        let profiles = try load(["district7.json": """
            {
              "extends": "oneroster-1.2",
              "name": "oneroster-1.2-district7",
              "description": "District 7",
              "recognition": {"manifest": {"whenMissing": null}},
              "files": [
                {"name": "users", "columns": [
                  {"name": "email", "required": true, "valueRequired": true},
                  {"name": "houseName"}]}
              ],
              "massDrop": [{"file": "users", "minimumRatio": 0.8}],
              "handOff": {"command": ["/usr/local/bin/district7-import"]}
            }
            """])
        var expected = Sets.profile("oneroster-1.2")
        expected.name = "oneroster-1.2-district7"
        expected.description = "District 7"
        expected.recognition.manifest?.whenMissing = nil
        let users = try #require(expected.files.firstIndex { $0.name == "users" })
        let email = try #require(expected.files[users].columns.firstIndex { $0.name == "email" })
        expected.files[users].columns[email] = Column(name: "email", required: true, valueRequired: true)
        expected.files[users].columns.insert(Column(name: "houseName"), at: email + 1)
        expected.massDrop = [MassDropRule(file: "users", minimumRatio: 0.8)]
        expected.handOff = HandOff(command: ["/usr/local/bin/district7-import"])
        #expect(profiles.map(\.name) == ["oneroster-1.1", "oneroster-1.2", "clever", "oneroster-1.2-district7"])
        #expect(profiles.last == expected)
        #expect(profiles[1] == Sets.profile("oneroster-1.2"))
    }

    @Test func filesAndColumnsAreRemovedOrAddedWhereTheListSays() throws {
        let profiles = try load(["clever-lean.json": """
            {
              "extends": "clever",
              "name": "clever-lean",
              "files": [
                {"name": "staff", "remove": true},
                {"name": "teachers", "columns": [{"name": "Title", "remove": true}]},
                {"name": "schools"},
                {"name": "terms", "columns": [{"name": "Term_id"}]},
                {"name": "guardians", "columns": [{"name": "Guardian_id"}]}
              ]
            }
            """])
        var expected = Sets.profile("clever")
        expected.name = "clever-lean"
        expected.files.removeAll { $0.name == "staff" }
        let teachers = try #require(expected.files.firstIndex { $0.name == "teachers" })
        expected.files[teachers].columns.removeAll { $0.name == "Title" }
        expected.files.insert(FileSpec(name: "terms", columns: [Column(name: "Term_id")]), at: 1)
        expected.files.insert(FileSpec(name: "guardians", columns: [Column(name: "Guardian_id")]), at: 2)
        #expect(profiles.last == expected)
        #expect(profiles.last?.files.map(\.name) == ["schools", "terms", "guardians", "students", "teachers", "sections", "enrollments"])
    }

    @Test func aFileWithTheNameOfTheBuiltInItExtendsReplacesIt() throws {
        let profiles = try load(["clever.json": """
            {"extends": "clever", "name": "clever", "handOff": {"command": ["/usr/local/bin/import"], "timeoutSeconds": 60}}
            """])
        var expected = Sets.profile("clever")
        expected.handOff = HandOff(command: ["/usr/local/bin/import"], timeoutSeconds: 60)
        #expect(profiles.map(\.name) == ["oneroster-1.1", "oneroster-1.2", "clever"])
        #expect(profiles[2] == expected)
    }

    @Test(arguments: [
        ("{\"extends\": \"oneroster-1.3\", \"name\": \"x\"}", "extends `oneroster-1.3`, which is not a built-in profile"),
        ("{\"extends\": \"clever\"}", "needs a `name` of its own"),
        ("{\"extends\": [\"clever\"], \"name\": \"x\"}", "`extends` must be the name of a profile"),
        ("{\"extends\": \"clever\", \"name\": \"x\", \"files\": [{\"name\": \"parents\", \"remove\": true}]}",
         "removes `parents`, which the extended profile does not have"),
        ("{\"extends\": \"clever\", \"name\": \"x\", \"files\": [{\"columns\": []}]}", "at files[0]: an entry"),
        ("{\"extends\": \"clever\", \"name\": \"x\", \"files\": [{\"name\": \"staff\", \"columns\": [{\"name\": \"Title\", \"remove\": \"yes\"}]}]}",
         "at files[staff].columns[Title]: `remove` must be true or false"),
        // What is laid over the built-in is checked as any profile is.
        ("{\"extends\": \"clever\", \"name\": \"x\", \"files\": [{\"name\": \"staff\", \"columns\": [{\"name\": \"Title\", \"valueRequried\": true}]}]}",
         "valueRequried: unknown key"),
        ("{\"extends\": \"clever\", \"name\": \"x\", \"files\": [{\"name\": \"staff\", \"remove\": true}], \"massDrop\": [{\"file\": \"staff\", \"minimumRatio\": 0.5}]}",
         "massDrop: no file `staff`"),
    ])
    func aBadExtensionIsAnErrorNamingTheFileAndWhatIsWrong(json: String, expected: String) throws {
        do {
            _ = try load(["broken.json": json])
            Issue.record("a broken profile was accepted")
        } catch let error as ProfileError {
            #expect(error.file?.hasSuffix("/broken.json") == true)
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }
}
