#if canImport(Glibc)
import Glibc
#endif

// Shutdown signals are taken by `sigwait` in the mount command's main thread. They must be
// blocked before any thread exists, so that every thread inherits the mask.
blockShutdownSignals()
// Whatever epochfs creates in the store is root's alone unless it says otherwise.
umask(0o077)
EpochFSCommand.main()
