#if canImport(Glibc)
import Glibc
#endif

/// Hands free heap pages back to the system (glibc's `malloc_trim`). A server whose connections come in bursts
/// otherwise keeps its resident size at the burst's peak: glibc holds freed buffers in its arenas.
///
/// `malloc.h` is not part of Swift's Glibc module, so the function is looked up once at run time; where it
/// does not exist (another libc) this does nothing.
public enum MemoryRelease {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    /// Returns free memory at the top of the heap and free whole pages inside it. Takes a lock per arena:
    /// call it off the event loops, at most every second or so.
    public static func trimFreeMemory() {
        _ = trim?(0)
    }
}
