import EpochStore
import Foundation
import Synchronization

/// What the daemon counts since it started, written for Prometheus' node exporter as a text
/// file (its textfile collector): no network port of our own.
public final class Metrics: Sendable {
    private struct Counters {
        var uploads = 0
        var uploadedBytes: Int64 = 0
        var errors: [Int32: Int] = [:]
        var published: [String: Int] = [:]
        var processingSeconds = 0.0
        var processed = 0
        var processingFailures = 0
        var sealingDelaySeconds = 0.0
        var sealed = 0
    }

    private let counters = Mutex(Counters())
    /// Bytes the daemon answered READ requests with (reads through a backing file are not seen).
    let readBytes = Atomic<Int64>(0)
    /// Bytes copied from published files into staging files before their first change
    /// (copy-on-write: an append to, or a rewrite of, a published file).
    let copiedBytes = Atomic<Int64>(0)
    /// Passthrough backing files the kernel holds for open files, and how often it refused one.
    let backingFiles = Atomic<Int>(0)
    let backingRefusals = Atomic<Int>(0)

    public init() {}

    /// A file was published (an upload completed).
    func uploadCompleted(bytes: Int64) {
        counters.withLock {
            $0.uploads += 1
            $0.uploadedBytes += bytes
        }
    }

    /// A request was answered with an error.
    public func replied(_ errno: Errno) {
        counters.withLock { $0.errors[errno.rawValue, default: 0] += 1 }
    }

    /// An epoch sealed `delay` after its last change (the settle period or the marker's quiet
    /// included).
    func sealed(after delay: Double) {
        counters.withLock {
            $0.sealed += 1
            $0.sealingDelaySeconds += delay
        }
    }

    /// An epoch was processed and published with `outcome` after `seconds` of processing.
    public func processed(outcome: String, seconds: Double) {
        counters.withLock {
            $0.published[outcome, default: 0] += 1
            $0.processed += 1
            $0.processingSeconds += seconds
        }
    }

    /// Processing of an epoch could not finish (it was held).
    public func processingFailed() {
        counters.withLock { $0.processingFailures += 1 }
    }

    /// The metrics in Prometheus' text format, with the store's gauges.
    func text(epochs: [String: Int], blobs: MetadataStore.BlobTotals, quotas: [QuotaAccount] = []) -> String {
        let c = counters.withLock { $0 }
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            lines.append("# HELP epochfs_\(name) \(help)")
            lines.append("# TYPE epochfs_\(name) \(type)")
            for (labels, value) in samples { lines.append("epochfs_\(name)\(labels) \(value)") }
        }
        metric("uploads_total", "counter", "Files published after a clean close (a file published again counts again).", [("", "\(c.uploads)")])
        metric("uploaded_bytes_total", "counter", "Bytes of the files whose upload completed.", [("", "\(c.uploadedBytes)")])
        metric("epochs", "gauge", "Epochs by state.",
               EpochState.allCases.map { ("{state=\"\($0.rawValue)\"}", "\(epochs[$0.rawValue] ?? 0)") })
        metric("epochs_published_total", "counter", "Epochs published, by outcome.",
               ["succeeded", "failed", "superseded"].map { ("{outcome=\"\($0)\"}", "\(c.published[$0] ?? 0)") })
        metric("processing_seconds_sum", "counter", "Time spent processing epochs.", [("", String(format: "%.3f", c.processingSeconds))])
        metric("processing_seconds_count", "counter", "Epochs processed.", [("", "\(c.processed)")])
        metric("processing_failures_total", "counter", "Epochs whose processing could not finish (held).", [("", "\(c.processingFailures)")])
        metric("sealing_delay_seconds_sum", "counter", "Time from an epoch's last change to its seal.",
               [("", String(format: "%.3f", c.sealingDelaySeconds))])
        metric("sealing_delay_seconds_count", "counter", "Epochs sealed.", [("", "\(c.sealed)")])
        metric("request_errors_total", "counter", "Requests answered with an error, by errno (ENOENT of lookups included).",
               c.errors.sorted { $0.key < $1.key }.map { ("{errno=\"\(Self.errnoName($0.key))\"}", "\($0.value)") })
        metric("read_bytes_total", "counter", "Bytes of file content the daemon read for the kernel (reads through a passthrough backing file are not counted).",
               [("", "\(readBytes.load(ordering: .relaxed))")])
        metric("copy_on_write_bytes_total", "counter", "Bytes copied from published files before their first change (an append to or a rewrite of a published file).",
               [("", "\(copiedBytes.load(ordering: .relaxed))")])
        metric("passthrough_backing_files", "gauge", "Backing files the kernel reads open files through (FUSE passthrough).",
               [("", "\(backingFiles.load(ordering: .relaxed))")])
        metric("passthrough_refusals_total", "counter", "Opens whose backing file the kernel refused (they read through the daemon).",
               [("", "\(backingRefusals.load(ordering: .relaxed))")])
        metric("store_blobs", "gauge", "Blobs in the store (each once).", [("", "\(blobs.count)")])
        metric("store_bytes", "gauge", "Bytes of the blobs in the store (each once).", [("", "\(blobs.bytes)")])
        // Per district only where a quota is set: thousands of districts without one would
        // make the file large for nothing.
        let limited = quotas.map { (label: "{district=\"\($0.district)\"}", usage: $0.usage, limits: $0.limits) }
        metric("district_upload_bytes", "gauge", "Bytes a district with a quota holds in upload/ (logical sizes).",
               limited.map { ($0.label, "\($0.usage.bytes)") })
        metric("district_upload_files", "gauge", "Files and directories a district with a quota holds in upload/.",
               limited.map { ($0.label, "\($0.usage.entries)") })
        metric("district_quota_bytes", "gauge", "A district's byte quota.",
               limited.compactMap { q in q.limits.bytes.map { (q.label, "\($0)") } })
        metric("district_quota_files", "gauge", "A district's file quota.",
               limited.compactMap { q in q.limits.files.map { (q.label, "\($0)") } })
        return lines.joined(separator: "\n") + "\n"
    }

    private static func errnoName(_ value: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", EBADF: "EBADF", EACCES: "EACCES", EEXIST: "EEXIST",
            EXDEV: "EXDEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
            ENAMETOOLONG: "ENAMETOOLONG", ENOTEMPTY: "ENOTEMPTY", ENODATA: "ENODATA", EOPNOTSUPP: "EOPNOTSUPP",
            ERANGE: "ERANGE", EDQUOT: "EDQUOT", ENOSYS: "ENOSYS",
        ]
        return names[value] ?? String(value)
    }
}
