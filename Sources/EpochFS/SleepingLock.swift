#if canImport(Glibc)
import Glibc
#endif

/// A lock whose waiters sleep at once: glibc's default mutex, which never spins.
///
/// The standard library's `Mutex` spins before it sleeps. Held across a write's copy and
/// hash (tens of microseconds, while the next write of the same file is already waiting) or
/// a metadata commit, that spinning took the CPU from the very processes the daemon serves:
/// on two cores, `perf` of the daemon during a `dd bs=32K` into the mount counted 13 % of
/// its time in `Mutex._lockSlow`.
final class SleepingLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private nonisolated(unsafe) var value: Value

    init(_ value: Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        #if DEBUG
        // Debug builds check: taking the lock twice on one thread is an error, not a hang.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        #else
        pthread_mutex_init(mutex, nil)
        #endif
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock (the same shape as `Mutex.withLock`).
    func withLock<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        let locked = pthread_mutex_lock(mutex)
        precondition(locked == 0, "SleepingLock taken twice by one thread (errno \(locked))")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
