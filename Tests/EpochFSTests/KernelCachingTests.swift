@testable import EpochFS
import EpochStore
import Testing

/// How the kernel may cache each handle, decided in one place.
@Suite struct KernelCachingTests {
    @Test func withTheWritebackCacheOnlyWritersUnderAByteLimitBypassIt() throws {
        try withStore { store throws in
            var limited = store.alpha
            limited.quotaBytes = 1 << 20
            let quota = QuotaAccount(limited, usage: .zero)
            let fs = store.fs
            #expect(fs.caching(writable: true, quota: quota) == KernelCaching(directIO: true, keepCache: true, cacheDirectory: false))
            #expect(!fs.caching(writable: false, quota: quota).directIO)
            #expect(!fs.caching(writable: true, quota: QuotaAccount(store.alpha, usage: .zero)).directIO)
            #expect(!fs.caching(writable: true, quota: nil).directIO)
        }
    }

    @Test func withPassthroughEveryHandleButABackedReaderBypassesIt() throws {
        try withStore { store throws in
            let fs = store.fs
            fs.enablePassthrough()
            #expect(fs.caching(writable: true, quota: nil) == KernelCaching(directIO: true, keepCache: true, cacheDirectory: false))
            #expect(fs.caching(writable: false, quota: nil).directIO)
            // A reader through a backing file: the page cache is the backing file's, and the
            // pages cached before it must not be kept.
            #expect(fs.caching(writable: false, quota: nil, backingID: 3) == KernelCaching(directIO: false, keepCache: false, cacheDirectory: false))
        }
    }

    @Test func aDirectoryHandleCachesItsListing() throws {
        try withStore { store throws in
            let handle = try store.fs.opendir(store.upload)
            #expect(handle.caching == .directory)
            #expect(handle.caching.cacheDirectory && handle.caching.keepCache && !handle.caching.directIO)
        }
    }
}
