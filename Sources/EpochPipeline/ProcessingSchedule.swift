import EpochStore

/// Which queued epoch a free processor thread takes next. A pure function of a snapshot, so
/// the rules are tested without a mount.
///
/// Fair across districts: each district is a queue of its own, a district whose epoch is being
/// processed waits until it is done (never two epochs of one district at once), and among the
/// others the district served least recently goes first. A district with a hundred queued epochs
/// therefore takes one turn, then every other waiting district takes one, and the time a
/// district writes into its epochs' names (which it chooses) orders only its own epochs.
///
/// Within a district the order is the invariant "processed once, after it is complete, in
/// time order": an epoch left `processing` by a crash first, then the oldest by the time in its
/// name, then the earlier seal.
enum ProcessingSchedule {
    struct Snapshot: Sendable {
        /// Epochs waiting for processing: `sealed` ones, and `processing` ones (left by a crash,
        /// or being processed now by a thread serving their district).
        var queued: [EpochRecord]
        /// Districts (by id) that a thread is processing an epoch of now.
        var running: Set<Int64>
        /// The turn at which each district was last given to a thread (a larger number is
        /// later); a district not served since the daemon started has none.
        var lastServed: [Int64: UInt64]
    }

    /// The epoch to process next: the first of the least recently served district that has
    /// queued epochs and none being processed; nil when there is none.
    static func next(_ snapshot: Snapshot) -> EpochRecord? {
        var heads: [Int64: EpochRecord] = [:]
        for record in snapshot.queued where !snapshot.running.contains(record.district) {
            if let head = heads[record.district], !(order(record) < order(head)) { continue }
            heads[record.district] = record
        }
        // Never served counts as served before anyone (turns start at 1). Between districts
        // never served, as at a start, their first epochs' own order decides: the epochs a
        // crash left first, then the oldest.
        func key(_ head: EpochRecord) -> (UInt64, Int, Int64, Int64, String, Int64) {
            let (crashed, time, sealed, name) = order(head)
            return (snapshot.lastServed[head.district] ?? 0, crashed, time, sealed, name, head.district)
        }
        return heads.values.min { key($0) < key($1) }
    }

    /// The order of one district's epochs.
    static func order(_ record: EpochRecord) -> (Int, Int64, Int64, String) {
        (record.state == .processing ? 0 : 1, Processor.time(of: record), record.sealed ?? 0, record.name)
    }
}
