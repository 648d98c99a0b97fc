import EpochStore
import TestSupport
import Testing

@Suite struct PrintableTests {
    @Test func textWithoutControlsIsKeptAsItIs() {
        for text in ["1764374400", "Nuñez, José", "学生.csv", "a b", ""] {
            #expect(printable(text) == text)
        }
    }

    @Test func controlsAndTextReorderingCharactersBecomeVisibleEscapes() {
        #expect(printable("1764374400\nINFO forged line") == "1764374400\\nINFO forged line")
        #expect(printable("a\tb\rc") == "a\\tb\\rc")
        #expect(printable("\u{1B}[2Jcleared") == "\\u{1B}[2Jcleared")
        #expect(printable("x\u{7F}\u{85}y") == "x\\u{7F}\\u{85}y")
        #expect(printable("report\u{202E}vsc.exe") == "report\\u{202E}vsc.exe")
        #expect(printable("zero\u{200B}width") == "zero\\u{200B}width")
    }

    @Test func aBackslashIsDoubledSoThatNoEscapeCanBeForged() {
        #expect(printable("a\\nb") == "a\\\\nb")
        #expect(printable("a\\nb") != printable("a\nb"))
    }
}
