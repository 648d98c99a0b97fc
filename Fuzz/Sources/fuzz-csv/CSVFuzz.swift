import FuzzSupport
import Glibc
import Ingest

/// What one reading saw: every record, every problem, the bytes read.
private struct Reading: Equatable {
    var records: [Record] = []
    var problems: [Problem] = []
    var bytesRead = 0

    struct Record: Equatable {
        var line: Int
        var fields: [[UInt8]]
    }
}

private func read(_ file: SetFile, chunkSize: Int, maxRecordBytes: Int = 16 << 20, maxFields: Int = 16_384,
                  maxBytes: Int = .max) -> Reading {
    let fd = open(file.location, O_RDONLY)
    guard fd >= 0 else { fatalError("cannot open \(file.location)") }
    defer { close(fd) }
    var reading = Reading()
    var log = ProblemLog()
    let reader = CSVReader(file: file.path, fd: fd, chunkSize: chunkSize, maxRecordBytes: maxRecordBytes, maxFields: maxFields,
                           maxBytes: maxBytes)
    do {
        reading.bytesRead = try reader.read(problems: &log) { record in
            require(record.count >= 1 && record.count <= maxFields, "a record of \(record.count) fields")
            reading.records.append(Reading.Record(line: record.line, fields: (0..<record.count).map { Array(record.field($0)) }))
            _ = record.string(record.count - 1)
        }
    } catch {
        fatalError("reading a regular file threw \(error)")
    }
    reading.problems = log.problems
    return reading
}

/// The input read as a CSV file, once in one chunk and once in chunks of 3 to 18 bytes (the
/// size taken from the input's length, so the corpus is plain CSV files): a record, a quote,
/// a CRLF or a byte order mark cut at a chunk's end must read exactly as whole. (Not for a
/// file that is not UTF-8: the reader tells that from its first chunk, which the chunk size
/// makes longer or shorter, and stops there.) Then once more with small bounds on records,
/// fields and the file, which must end the reading and never be passed by more than the reader
/// documents.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let file = Scratch.write("input.csv", UnsafeRawBufferPointer(start: data, count: size))
    let whole = read(file, chunkSize: 1 << 20)
    let chunked = read(file, chunkSize: 3 + size % 16)
    if !whole.problems.contains(where: { $0.code == "csv.encoding" }) {
        require(whole == chunked, "read in chunks of \(3 + size % 16) bytes, the file reads otherwise than whole")
        require(whole.bytesRead == size, "read \(whole.bytesRead) of \(size) bytes")
    }

    let maxFields = 1 + size % 7
    let maxBytes = size / 2
    let bounded = read(file, chunkSize: 3 + size % 5, maxRecordBytes: 64, maxFields: maxFields, maxBytes: maxBytes)
    require(bounded.bytesRead <= maxBytes + 1, "read \(bounded.bytesRead) bytes where at most \(maxBytes + 1) may be")
    return 0
}
