#if canImport(Glibc)
import Glibc
#endif

// Shutdown signals are taken by `sigwait` in the mount command's main thread. They must be
// blocked before any thread exists, so that every thread inherits the mask.
blockShutdownSignals()
EpochFSCommand.main()
