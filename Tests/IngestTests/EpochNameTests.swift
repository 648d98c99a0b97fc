import Foundation
import Ingest
import Testing

@Suite struct EpochNameTests {
    /// 2026-11-30T00:00:00Z
    let now: Int64 = 1_795_996_800

    @Test func unixSecondsAndBasicUTCNameTheSameInstant() throws {
        #expect(try EpochName(parsing: "1764374400", now: now).seconds == 1_764_374_400)
        #expect(try EpochName(parsing: "20251129T000000Z", now: now).seconds == 1_764_374_400)
        #expect(try EpochName(parsing: "19700101T000000Z", now: now).seconds == 0)
    }

    @Test(arguments: ["20000229T120000Z", "20241231T235959Z", "20260301T000000Z", "19991231T235959Z"])
    func agreesWithTheSystemCalendar(name: String) throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let expected = Int64(try #require(formatter.date(from: name)).timeIntervalSince1970)
        #expect(try EpochName(parsing: name, now: now).seconds == expected)
    }

    @Test func ordersByTimeNotByText() throws {
        let names = ["20261129T020000Z", "1764374400", "20251201T000000Z"]
        let sorted = try names.map { try EpochName(parsing: $0, now: now) }.sorted()
        #expect(sorted.map(\.seconds) == [1_764_374_400, 1_764_547_200, 1_795_917_600])
    }

    @Test(arguments: [
        "2026-11-29T02:00:00Z", "2026-11-29", "176437440", "17643744000", "20261129T020000", "20261129t020000Z",
        "export", "", "1764374400.zip", "２０２６１１２９T020000Z",
    ])
    func refusesOtherNames(name: String) {
        #expect(throws: EpochName.Refusal.notAnEpochName) { try EpochName(parsing: name, now: now) }
    }

    @Test(arguments: ["20261301T000000Z", "20250229T000000Z", "20261131T000000Z", "20261129T240000Z", "20261129T006000Z", "20261100T000000Z"])
    func refusesDatesThatDoNotExist(name: String) {
        #expect(throws: EpochName.Refusal.invalidDate) { try EpochName(parsing: name, now: now) }
    }

    @Test func refusesNamesFarInTheFutureButAllowsAFastClock() throws {
        #expect(try EpochName(parsing: String(now + 3600), now: now).seconds == now + 3600)
        #expect(throws: EpochName.Refusal.inTheFuture(seconds: 400 * 86400)) { try EpochName(parsing: String(now + 400 * 86400), now: now) }
    }

    @Test func namesSayWhatAFileIsFor() {
        #expect(FileRole.of("students.csv") == .data)
        #expect(FileRole.of("export.zip") == .data)
        for temporary in ["students.csv.filepart", "x.part", "x.TMP", ".in.students.csv."] {
            #expect(FileRole.of(temporary) == .temporary, "\(temporary)")
        }
        for stray in ["~$students.csv", "Thumbs.db", ".DS_Store", "._students.csv", "desktop.ini"] {
            #expect(FileRole.of(stray) == .stray, "\(stray)")
        }
        #expect(FileRole.of(".done") == .marker && FileRole.of("_SUCCESS") == .marker)
        #expect(FileRole.of("READY", markers: ["READY"]) == .marker)
        #expect(FileRole.of(".done", markers: ["READY"]) == .data)
    }
}
