/// Text a district chose (the names of its files and epochs, and the reasons and messages that
/// name them), made safe to print where a person or a log parser reads it. A newline in a
/// name would forge a log line, an escape sequence would reach a staff member's terminal, and
/// a bidirectional override would show a name other than it is: every control character (C0,
/// DEL, C1) and every Unicode format character that reorders or hides text becomes a visible
/// escape (`\n`, `\t`, `\u{1B}`), and a backslash is doubled so that an escape cannot be forged.
/// Text with none of them comes back as it is.
public func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { needsEscape($0) || $0 == "\\" }) else { return text }
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count + 8)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        case _ where needsEscape(scalar): escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped
}

private func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F: true
    // Zero-width and joiner characters, directional marks, embeddings, overrides and isolates.
    case 0x200B...0x200F, 0x202A...0x202E, 0x2060...0x2069, 0xFEFF: true
    default: false
    }
}
