import EpochFS
@testable import EpochPipeline
import EpochStore
import Testing

/// Which sealed epoch a free processor thread takes: districts in turn, one epoch of a district
/// at a time, each district's epochs in time order.
@Suite struct ProcessingScheduleTests {
    static let alpha: Int64 = 1
    static let beta: Int64 = 2
    static let gamma: Int64 = 3

    /// A queued epoch; inode numbers are unique per test, seal times default to the order made.
    final class Epochs {
        private var nextIno: UInt64 = 100
        func callAsFunction(_ district: Int64, _ name: String, _ state: EpochState = .sealed, sealed: Int64? = nil) -> EpochRecord {
            nextIno += 1
            return EpochRecord(ino: InodeNumber(rawValue: nextIno), district: district, name: name, state: state,
                               sealed: sealed ?? Int64(nextIno) * 1_000_000_000)
        }
    }

    /// The order in which `threads` processor threads start the queued epochs, each finishing
    /// the epoch it took before its next turn comes round again (threads take turns in a
    /// fixed rotation; a thread that finds nothing to take waits for the next round).
    private func run(_ queued: [EpochRecord], threads: Int = 1) -> [String] {
        var queued = queued
        var running: [Int: EpochRecord] = [:]
        var lastServed: [Int64: UInt64] = [:]
        var turn: UInt64 = 0
        var started: [String] = []
        while !queued.isEmpty {
            for thread in 0..<threads {
                // The thread's epoch is done: it leaves the queue, its district is free.
                if let done = running.removeValue(forKey: thread) {
                    queued.removeAll { $0.ino == done.ino }
                }
                let snapshot = ProcessingSchedule.Snapshot(queued: queued, running: Set(running.values.map(\.district)),
                                                           lastServed: lastServed)
                guard let next = ProcessingSchedule.next(snapshot) else { continue }
                #expect(!running.values.contains { $0.district == next.district }, "\(next.name): its district is being processed")
                turn += 1
                lastServed[next.district] = turn
                running[thread] = next
                started.append("\(next.district):\(next.name)")
            }
        }
        return started
    }

    @Test func aDistrictWithOneEpochIsServedBeforeTheSecondOfADistrictWithMany() {
        let epoch = Epochs()
        // Alpha's names are older than beta's: it chose them so (a name is whatever the district writes).
        let alpha = (1...100).map { epoch(Self.alpha, String(String(10_000_000_000 + $0).dropFirst())) }
        let beta = epoch(Self.beta, "20261129T020000Z")
        let order = run(alpha + [beta])
        #expect(order.prefix(3) == ["1:0000000001", "2:20261129T020000Z", "1:0000000002"])
        #expect(order.count == 101)
    }

    @Test func districtsThatWaitAreServedInTurn() {
        let epoch = Epochs()
        let queued = (1...3).map { epoch(Self.alpha, "176437440\($0)") } + (1...2).map { epoch(Self.beta, "176437440\($0)") }
            + [epoch(Self.gamma, "1764374409")]
        #expect(run(queued) == ["1:1764374401", "2:1764374401", "3:1764374409", "1:1764374402", "2:1764374402", "1:1764374403"])
    }

    @Test func theDistrictServedLeastRecentlyGoesFirst() {
        let epoch = Epochs()
        let queued = [epoch(Self.alpha, "1764374400"), epoch(Self.beta, "1764460800"), epoch(Self.gamma, "1764547200")]
        let next = ProcessingSchedule.next(.init(queued: queued, running: [], lastServed: [Self.alpha: 7, Self.beta: 3, Self.gamma: 5]))
        #expect(next?.district == Self.beta)
        // Not served since the start counts as least recently served.
        let fresh = ProcessingSchedule.next(.init(queued: queued, running: [], lastServed: [Self.alpha: 7, Self.beta: 3]))
        #expect(fresh?.district == Self.gamma)
    }

    @Test func noTwoEpochsOfOneDistrictAtOnce() {
        let epoch = Epochs()
        let alpha = (1...5).map { epoch(Self.alpha, "176437440\($0)") }
        // Its first epoch is being processed (so it is `processing`): the others wait.
        var queued = alpha
        queued[0].state = .processing
        #expect(ProcessingSchedule.next(.init(queued: queued, running: [Self.alpha], lastServed: [Self.alpha: 1])) == nil)
        let beta = epoch(Self.beta, "1764374409")
        #expect(ProcessingSchedule.next(.init(queued: queued + [beta], running: [Self.alpha], lastServed: [Self.alpha: 1])) == beta)

        // Four threads, two districts: never more than one thread per district (run() checks),
        // and alpha's epochs still one after the other.
        let order = run(alpha + [beta], threads: 4)
        #expect(order.filter { $0.hasPrefix("1:") } == alpha.map { "1:\($0.name)" })
        #expect(order.firstIndex(of: "2:1764374409") == 1)
    }

    @Test func eachDistrictsEpochsKeepTheirTimeOrder() {
        let epoch = Epochs()
        // Made (and sealed) out of order; two name formats; the same time twice (the seal decides).
        let alpha = [
            epoch(Self.alpha, "20251130T000000Z"),      // 1764460800
            epoch(Self.alpha, "1764374400"),
            epoch(Self.alpha, "1764547200", sealed: 1),
            epoch(Self.alpha, "20251129T000000Z"),      // 1764374400 again, sealed later
            epoch(Self.alpha, "1764288000"),
        ]
        let beta = [epoch(Self.beta, "1764547200"), epoch(Self.beta, "1764201600")]
        let order = run(alpha + beta, threads: 2)
        #expect(order.filter { $0.hasPrefix("1:") }
            == ["1:1764288000", "1:1764374400", "1:20251129T000000Z", "1:20251130T000000Z", "1:1764547200"])
        #expect(order.filter { $0.hasPrefix("2:") } == ["2:1764201600", "2:1764547200"])
    }

    @Test func anEpochACrashLeftProcessingGoesFirstForItsDistrict() {
        let epoch = Epochs()
        let older = epoch(Self.alpha, "1764288000")
        let crashed = epoch(Self.alpha, "1764460800", .processing)
        let beta = epoch(Self.beta, "1764201600")
        // At a start nobody has been served: the epoch a crash left goes first of all, then
        // beta's (alpha has had its turn), then alpha's older one.
        #expect(run([older, crashed, beta]) == ["1:1764460800", "2:1764201600", "1:1764288000"])
    }

    @Test func theSealerLooksAtTheOldestEpochsFirst() {
        let epoch = Epochs()
        let newer = epoch(Self.alpha, "20261203T020000Z", .receiving)
        let older = epoch(Self.alpha, "1764374400", .receiving)  // 2025-11-29
        let beta = epoch(Self.beta, "20261202T020000Z", .receiving)
        let order = EpochPipeline.inspectionOrder([newer, beta, older]) { $0 }
        #expect(order.map(\.name) == ["1764374400", "20261202T020000Z", "20261203T020000Z"])
    }
}
