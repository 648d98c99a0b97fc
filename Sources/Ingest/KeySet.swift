#if canImport(Glibc)
import Glibc
#endif

/// A set of byte strings (row ids) that is looked up with a field's bytes, without making a
/// String per lookup: the ids of a file are inserted once and looked up by every reference.
///
/// Keys are stored back to back in one array, each after a 4-byte length. The open-addressing
/// table holds one 8-byte word per slot: 24 bits of the key's hash above the 40-bit position
/// of its length (plus one, so 0 means empty). A million ids make a 16 MB table, small enough
/// to stay in a server's last-level cache; that, not the hashing, decides the speed. Hashes
/// come from the standard library's `Hasher`, seeded per process, so an upload cannot be
/// crafted to make every key collide.
struct KeySet {
    private var storage: [UInt8] = []
    private var slots: [UInt64]
    private var mask: Int
    private(set) var count = 0

    private static let positionBits: UInt64 = 40
    private static let positionMask: UInt64 = (1 << positionBits) - 1

    init() {
        slots = Array(repeating: 0, count: 1024)
        mask = 1023
    }

    /// Adds `key`; false when it was already there.
    @discardableResult
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let hash = Self.hash(key)
        let tag = Self.tag(hash)
        var index = hash & mask
        while slots[index] != 0 {
            if matches(slots[index], tag, key) { return false }
            index = (index + 1) & mask
        }
        let position = UInt64(storage.count)
        precondition(position < Self.positionMask, "more than 1 TiB of ids in one file")
        var length = UInt32(key.count).littleEndian
        withUnsafeBytes(of: &length) { storage.append(contentsOf: $0) }
        storage.append(contentsOf: key)
        slots[index] = tag << Self.positionBits | (position + 1)
        count += 1
        if count * 2 > slots.count { rebuild(slotCount: slots.count * 2) }
        return true
    }

    /// Makes room for `expected` keys in all, so that reading a large file does not rebuild the
    /// table again and again (every rebuild hashes every key once more).
    mutating func reserveCapacity(_ expected: Int) {
        var slotCount = slots.count
        while slotCount < expected * 2 { slotCount *= 2 }
        if slotCount > slots.count { rebuild(slotCount: slotCount) }
    }

    func contains(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let hash = Self.hash(key)
        let tag = Self.tag(hash)
        var index = hash & mask
        while slots[index] != 0 {
            if matches(slots[index], tag, key) { return true }
            index = (index + 1) & mask
        }
        return false
    }

    private func matches(_ slot: UInt64, _ tag: UInt64, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        guard slot >> Self.positionBits == tag else { return false }
        let position = Int(slot & Self.positionMask) - 1
        return storage.withUnsafeBufferPointer { stored in
            let length = Self.length(stored, at: position)
            guard length == key.count else { return false }
            return length == 0 || memcmp(stored.baseAddress! + position + 4, key.baseAddress!, length) == 0
        }
    }

    /// The length stored at `position`, little-endian.
    private static func length(_ stored: UnsafeBufferPointer<UInt8>, at position: Int) -> Int {
        Int(UInt32(stored[position]) | UInt32(stored[position + 1]) << 8 | UInt32(stored[position + 2]) << 16
            | UInt32(stored[position + 3]) << 24)
    }

    /// Builds a table of `slotCount` slots (a power of two); inserting keeps it at most half
    /// full so probe runs stay short. The table does not keep whole hashes, so each key is
    /// hashed again, reading `storage` front to back (in table order the reads would jump
    /// about the whole array).
    private mutating func rebuild(slotCount: Int) {
        var bigger = [UInt64](repeating: 0, count: slotCount)
        let biggerMask = bigger.count - 1
        storage.withUnsafeBufferPointer { stored in
            var position = 0
            while position < stored.count {
                let length = Self.length(stored, at: position)
                let hash = Self.hash(UnsafeBufferPointer(rebasing: stored[(position + 4)..<(position + 4 + length)]))
                var index = hash & biggerMask
                while bigger[index] != 0 { index = (index + 1) & biggerMask }
                bigger[index] = Self.tag(hash) << Self.positionBits | UInt64(position + 1)
                position += 4 + length
            }
        }
        slots = bigger
        mask = biggerMask
    }

    private static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(key))
        return hasher.finalize()
    }

    /// The hash's top 24 bits: the table index uses the low bits, so these tell most keys of
    /// one probe run apart without reading `storage`.
    private static func tag(_ hash: Int) -> UInt64 {
        UInt64(UInt(bitPattern: hash) >> 40)
    }
}
