import Foundation
import Ingest
import Testing

@Suite struct ProfileTests {
    @Test func theBuiltInsAreOneRoster11And12AndClever() {
        #expect(ProfileLibrary.builtIn.map(\.name) == ["oneroster-1.1", "oneroster-1.2", "clever"])
        let clever = Sets.profile("clever")
        #expect(clever.caseSensitiveNames == false)
        #expect(clever.file(named: "enrollments")?.columns.map(\.name) == ["School_id", "Section_id", "Student_id"])
        #expect(clever.file(named: "enrollments")?.otherColumns == .reject)
        #expect(clever.file(named: "students")?.duplicates == .allow)
        let users11 = Sets.profile("oneroster-1.1").file(named: "users")
        let users12 = Sets.profile("oneroster-1.2").file(named: "users")
        #expect(users11?.columns.contains { $0.name == "role" } == true)
        #expect(users12?.columns.contains { $0.name == "role" } == false)
        #expect(Sets.profile("oneroster-1.2").file(named: "roles") != nil)
        #expect(Sets.profile("oneroster-1.1").file(named: "roles") == nil)
    }

    @Test(arguments: ["oneroster-1.1", "oneroster-1.2", "clever"])
    func aProfilePrintedAsJSONReadsBackTheSame(name: String) throws {
        let profile = Sets.profile(name)
        let json = try profile.encodedJSON()
        let decoded = try Profile.decode(json: Data(json.utf8))
        #expect(decoded == profile)
        // The printed form leaves defaults out, so an operator copies a readable file.
        #expect(!json.contains("\"list\" : false") && !json.contains("\"list\": false"))
    }

    @Test func aHandOffAndAnOperatorProfileDecode() throws {
        var profile = Sets.profile("clever")
        profile.name = "clever-district-7"
        profile.handOff = HandOff(command: ["/usr/local/bin/import", "--district", "7"], timeoutSeconds: 900)
        let decoded = try Profile.decode(json: Data(try profile.encodedJSON().utf8))
        #expect(decoded.handOff == HandOff(command: ["/usr/local/bin/import", "--district", "7"], timeoutSeconds: 900))
    }

    @Test func aDirectoryProfileReplacesTheBuiltInOfItsNameAndAddsNewOnes() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        var clever = Sets.profile("clever")
        clever.massDrop = [MassDropRule(file: "students", minimumRatio: 0.8)]
        try directory.write("clever.json", try clever.encodedJSON())
        var custom = Sets.profile("clever")
        custom.name = "custom"
        try directory.write("custom.json", try custom.encodedJSON())
        try directory.write("README.txt", "not a profile")
        let profiles = try ProfileLibrary.load(directory: directory.path)
        #expect(profiles.map(\.name) == ["oneroster-1.1", "oneroster-1.2", "clever", "custom"])
        #expect(profiles[2].massDrop == [MassDropRule(file: "students", minimumRatio: 0.8)])
    }

    @Test func aMissingDirectoryMeansTheBuiltIns() throws {
        let profiles = try ProfileLibrary.load(directory: "/nonexistent/epochfs-profiles")
        #expect(profiles.map(\.name) == ProfileLibrary.builtIn.map(\.name))
    }

    @Test(arguments: [
        ("{\"name\": \"x\"}", "missing key `recognition`"),
        ("{\"name\": \"x\", \"recognition\": {\"fileNames\": [\"a.csv\"]}, \"files\": [{\"name\": \"a\", \"columns\": [{\"name\": \"id\", \"valueRequried\": true}]}]}",
         "files[0].columns[0].valueRequried: unknown key"),
        ("{\"name\": \"x\", \"recognition\": {\"fileNames\": [\"a.csv\"]}, \"files\": [{\"name\": \"a\", \"columns\": [{\"name\": \"id\", \"references\": \"b\"}]}]}",
         "references file `b`"),
        ("{\"name\": \"x\", \"recognition\": {\"fileNames\": [\"a.csv\"]}, \"files\": [{\"name\": \"a\", \"columns\": [{\"name\": \"t\", \"type\": \"enum\"}]}]}",
         "enum without `values`"),
        ("{\"name\": \"x\", \"recognition\": {}, \"files\": []}", "needs `manifest` or `fileNames`"),
        ("{\"name\": \"x\", \"recognition\": {\"fileNames\": [\"a.csv\"]}, \"files\": [], \"handOff\": {\"command\": [\"import\"]}}",
         "absolute program path"),
        ("{\"name\": \"x\", ", "the top level"),
    ])
    func aBadProfileFileIsAnErrorNamingTheFileAndWhatIsWrong(json: String, expected: String) throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try directory.write("broken.json", json)
        do {
            _ = try ProfileLibrary.load(directory: directory.path)
            Issue.record("a broken profile was accepted")
        } catch let error as ProfileError {
            #expect(error.file == directory.path + "/broken.json")
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test func twoFilesDefiningOneProfileAreAnError() throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        var custom = Sets.profile("clever")
        custom.name = "twice"
        try directory.write("a.json", try custom.encodedJSON())
        try directory.write("b.json", try custom.encodedJSON())
        #expect(throws: ProfileError.self) { try ProfileLibrary.load(directory: directory.path) }
    }
}
