import Foundation
import Ingest
import Testing

/// What to do about each problem, for a district's IT person.
@Suite struct ProblemAdviceTests {
    @Test func everyProblemCodeHasAdvice() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // Codes are string literals ("group.name"); the mode rules' codes are made from their modes.
        let pattern = try Regex(#""((csv|header|value|row|ref|file|manifest|zip|set|processing)\.[a-z0-9-]+)""#)
        var codes = Set(ProfileLibrary.builtIn.flatMap(\.modeRules).map { "mode.\($0.mode)-status" })
        for target in ["Ingest", "EpochPipeline"] {
            let directory = root.appendingPathComponent("Sources/" + target)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path)
            where name.hasSuffix(".swift") && name != "ProblemAdvice.swift" {
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                for match in text.matches(of: pattern) {
                    let code = String(text[match.range].dropFirst().dropLast())
                    // File names look alike: manifest.csv, processing.json.
                    if !code.hasSuffix(".csv") && !code.hasSuffix(".json") { codes.insert(code) }
                }
            }
        }
        #expect(codes.count > 40)
        let fallback = ProblemAdvice.text(for: "no.such-code")
        for code in codes.sorted() {
            #expect(ProblemAdvice.text(for: code) != fallback, "\(code) has no advice")
        }
    }
}
