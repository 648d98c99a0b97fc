import Crypto
import EpochStore
import Foundation
import Logging
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

let quietLogger = Logger(label: "epochstore.tests") { _ in SwiftLogNoOpLogHandler() }

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).hex
}

