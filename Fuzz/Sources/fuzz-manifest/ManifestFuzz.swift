import FuzzSupport
import Ingest

/// A small valid orgs file for the manifest to name, so that a manifest giving it in bulk or
/// delta sends validation on to a data file.
private let orgs = Scratch.write("orgs.csv", """
    sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId
    d1,,,District,district,,
    s1,,,School One,school,,d1

    """)

/// The input as the `manifest.csv` of a set that also holds an orgs file: recognised against the
/// built-in profiles, asked for the files it awaits, and validated by each profile with a
/// manifest rule (the validator reads the manifest again and reports what is wrong with it).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let files = [Scratch.write("manifest.csv", UnsafeRawBufferPointer(start: data, count: size)), orgs]
    let profiles = ProfileLibrary.builtIn
    if case .unrecognised(let reason) = Recogniser.recognise(files, profiles: profiles) {
        require(!reason.isEmpty, "unrecognised without a reason")
    }
    _ = Recogniser.awaitedFiles(files, profiles: profiles)
    for profile in profiles where profile.recognition.manifest != nil {
        do {
            let report = try Validator.validate(files, profile: profile)
            _ = OutcomeRule.decide(report, profile: profile)
        } catch {
            fatalError("validating files that can be read threw \(error)")
        }
    }
    return 0
}
