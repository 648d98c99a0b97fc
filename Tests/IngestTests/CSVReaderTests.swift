import Foundation
import Ingest
import Testing

@Suite struct CSVReaderTests {
    /// Reads `bytes` with a small chunk size (so records cross chunk boundaries) and returns
    /// each record's line and fields, the problems, and how many bytes the reader read.
    private func read(_ bytes: [UInt8], chunkSize: Int = 7, maxRecordBytes: Int = 16 << 20, maxBytes: Int = .max) throws
        -> (records: [(Int, [String])], problems: [Problem], bytesRead: Int) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var log = ProblemLog()
        var records: [(Int, [String])] = []
        let bytesRead = try CSVReader(file: "t.csv", fd: fd, chunkSize: chunkSize, maxRecordBytes: maxRecordBytes, maxBytes: maxBytes).read(problems: &log) { record in
            records.append((record.line, (0..<record.count).map { record.string($0) }))
        }
        return (records, log.problems, bytesRead)
    }

    private func read(_ text: String, chunkSize: Int = 7) throws -> (records: [(Int, [String])], problems: [Problem], bytesRead: Int) {
        try read(Array(text.utf8), chunkSize: chunkSize)
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func readsAnyLineEndWithOrWithoutAFinalOne(end: String) throws {
        for final in [end, ""] {
            let result = try read("a,b" + end + "1,2" + end + "3," + final)
            #expect(result.records.map(\.1) == [["a", "b"], ["1", "2"], ["3", ""]])
            #expect(result.records.map(\.0) == [1, 2, 3])
            #expect(result.problems.isEmpty)
        }
    }

    @Test func skipsALeadingByteOrderMark() throws {
        let result = try read([0xEF, 0xBB, 0xBF] + Array("sourcedId,name\nx,y\n".utf8))
        #expect(result.records.first?.1 == ["sourcedId", "name"])
    }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaksAndLinesStayCounted() throws {
        let text = "id,note\r\n1,\"Smith, Jr.\"\r\n2,\"said \"\"hi\"\"\"\r\n3,\"two\r\nlines\"\r\n4,\"cr\ronly\"\r\n5,end"
        let result = try read(text)
        #expect(result.records.map(\.1) == [
            ["id", "note"], ["1", "Smith, Jr."], ["2", "said \"hi\""], ["3", "two\r\nlines"], ["4", "cr\ronly"], ["5", "end"],
        ])
        #expect(result.records.map(\.0) == [1, 2, 3, 4, 6, 8], "records after a multi-line field keep their physical line")
        #expect(result.problems.isEmpty)
    }

    @Test func blankLinesAreSkippedButAQuotedEmptyFieldIsARecord() throws {
        let result = try read("a\n\n\nb\n\n\"\"\nc")
        #expect(result.records.map(\.1) == [["a"], ["b"], [""], ["c"]])
        #expect(result.records.map(\.0) == [1, 4, 6, 7])
    }

    @Test func aRecordLongerThanTheLimitEndsTheReading() throws {
        let text = "id,note\n1,\"opened and never closed\n" + String(repeating: "2,filler\n", count: 1000)
        let result = try read(Array(text.utf8), chunkSize: 256, maxRecordBytes: 1024)
        #expect(result.records.count == 1)
        #expect(result.problems.map(\.code) == ["csv.record-too-long"])
        #expect(result.problems.first?.line == 2 && result.problems.first?.severity == .fatal)
    }

    @Test func aRecordOfMillionsOfCommasEndsTheReadingWithinTheFirstChunk() throws {
        // Empty fields hold no bytes of text: only the number of fields bounds such a record.
        let commas = [UInt8](repeating: UInt8(ascii: ","), count: 4 << 20)
        let result = try read(Array("id,name\n".utf8) + commas + Array("\n1,x\n".utf8), chunkSize: 1 << 20)
        #expect(result.records.map(\.1.count) == [2])
        #expect(result.problems.map(\.code) == ["csv.too-many-fields"])
        #expect(result.problems.first?.line == 2 && result.problems.first?.severity == .fatal)
        #expect(result.bytesRead == 1 << 20, "the reader stopped in the chunk where the record passed the bound")
    }

    @Test func aRecordOfAsManyFieldsAsASpreadsheetHoldsIsReadAndOneMoreIsNot() throws {
        let widest = try read(Array(String(repeating: ",", count: 16_383).utf8) + [0x0A], chunkSize: 4096)
        #expect(widest.records.map(\.1.count) == [16_384])
        #expect(widest.problems.isEmpty)
        let wider = try read(Array(String(repeating: ",", count: 16_384).utf8) + [0x0A], chunkSize: 4096)
        #expect(wider.records.isEmpty)
        #expect(wider.problems.map(\.code) == ["csv.too-many-fields"])
        #expect(wider.problems.first?.column == 16_385)
    }

    @Test func theEndsOfEmptyFieldsCountTowardsTheRecordLimit() throws {
        // 1,000 empty fields: no bytes of text, but a thousand field ends held in memory.
        let result = try read(Array(String(repeating: ",", count: 999).utf8) + Array("\na\n".utf8), chunkSize: 256, maxRecordBytes: 1024)
        #expect(result.records.map(\.1.count) == [])
        #expect(result.problems.map(\.code) == ["csv.record-too-long"])
        #expect(result.bytesRead == 256)
    }

    @Test func aFileLargerThanItsBoundIsReadOneBytePastItAndNoFurther() throws {
        let rows = Array(String(repeating: "a,b\n", count: 100).utf8)
        let larger = try read(rows, chunkSize: 64, maxBytes: 100)
        #expect(larger.bytesRead == 101)
        #expect(larger.problems.map(\.code) == ["csv.file-too-large"])
        #expect(larger.problems.first?.severity == .fatal)
        #expect(larger.records.count == 16, "the records of the chunks within the bound")
        let exact = try read(Array(rows.prefix(100)), chunkSize: 64, maxBytes: 100)
        #expect(exact.problems.isEmpty)
        #expect(exact.records.count == 25)
    }

    @Test func strayQuotesAreKeptAndReportedWithoutTheRowsContents() throws {
        let result = try read("id,name\n1,O\"Connor\n2,\"Smith\" Jr\n")
        #expect(result.records.map(\.1) == [["id", "name"], ["1", "O\"Connor"], ["2", "Smith Jr"]])
        #expect(result.problems.map(\.code) == ["csv.quote-in-unquoted-field", "csv.text-after-quote"])
        #expect(result.problems.map(\.line) == [2, 3])
        #expect(result.problems.map(\.column) == [2, 2])
        #expect(result.problems.allSatisfy { !$0.message.contains("Connor") && !$0.message.contains("Smith") })
    }

    @Test func anUnterminatedQuoteIsFatalAndNamesWhereItOpened() throws {
        let result = try read("id,name\n1,ok\n2,\"never closed\n3,x\n4,y\n")
        #expect(result.records.map(\.1) == [["id", "name"], ["1", "ok"]])
        #expect(result.problems.map(\.code) == ["csv.unterminated-quote"])
        #expect(result.problems.first?.line == 3 && result.problems.first?.severity == .fatal)
    }

    @Test func windows1252BytesAreReportedPerFieldAndValidUTF8IsNot() throws {
        let latin1: [UInt8] = Array("id,family\n1,Nu".utf8) + [0xF1] + Array("ez\n2,Nuñez\n".utf8)
        let result = try read(latin1)
        #expect(result.records.count == 3)
        #expect(result.problems.map(\.code) == ["csv.invalid-utf8"])
        #expect(result.problems.first?.line == 2 && result.problems.first?.column == 2)
        #expect(result.problems.first?.severity == .row)
    }

    @Test func anEmptyFileHasNoRecords() throws {
        #expect(try read("").records.isEmpty)
        #expect(try read([0xEF, 0xBB, 0xBF]).records.isEmpty)
    }

    @Test func theProblemLogKeepsTheFirstReportsOfACodeAndCountsTheRest() {
        var log = ProblemLog(limitPerCode: 2)
        for line in 1...5 {
            log.add(Problem(file: "f", line: line, column: 1, code: "x", severity: .row, message: "m"))
        }
        log.add(Problem(file: "f", line: 9, column: 0, code: "y", severity: .fatal, message: "m"))
        #expect(log.problems.map(\.line) == [1, 2, 9])
        #expect(log.counts == ["x": 5, "y": 1])
        #expect(log.unreported == ["x": 3])
        #expect(log.worst == .fatal)
    }
}
