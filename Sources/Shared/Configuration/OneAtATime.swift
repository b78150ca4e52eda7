/// Runs requests one after another, each after the one before it finished, inside an actor (whose methods
/// interleave at every `await`): a reload requested while one runs waits its turn, then runs its own.
public struct OneAtATime<Value: Sendable>: Sendable {
    private var last: Task<Value, Never>?

    public init() {}

    /// Queues `work` behind everything queued before and returns its task.
    public mutating func enqueue(_ work: @escaping @Sendable () async -> Value) -> Task<Value, Never> {
        let previous = last
        let next = Task {
            _ = await previous?.value
            return await work()
        }
        last = next
        return next
    }
}
