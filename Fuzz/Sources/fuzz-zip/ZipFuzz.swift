import FuzzSupport
import Glibc
import Ingest

/// Limits far below the defaults, so that inputs of a few KiB reach them.
private let limits: ZipSet.Limits = {
    var limits = ZipSet.Limits()
    limits.maxEntries = 64
    limits.maxTotalBytes = 1 << 20
    return limits
}()

/// The input as an uploaded `set.zip`: its declared size read, then extracted into an empty
/// directory. What is extracted must be files directly in that directory, as large as reported,
/// and no more bytes in all than the limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZip(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let zip = Scratch.write("set.zip", UnsafeRawBufferPointer(start: data, count: size))
    require(ZipSet.holdsSet([zip]) == zip, "a lone .zip is not taken for a zipped set")
    _ = ZipSet.declaredSize(zip, limits: limits)
    let directory = Scratch.emptyDirectory("unzipped")
    let extracted: [SetFile]
    do {
        extracted = try ZipSet.extract(zip, into: directory, limits: limits).files
    } catch {
        fatalError("extracting into a writable directory threw \(error)")
    }
    var total: Int64 = 0
    for file in extracted {
        require(!file.path.contains("/") && file.location == directory + "/" + file.path, "extracted outside: \(file.location)")
        var status = stat()
        require(lstat(file.location, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && Int64(status.st_size) == file.size,
                     "\(file.path) is not the regular file of \(file.size) bytes reported")
        total += file.size
    }
    require(total <= limits.maxTotalBytes, "extracted \(total) bytes, past the limit")
    return 0
}
