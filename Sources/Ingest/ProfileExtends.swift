import Foundation

/// A JSON value: what `extends` lays one profile's JSON over another's with, before the result
/// is decoded as any profile is.
enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let value = try? c.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? c.decode(Double.self) {
            self = .number(value)
        } else if let value = try? c.decode(String.self) {
            self = .string(value)
        } else if let value = try? c.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let value): try c.encode(value)
        case .number(let value): try c.encode(value)
        case .string(let value): try c.encode(value)
        case .array(let value): try c.encode(value)
        case .object(let value): try c.encode(value)
        }
    }
}

/// Resolves a profile's `extends` (docs/profiles.md, "Extending a built-in"): the profile is
/// its base's JSON with its own keys laid over it.
///
/// Objects are merged key by key and `null` removes a key, as in a JSON merge patch (RFC 7386);
/// other values replace the base's. `files`, and a file's `columns`, are merged by `name`, so
/// a profile states only the files and columns it changes or adds (`"remove": true` drops one).
enum ProfileExtends {
    /// `document` with its `extends` resolved; `base` gives the resolved JSON of a profile by
    /// name, or nil when there is no such profile. A document without `extends` is returned as
    /// it is.
    static func resolve(_ document: JSONValue, base: (String) -> JSONValue?) throws -> JSONValue {
        guard case .object(var patch) = document, let extends = patch.removeValue(forKey: "extends") else { return document }
        guard case .string(let baseName) = extends else { throw ProfileError(message: "`extends` must be the name of a profile") }
        guard let baseDocument = base(baseName) else {
            throw ProfileError(message: "extends `\(baseName)`, which is not a built-in profile")
        }
        // One that left its name out would take its base's, and replace the base unawares.
        guard case .string = patch["name"] else {
            throw ProfileError(message: "a profile that extends `\(baseName)` needs a `name` of its own")
        }
        return try mergeProfile(baseDocument, .object(patch))
    }

    private static func mergeProfile(_ base: JSONValue, _ patch: JSONValue) throws -> JSONValue {
        try merge(base, patch) { key, base, patch in
            guard key == "files" else { return nil }
            return try mergeNamed(base, patch, at: "files", mergeEntry: mergeFile)
        }
    }

    private static func mergeFile(named name: String, _ base: JSONValue, _ patch: JSONValue) throws -> JSONValue {
        try merge(base, patch) { key, base, patch in
            guard key == "columns" else { return nil }
            return try mergeNamed(base, patch, at: "files[\(name)].columns") { _, base, patch in try merge(base, patch) }
        }
    }

    /// `patch` laid over `base`: objects key by key (`null` removes a key), anything else
    /// replaced. `special` merges the keys it answers for (non-nil) itself.
    private static func merge(_ base: JSONValue, _ patch: JSONValue,
                              special: (String, JSONValue, JSONValue) throws -> JSONValue? = { _, _, _ in nil }) throws -> JSONValue {
        guard case .object(var result) = base, case .object(let changes) = patch else { return patch }
        for (key, change) in changes {
            if change == .null {
                result.removeValue(forKey: key)
            } else if let old = result[key] {
                result[key] = try special(key, old, change) ?? merge(old, change)
            } else {
                result[key] = change
            }
        }
        return .object(result)
    }

    /// A list of named objects (files, columns) laid over the base's, by name: an entry the base
    /// has is merged into it, in its place; `"remove": true` drops it; a new entry goes after
    /// the last entry listed before it that is still there, or at the end when there is none.
    private static func mergeNamed(_ base: JSONValue, _ patch: JSONValue, at place: String,
                                   mergeEntry: (String, JSONValue, JSONValue) throws -> JSONValue) throws -> JSONValue {
        guard case .array(var result) = base, case .array(let entries) = patch else { return patch }
        func index(of name: String) -> Int? {
            result.firstIndex { if case .object(let fields) = $0, fields["name"] == .string(name) { true } else { false } }
        }
        var anchor: String?
        for (position, entry) in entries.enumerated() {
            guard case .object(var fields) = entry, case .string(let name)? = fields["name"] else {
                throw ProfileError(message: "at \(place)[\(position)]: an entry of a profile that extends another needs a `name`")
            }
            let remove = fields.removeValue(forKey: "remove")
            guard remove == nil || remove == .bool(true) || remove == .bool(false) else {
                throw ProfileError(message: "at \(place)[\(name)]: `remove` must be true or false")
            }
            if let existing = index(of: name) {
                if remove == .bool(true) {
                    result.remove(at: existing)
                } else {
                    result[existing] = try mergeEntry(name, result[existing], .object(fields))
                    anchor = name
                }
            } else if remove == .bool(true) {
                throw ProfileError(message: "at \(place)[\(name)]: removes `\(name)`, which the extended profile does not have")
            } else {
                let after = anchor.flatMap(index(of:)).map { $0 + 1 } ?? result.endIndex
                result.insert(.object(fields), at: after)
                anchor = name
            }
        }
        return .array(result)
    }
}
