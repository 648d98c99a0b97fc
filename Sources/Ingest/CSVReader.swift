import EpochCore
#if canImport(Glibc)
import Glibc
#endif

/// One record of a CSV file, valid only during the callback that receives it (its fields
/// point into the reader's buffer, which the next record reuses).
public struct CSVRecord {
    /// 1-based physical line where the record starts (a quoted field may span lines).
    public let line: Int
    private let bytes: UnsafeBufferPointer<UInt8>
    private let ends: UnsafeBufferPointer<Int>

    init(line: Int, bytes: UnsafeBufferPointer<UInt8>, ends: UnsafeBufferPointer<Int>) {
        self.line = line
        self.bytes = bytes
        self.ends = ends
    }

    public var count: Int { ends.count }

    /// The field's bytes with quoting removed.
    public func field(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let start = index == 0 ? 0 : ends[index - 1]
        return UnsafeBufferPointer(rebasing: bytes[start..<ends[index]])
    }

    public func string(_ index: Int) -> String {
        String(decoding: field(index), as: UTF8.self)
    }
}

/// Reads RFC 4180 CSV as uploads really are: streamed from a file descriptor in chunks (a
/// file of hundreds of MB is never held whole), with a UTF-8 byte order mark skipped, CRLF,
/// LF or CR line ends, quoted fields holding commas, quotes and line breaks, and no final
/// newline. What is not well-formed is reported (never quoted) and read the way spreadsheet
/// programs read it: a stray quote is kept as a character.
public struct CSVReader {
    public let file: String
    private let fd: Int32
    private let chunkSize: Int
    private let maxRecordBytes: Int
    private let maxFields: Int
    private let maxBytes: Int

    /// `file` names the file in problems; `fd` is read from its current offset and not closed.
    ///
    /// What one record may hold in memory is bounded: past the bound the reading ends with a
    /// fatal problem rather than filling memory with the rest of the file.
    /// - `maxRecordBytes`: its fields' bytes plus the end of each field (in practice: a quote
    ///   opened and never closed). Checked after each chunk, so a record may pass it by up to
    ///   one chunk before the reading stops.
    /// - `maxFields`: its number of fields, checked at every field, so a line of nothing but
    ///   commas stops at the bound within the chunk. The default is the most columns a
    ///   spreadsheet holds (16,384 in Excel and LibreOffice): no export a district can open
    ///   has more, where rosters have tens of columns; the field ends it allows take 128 KiB.
    ///
    /// A file larger than `maxBytes` (unbounded by default; a manifest is small by nature) ends
    /// the reading with a fatal problem, after at most `maxBytes + 1` bytes read.
    public init(file: String, fd: Int32, chunkSize: Int = 1 << 20, maxRecordBytes: Int = 16 << 20, maxFields: Int = 16_384,
                maxBytes: Int = .max) {
        self.file = file
        self.fd = fd
        self.chunkSize = max(chunkSize, 3)
        self.maxRecordBytes = maxRecordBytes
        self.maxFields = max(maxFields, 1)
        self.maxBytes = max(maxBytes, 0)
    }

    /// Calls `body` with every record, in order; blank lines are skipped. Returns the number of
    /// bytes read. Throws what `body` throws, or a `CSVReadError` when the file cannot be read.
    @discardableResult
    public func read(problems: inout ProblemLog, _ body: (borrowing CSVRecord) throws -> Void) throws -> Int {
        try read(problems: &problems) { record, _ in try body(record) }
    }

    /// Like `read(problems:_:)`, but `body` also gets the log to add its own problems to: the
    /// reader's problems about a record are in it before `body` sees the record, so a caller
    /// can tell from the log's counts whether the reader found something wrong with it.
    @discardableResult
    public func read(problems: inout ProblemLog, _ body: (borrowing CSVRecord, inout ProblemLog) throws -> Void) throws -> Int {
        let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        var machine = Machine(file: file, maxFields: maxFields)
        var total = 0
        while true {
            // Never more than one byte past `maxBytes`: enough to tell that the file is larger.
            let wanted = maxBytes - total < chunkSize ? maxBytes - total + 1 : chunkSize
            let count: Int
            do {
                count = try Sys.read(fd, UnsafeMutableRawBufferPointer(start: chunk.baseAddress, count: wanted))
            } catch let error as SystemError {
                throw CSVReadError(file: file, errno: error.errno)
            }
            if count == 0 { break }
            // A byte order mark is skipped (a BOM split across reads is not a case: reads of a
            // regular file return whole chunks).
            let bom = total == 0 && count >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF
            if total == 0, let encoding = Self.foreignEncoding(UnsafeBufferPointer(rebasing: chunk[0..<count])) {
                problems.add(Problem(file: file, line: 0, column: 0, code: "csv.encoding", severity: .fatal,
                                     message: "the file is \(encoding), not UTF-8 text: export it as CSV in UTF-8"))
                return count
            }
            total += count
            if total > maxBytes {
                problems.add(Problem(file: file, line: 0, column: 0, code: "csv.file-too-large", severity: .fatal,
                                     message: "larger than \(describe(bytes: maxBytes)), more than this file can be: not read past that"))
                return total
            }
            guard try machine.consume(UnsafeBufferPointer(rebasing: chunk[(bom ? 3 : 0)..<count]), &problems, body) else {
                problems.add(Problem(file: file, line: machine.recordLine, column: maxFields + 1, code: "csv.too-many-fields", severity: .fatal,
                                     message: "a record of more than \(maxFields) fields (a line of commas, or line ends lost?): the rest of the file is not read"))
                return total
            }
            if machine.recordBytes > maxRecordBytes {
                problems.add(Problem(file: file, line: machine.recordLine, column: machine.ends.count + 1, code: "csv.record-too-long",
                                     severity: .fatal, message: "a record longer than \(describe(bytes: maxRecordBytes)) (a quote that never closes?): the rest of the file is not read"))
                return total
            }
        }
        try machine.finish(&problems, body)
        return total
    }
}

extension CSVReader {
    /// What the start of a file says it is when it is not UTF-8 text: a UTF-16 or UTF-32 byte
    /// order mark, or NUL bytes (UTF-16 without a mark, a spreadsheet's binary format), which
    /// no CSV export holds. Read as UTF-8, such a file would be a field of noise on every row.
    static func foreignEncoding(_ start: UnsafeBufferPointer<UInt8>) -> String? {
        if start.count >= 4 && ((start[0] == 0xFF && start[1] == 0xFE && start[2] == 0 && start[3] == 0)
            || (start[0] == 0 && start[1] == 0 && start[2] == 0xFE && start[3] == 0xFF)) { return "UTF-32" }
        if start.count >= 2 && ((start[0] == 0xFF && start[1] == 0xFE) || (start[0] == 0xFE && start[1] == 0xFF)) { return "UTF-16" }
        if memchr(start.baseAddress!, 0, start.count) != nil { return "binary or UTF-16 (it holds NUL bytes)" }
        return nil
    }
}

/// The reader's state between bytes, records and chunks. A struct with mutating methods, not
/// closures over local variables: those would be checked for exclusive access at every byte.
private struct Machine {
    enum State {
        case fieldStart, unquoted, quoted, quoteInQuoted
    }

    let file: String
    let maxFields: Int
    var state = State.fieldStart
    /// The current record's fields, unquoted, back to back, and where each ends.
    var fieldBytes: [UInt8] = []
    var ends: [Int] = []
    var line = 1                 // physical line of the byte being read
    var recordLine = 1           // where the current record began
    var quoteLine = 0            // where the open quote began
    var pendingCR = false        // the last byte was a CR: an LF right after it ends the same line
    var nonASCII = false
    /// The record had a quoted field: `""` alone on a line is a record of one empty field.
    var quoted = false

    init(file: String, maxFields: Int) {
        self.file = file
        self.maxFields = maxFields
        fieldBytes.reserveCapacity(4096)
        ends.reserveCapacity(64)
    }

    /// What the current record holds in memory: its bytes and the end of each field.
    var recordBytes: Int { fieldBytes.count + ends.count * MemoryLayout<Int>.stride }

    /// Reads `buffer`, calling `body` with each record it ends. Returns false, with the rest of
    /// `buffer` not read, when the current record reaches more than `maxFields` fields.
    mutating func consume(_ buffer: UnsafeBufferPointer<UInt8>, _ problems: inout ProblemLog,
                          _ body: (borrowing CSVRecord, inout ProblemLog) throws -> Void) throws -> Bool {
        let count = buffer.count
        var index = 0
        while index < count {
            let byte = buffer[index]
            index += 1
            if pendingCR {
                pendingCR = false
                if byte == 0x0A {  // the LF of a CRLF: the line was counted at the CR
                    if state == .quoted { fieldBytes.append(byte) }
                    continue
                }
            }
            switch state {
            case .fieldStart, .unquoted:
                switch byte {
                case 0x2C:  // ,
                    // A comma always opens one more field: `maxFields` ends mean one too many.
                    ends.append(fieldBytes.count)
                    if ends.count >= maxFields { return false }
                    state = .fieldStart
                case 0x0A, 0x0D:
                    try endRecord(&problems, body)
                    newLine(byte)
                case 0x22 where state == .fieldStart:  // "
                    state = .quoted
                    quoted = true
                    quoteLine = line
                case 0x22:
                    problems.add(problem("csv.quote-in-unquoted-field", .warning,
                                         "a double quote inside a field that does not start with one (kept as a character)"))
                    fieldBytes.append(byte)
                default:
                    // Most of a file: a run of plain bytes.
                    appendRun(from: byte, buffer, &index, inQuotes: false)
                    state = .unquoted
                }
            case .quoted:
                switch byte {
                case 0x22:
                    state = .quoteInQuoted
                case 0x0A, 0x0D:
                    fieldBytes.append(byte)
                    line += 1
                    pendingCR = byte == 0x0D
                default:
                    appendRun(from: byte, buffer, &index, inQuotes: true)
                }
            case .quoteInQuoted:
                switch byte {
                case 0x22:  // "" is a quote
                    fieldBytes.append(byte)
                    state = .quoted
                case 0x2C:
                    ends.append(fieldBytes.count)
                    if ends.count >= maxFields { return false }
                    state = .fieldStart
                case 0x0A, 0x0D:
                    try endRecord(&problems, body)
                    newLine(byte)
                default:
                    problems.add(problem("csv.text-after-quote", .warning, "characters after the closing quote of a field (kept)"))
                    fieldBytes.append(byte)
                    if byte >= 0x80 { nonASCII = true }
                    state = .unquoted
                }
            }
        }
        return true
    }

    /// The end of the file: the last record, or the report of a quote that never closed.
    mutating func finish(_ problems: inout ProblemLog, _ body: (borrowing CSVRecord, inout ProblemLog) throws -> Void) throws {
        if state == .quoted {
            problems.add(Problem(file: file, line: quoteLine, column: ends.count + 1, code: "csv.unterminated-quote", severity: .fatal,
                                 message: "a quoted field that starts here never ends: the rest of the file would be one field"))
            return
        }
        if !fieldBytes.isEmpty || !ends.isEmpty { try endRecord(&problems, body) }
    }

    /// Appends `byte` and the plain bytes after it, up to the next byte the state machine
    /// must look at (a quote or a line break; outside quotes, a comma too), leaving `index`
    /// there.
    @inline(__always)
    private mutating func appendRun(from byte: UInt8, _ buffer: UnsafeBufferPointer<UInt8>, _ index: inout Int,
                                    inQuotes: Bool) {
        var high = byte
        fieldBytes.append(byte)
        while index < buffer.count {
            let next = buffer[index]
            if next == 0x22 || next == 0x0A || next == 0x0D || (next == 0x2C && !inQuotes) { break }
            high |= next
            fieldBytes.append(next)
            index += 1
        }
        if high >= 0x80 { nonASCII = true }
    }

    private mutating func newLine(_ byte: UInt8) {
        line += 1
        recordLine = line
        pendingCR = byte == 0x0D
        state = .fieldStart
    }

    private mutating func endRecord(_ problems: inout ProblemLog, _ body: (borrowing CSVRecord, inout ProblemLog) throws -> Void) throws {
        ends.append(fieldBytes.count)
        let blank = ends.count == 1 && fieldBytes.isEmpty && !quoted
        if !blank {
            if nonASCII { checkUTF8(fieldBytes, ends, file: file, line: recordLine, &problems) }
            try fieldBytes.withUnsafeBufferPointer { bytes in
                try ends.withUnsafeBufferPointer { ends in
                    try body(CSVRecord(line: recordLine, bytes: bytes, ends: ends), &problems)
                }
            }
        }
        fieldBytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        nonASCII = false
        quoted = false
    }

    private func problem(_ code: String, _ severity: Severity, _ message: String) -> Problem {
        Problem(file: file, line: recordLine, column: ends.count + 1, code: code, severity: severity, message: message)
    }
}

/// A limit as a problem's message gives it: `16 MiB`, or bytes when not whole MiB.
private func describe(bytes: Int) -> String {
    bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
}

/// Reports each field of a record that is not valid UTF-8 (typically a Windows-1252 export).
private func checkUTF8(_ bytes: [UInt8], _ ends: [Int], file: String, line: Int, _ problems: inout ProblemLog) {
    var start = 0
    for (index, end) in ends.enumerated() {
        let field = bytes[start..<end]
        start = end
        guard field.contains(where: { $0 >= 0x80 }) else { continue }
        if String(validating: field, as: UTF8.self) == nil {
            problems.add(Problem(file: file, line: line, column: index + 1, code: "csv.invalid-utf8", severity: .row,
                                 message: "not valid UTF-8 (saved as Windows-1252 or Latin-1?): export the file as UTF-8"))
        }
    }
}

public struct CSVReadError: Error, CustomStringConvertible {
    public let file: String
    public let errno: Int32
    public var description: String { "cannot read \(file): \(String(cString: strerror(errno)))" }
}
