import Foundation

/// A problem with one line of pasted key text.
public struct KeyProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    /// 1-based line number in the pasted text.
    public let line: Int
    public let message: String

    public var description: String { "line \(line): \(message)" }
}

/// Every problem found in a paste; nothing of it is stored.
public struct KeyTextError: Error, Sendable, CustomStringConvertible {
    public let problems: [KeyProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads what people paste as "my public key": OpenSSH one-line keys (one or several, with
/// comments) and RFC 4716 "SSH2 PUBLIC KEY" blocks as PuTTYgen saves them. Anything else is
/// reported line by line, loudly for a private key.
public enum KeyText {
    public static func parse(_ text: String) throws(KeyTextError) -> [PublicKey] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map { index, line in
            (number: index + 1, text: line.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\u{FEFF}"))))
        }
        var keys = [PublicKey]()
        var problems = [KeyProblem]()
        var index = 0
        while index < lines.count {
            let (number, line) = lines[index]
            index += 1
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let problem = privateKeyProblem(line) {
                problems.append(KeyProblem(line: number, message: problem))
                index = endOfBlock(lines.map(\.text), from: index)
                continue
            }
            if line.hasPrefix("---- BEGIN SSH2 PUBLIC KEY") {
                var block = [String]()
                var ended = false
                while index < lines.count {
                    let next = lines[index].text
                    index += 1
                    if next.hasPrefix("---- END SSH2 PUBLIC KEY") { ended = true; break }
                    block.append(next)
                }
                guard ended else {
                    problems.append(KeyProblem(line: number, message: "this SSH2 PUBLIC KEY block has no '---- END SSH2 PUBLIC KEY ----' line: paste the whole block"))
                    continue
                }
                do throws(KeyError) {
                    keys.append(try rfc4716(block))
                } catch {
                    problems.append(KeyProblem(line: number, message: error.description))
                }
                continue
            }
            if line.hasPrefix("-----BEGIN") {
                problems.append(KeyProblem(line: number, message: pemMessage(line)))
                index = endOfBlock(lines.map(\.text), from: index)
                continue
            }
            do throws(KeyError) {
                let next = index < lines.count ? lines[index].text.split(separator: " ").first.map(String.init) : nil
                keys.append(try oneLine(line, continued: next.map(looksLikeBase64) ?? false))
            } catch {
                problems.append(KeyProblem(line: number, message: error.description))
            }
        }
        if problems.isEmpty && keys.isEmpty {
            problems.append(KeyProblem(line: max(lines.count, 1), message: "no public key found: paste the contents of the .pub file (one line starting with ssh-ed25519, ecdsa-sha2-… or ssh-rsa)"))
        }
        guard problems.isEmpty else { throw KeyTextError(problems: problems) }
        return keys
    }

    /// `type base64 [comment]`. `continued` says the next line looks like more base64, which
    /// turns "damaged" into "broken across lines".
    private static func oneLine(_ line: String, continued: Bool) throws(KeyError) -> PublicKey {
        // OpenSSH separates the fields with spaces or tabs.
        let fields = line.split(maxSplits: 2, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" })
            .map(String.init)
        guard let declared = fields.first else { throw .malformed("empty line") }
        if declared.hasSuffix("-cert-v01@openssh.com") { throw .certificate }
        if declared == "ssh-dss" { throw .dsa }
        if declared.hasPrefix("sk-") { throw .securityKey(declared) }
        guard knownAlgorithms.contains(declared) else {
            if looksLikeBase64(declared) {
                throw .malformed("this line starts with key data, not a key type: it looks like the rest of a key broken across lines; paste each key as one line")
            }
            if let known = knownAlgorithms.first(where: { line.contains($0 + " ") }) {
                throw .malformed("authorized_keys options before '\(known)' are not accepted: paste the key alone, starting with its type")
            }
            throw .unsupported(String(declared.prefix(60)))
        }
        guard fields.count >= 2 else { throw .truncated }
        guard let data = Data(base64Encoded: fields[1]) else {
            throw continued ? .truncated : .malformed("the key data is not valid base64 (cut off or edited?)")
        }
        let key: PublicKey
        do {
            key = try PublicKey(blob: Array(data), comment: fields.count > 2 ? fields[2] : "")
        } catch .truncated where continued {
            throw .truncated
        }
        guard key.algorithm == declared else {
            throw .malformed("the line says \(declared) but the key data is \(key.algorithm)")
        }
        return key
    }

    /// The lines between BEGIN and END of an RFC 4716 block: headers (`Tag: value`, continued
    /// with a trailing backslash), then the base64 body.
    private static func rfc4716(_ block: [String]) throws(KeyError) -> PublicKey {
        var comment = ""
        var body = ""
        var index = 0
        while index < block.count {
            var line = block[index]
            index += 1
            guard body.isEmpty, let colon = line.firstIndex(of: ":"), !looksLikeBase64(line) else {
                body += line
                continue
            }
            while line.hasSuffix("\\"), index < block.count {
                line = String(line.dropLast()) + block[index]
                index += 1
            }
            let tag = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if tag == "comment" { comment = value }
        }
        guard !body.isEmpty else { throw .malformed("the SSH2 PUBLIC KEY block holds no key data") }
        guard let data = Data(base64Encoded: body) else { throw .truncated }
        return try PublicKey(blob: Array(data), comment: comment)
    }

    /// The index after a PEM or PuTTY block that started just before `start`: past its
    /// `-----END` line, or at the first empty line (PuTTY files have no end marker). One report
    /// per block, not one per line of it.
    private static func endOfBlock(_ lines: [String], from start: Int) -> Int {
        var index = start
        while index < lines.count, !lines[index].isEmpty {
            index += 1
            if lines[index - 1].hasPrefix("-----END") { break }
        }
        return index
    }

    private static let knownAlgorithms = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
    ]

    private static func privateKeyProblem(_ line: String) -> String? {
        guard (line.hasPrefix("-----BEGIN") && line.contains("PRIVATE KEY")) || line.hasPrefix("PuTTY-User-Key-File-") else {
            return nil
        }
        return "this is a PRIVATE KEY. Never send it to anyone: treat it as exposed, make a new key pair, and send only the public half (the .pub file, or PuTTYgen's 'Public key for pasting')"
    }

    private static func pemMessage(_ line: String) -> String {
        if line.contains("CERTIFICATE") {
            return "this is an X.509 certificate, not an SSH public key: paste the .pub file of an SSH key"
        }
        return "this is a PEM key ('\(line.prefix(40))'), not an SSH public key: convert it with ssh-keygen -i -m PKCS8 -f FILE and paste the result"
    }

    private static func looksLikeBase64(_ line: String) -> Bool {
        line.count >= 16 && line.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2b || c == 0x2f || c == 0x3d
        }
    }
}
