import Foundation
import FuzzSupport
import SSHKeys

/// The input as pasted key text, and as the key data (the wire format) the base64 of a key
/// line decodes to, which the text parser reaches only through valid base64. A key accepted
/// must read back the same from its own `authorized_keys` line.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeys(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    if let keys = try? KeyText.parse(String(decoding: bytes, as: UTF8.self)) {
        for key in keys { roundTrip(key) }
    }
    if let key = try? PublicKey(blob: bytes, comment: String(decoding: bytes.prefix(64), as: UTF8.self)) {
        roundTrip(key)
    }
    return 0
}

private func roundTrip(_ key: PublicKey) {
    let again: [PublicKey]
    do {
        again = try KeyText.parse(key.openSSHLine)
    } catch {
        fatalError("the line of an accepted key is refused: \(error)")
    }
    require(again == [key], "the line of an accepted key reads as another key")
    require(!key.comment.contains(where: \.isNewline), "a comment with a line break")
    require(key.fingerprint.hasPrefix("SHA256:") && key.md5Fingerprint.hasPrefix("MD5:"), "a fingerprint of another form")
}
