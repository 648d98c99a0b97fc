import FuzzSupport
import Ingest

/// The profile and file the input is most likely to be, by its header: the file spec with the
/// most column names among the first line's fields (the first such spec on a tie). So the corpus
/// is plain CSV files, and a mutated header moves the input to another file's checks.
private func role(of bytes: UnsafeRawBufferPointer) -> (Profile, FileSpec) {
    let firstLine = bytes.prefix { $0 != 0x0A && $0 != 0x0D }
    let header = Set(firstLine.split(separator: 0x2C, omittingEmptySubsequences: false).map {
        String(decoding: $0.filter { $0 != 0x22 }, as: UTF8.self)
    })
    var best: (profile: Profile, spec: FileSpec, score: Int)?
    for profile in ProfileLibrary.builtIn {
        for spec in profile.files {
            let score = spec.columns.filter { header.contains($0.name) }.count
            if best == nil || score > best!.score { best = (profile, spec, score) }
        }
    }
    return (best!.profile, best!.spec)
}

/// The input as one file of a set, validated by the built-in profile whose file it looks like,
/// with a manifest (for OneRoster) giving it in bulk or delta and every other file absent. The
/// strictness and the mode come from the input's length. The outcome rule then decides on the
/// report, as processing does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzValidator(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let (profile, spec) = role(of: bytes)
    var files = [Scratch.write(spec.fileName, bytes)]
    if let rule = profile.recognition.manifest {
        var manifest = rule.header.joined(separator: ",") + "\n"
        for (property, value) in rule.values.sorted(by: { $0.key < $1.key }) { manifest += "\(property),\(value)\n" }
        for other in profile.files {
            manifest += "\(rule.filePrefix)\(other.name),\(other.name != spec.name ? "absent" : size / 3 % 2 == 0 ? "bulk" : "delta")\n"
        }
        files.append(Scratch.write(rule.file, manifest))
    }
    let strictness = Strictness.allCases[size % Strictness.allCases.count]
    let report: ValidationReport
    do {
        report = try Validator.validate(files, profile: profile, strictness: strictness)
    } catch {
        fatalError("validating files that can be read threw \(error)")
    }
    let file = report.files[0]
    require(file.accepted + file.rejected == file.rows && file.accepted >= 0 && file.rejected >= 0 && file.warned >= 0
                 && file.warned <= file.accepted, "counts that do not add up: \(file)")
    _ = OutcomeRule.decide(report, profile: profile)
    _ = report.problems.groupsBySeverity
    return 0
}
