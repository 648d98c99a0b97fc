import EpochFS
import Testing

/// The names publishing gives, which processing.json and SHA256SUMS list before they are true.
@Suite struct PublishedLayoutTests {
    @Test func aReceivedFileGoesAsideOnlyForANameThisPublishingInserts() {
        let layout = PublishedLayout(inserting: PublishedLayout.inserted(outcome: "succeeded"),
                                     topLevel: ["SHA256SUMS", "SHA256SUMS.received", "processing-failed.log", "users.csv"])
        #expect(layout.publishedPath("SHA256SUMS") == "SHA256SUMS.received.2", "the first aside name is taken")
        #expect(layout.publishedPath("processing-failed.log") == "processing-failed.log", "not inserted by a success")
        #expect(layout.publishedPath("users.csv") == "users.csv")
        #expect(layout.publishedPath("sub/SHA256SUMS") == "sub/SHA256SUMS", "only the top level holds inserted files")
    }

    @Test func theInsertedNamesOfEachOutcome() {
        #expect(PublishedLayout.inserted(outcome: "failed") == ["processing-failed.log", "processing.json", "SHA256SUMS"])
        #expect(PublishedLayout.insertedNames.count == 5)
        #expect(PublishedLayout.asideName(for: "processing.json", taken: []) == "processing.json.received")
    }
}
