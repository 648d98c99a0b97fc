import Crypto
import Foundation

/// An SSH public key a district may log in with: one of the algorithms OpenSSH 9 accepts by
/// default, decoded and checked down to its wire format.
public struct PublicKey: Sendable, Hashable, Codable {
    /// The algorithm name as the key's own data spells it (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`).
    public let algorithm: String
    /// The key in the SSH wire format (RFC 4253 section 6.6), what the base64 field encodes.
    public let blob: [UInt8]
    /// The key's size as `ssh-keygen -l` reports it.
    public let bits: Int
    /// Free text; never contains a line break.
    public let comment: String

    /// Decodes and checks `blob`; `comment` is cleaned of control characters.
    public init(blob: [UInt8], comment: String) throws(KeyError) {
        var reader = WireReader(blob)
        guard let algorithm = reader.string().flatMap({ String(validating: $0, as: UTF8.self) }) else {
            throw .malformed("the key data does not start with an algorithm name")
        }
        let bits: Int
        switch algorithm {
        case "ssh-ed25519":
            guard let point = reader.string() else { throw .truncated }
            guard point.count == 32 else { throw .malformed("an ed25519 key must hold 32 bytes, this one holds \(point.count)") }
            bits = 256
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            let curve = String(algorithm.dropFirst("ecdsa-sha2-".count))
            guard let named = reader.string(), let point = reader.string() else { throw .truncated }
            guard named.elementsEqual(curve.utf8) else {
                throw .malformed("the key says \(algorithm) but names the curve \(String(decoding: named, as: UTF8.self))")
            }
            bits = ["nistp256": 256, "nistp384": 384, "nistp521": 521][curve]!
            let expected = 1 + 2 * ((bits + 7) / 8)
            guard point.count == expected, point.first == 0x04 else {
                throw .malformed("the \(curve) point must be \(expected) bytes, uncompressed; this one is \(point.count)")
            }
        case "ssh-rsa":
            guard let exponent = reader.string(), let modulus = reader.string() else { throw .truncated }
            guard !exponent.isEmpty, exponent.last! & 1 == 1 else { throw .malformed("the RSA exponent is not a valid one") }
            bits = Self.bitLength(modulus)
            guard bits >= 2048 else { throw .weakRSA(bits: bits) }
        case "ssh-dss":
            throw .dsa
        default:
            if algorithm.hasSuffix("-cert-v01@openssh.com") { throw .certificate }
            if algorithm.hasPrefix("sk-") { throw .securityKey(algorithm) }
            throw .unsupported(algorithm)
        }
        guard reader.isAtEnd else { throw .malformed("the key data has \(reader.remaining) bytes too many") }
        self.algorithm = algorithm
        self.blob = blob
        self.bits = bits
        self.comment = Self.clean(comment)
    }

    /// `SHA256:` and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    public var fingerprint: String {
        "SHA256:" + Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// `MD5:` and colon-separated hex, the legacy form (`ssh-keygen -l -E md5`).
    public var md5Fingerprint: String {
        "MD5:" + Insecure.MD5.hash(data: blob).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    /// The type in capitals, as `ssh-keygen -l` prints it in parentheses.
    public var displayType: String {
        switch algorithm {
        case "ssh-ed25519": "ED25519"
        case "ssh-rsa": "RSA"
        default: "ECDSA"
        }
    }

    /// `algorithm base64 [comment]`: one line of an `authorized_keys` file, without options.
    public var openSSHLine: String {
        let line = algorithm + " " + Data(blob).base64EncodedString()
        return comment.isEmpty ? line : line + " " + comment
    }

    /// Comments come from pasted text: keep them printable and short. Trimmed again once cut
    /// short, so that the key's `authorized_keys` line reads back with the same comment.
    private static func clean(_ comment: String) -> String {
        let printable = comment.unicodeScalars.map { scalar -> String in
            scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" ? " " : String(scalar)
        }.joined()
        return printable.trimmingCharacters(in: .whitespaces).prefix(200).trimmingCharacters(in: .whitespaces)
    }

    /// The number of significant bits of an unsigned big-endian integer (an SSH mpint).
    private static func bitLength(_ bytes: [UInt8]) -> Int {
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (bytes.count - first - 1) * 8 + (8 - bytes[first].leadingZeroBitCount)
    }
}

/// Why a key is refused, in words for the person who pasted it.
public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    case dsa
    case weakRSA(bits: Int)
    case certificate
    case securityKey(String)
    case unsupported(String)
    case truncated
    case malformed(String)

    public var description: String {
        switch self {
        case .dsa:
            "DSA (ssh-dss) keys are refused: OpenSSH no longer accepts them. Make a new key: ssh-keygen -t ed25519"
        case .weakRSA(let bits):
            "this RSA key has \(bits) bits; at least 2048 are required. Make a new key: ssh-keygen -t ed25519 (or -t rsa -b 4096)"
        case .certificate:
            "SSH certificates are not accepted: paste the plain public key (the .pub file without -cert)"
        case .securityKey(let algorithm):
            "security-key (FIDO) keys like \(algorithm) are not accepted: use an ed25519, ecdsa or rsa key"
        case .unsupported(let algorithm):
            "'\(algorithm)' is not a supported key type: use ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa"
        case .truncated:
            "the key data ends early: the key was cut off or broken across lines; paste it again as one line"
        case .malformed(let detail):
            "the key data is damaged: \(detail)"
        }
    }
}

/// Reads SSH wire-format strings (a 32-bit big-endian length, then that many bytes).
struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func string() -> [UInt8]? {
        guard remaining >= 4 else { return nil }
        let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        guard remaining - 4 >= length else { return nil }
        defer { offset += 4 + length }
        return Array(bytes[offset + 4..<offset + 4 + length])
    }
}
