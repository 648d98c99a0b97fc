import Foundation
import Ingest

/// Where a fuzz target writes the input it was given: the code under test reads files by path,
/// as it reads an epoch's blobs. One directory per process, under `TMPDIR` (scripts/fuzz.sh
/// points it at a RAM-backed folder it removes afterwards), reused for every input.
public enum Scratch {
    public static let directory: String = {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let path = base + "/epochfs-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot make the scratch directory \(path): \(error)")
        }
        return path
    }()

    /// Writes `bytes` as `name` in the scratch directory, replacing what was there.
    @discardableResult
    public static func write(_ name: String, _ bytes: UnsafeRawBufferPointer) -> SetFile {
        let location = directory + "/" + name
        guard FileManager.default.createFile(atPath: location, contents: Data(bytes)) else {
            fatalError("cannot write \(location)")
        }
        return SetFile(path: name, location: location, size: Int64(bytes.count))
    }

    public static func write(_ name: String, _ text: String) -> SetFile {
        Array(text.utf8).withUnsafeBytes { write(name, $0) }
    }

    /// An empty directory `name` in the scratch directory (its earlier contents removed).
    public static func emptyDirectory(_ name: String) -> String {
        let path = directory + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            fatalError("cannot make \(path): \(error)")
        }
        return path
    }

    public static func profile(_ name: String) -> Profile {
        guard let profile = ProfileLibrary.builtIn.first(where: { $0.name == name }) else {
            fatalError("no built-in profile \(name)")
        }
        return profile
    }
}
