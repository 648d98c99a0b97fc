import Foundation
import Ingest
import Testing

/// docs/profiles.md is what operators write profiles from: its examples must be profiles, and
/// every problem code the code can report must be in its table.
@Suite struct ProfileDocTests {
    private var document: String {
        get throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            return try String(contentsOf: root.appendingPathComponent("docs/profiles.md"), encoding: .utf8)
        }
    }

    @Test func theJSONExamplesAreValidProfiles() throws {
        let blocks = try document.components(separatedBy: "```json\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count == 3)
        for block in blocks {
            let profile = try Profile.decode(json: Data(block.utf8))
            #expect(!profile.files.isEmpty)
        }
    }

    @Test func everyProblemCodeOfTheSourcesIsDocumented() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Ingest")
        let documented = try document
        var codes = Set<String>()
        for name in try FileManager.default.contentsOfDirectory(atPath: sources.path) where name.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(name), encoding: .utf8)
            // Codes are written as string literals: "group.name".
            let pattern = try Regex(#""((csv|header|value|row|ref|file|manifest|zip|set)\.[a-z0-9-]+)""#)
            for match in text.matches(of: pattern) {
                codes.insert(String(text[match.range].dropFirst().dropLast()))
            }
        }
        #expect(codes.count > 30)
        for code in codes.sorted() {
            #expect(documented.contains("`\(code)`"), "\(code) is not in docs/profiles.md")
        }
    }
}
