import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Shared

@testable import sessiond

/// sessiond's record socket as the daemon runs it (processor, server, a service group), over a store the
/// test chooses, in a state directory of the test's own.
final class DeliveryHarness: @unchecked Sendable {
    let home: TestHome
    let store: any TurnStore
    let processor: RecordProcessor
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    private init(home: TestHome, store: any TurnStore, processor: RecordProcessor, group: ServiceGroup,
                 running: Task<Void, any Error>) {
        self.home = home
        self.store = store
        self.processor = processor
        self.group = group
        self.running = running
    }

    /// Starts the server and returns once it listens.
    static func start(store: any TurnStore, home: TestHome) async throws -> DeliveryHarness {
        let logger = Logger(label: "test.sessiond")
        let processor = RecordProcessor(store: store, tracker: SessionTracker(idleTimeoutNanoseconds: 300_000_000_000),
                                        prices: try PriceTable.load(overrides: nil), state: home.state, logger: logger)
        let (listening, signal) = AsyncStream<Void>.makeStream()
        let server = RecordServer(path: home.state.sessionSocket, processor: processor,
                                  group: MultiThreadedEventLoopGroup.singleton, logger: logger) { signal.yield() }
        let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
        let running = Task { try await group.run() }
        for await _ in listening { break }
        return DeliveryHarness(home: home, store: store, processor: processor, group: group, running: running)
    }

    func connect() async throws -> RecordSocketClient {
        let client = try RecordSocketClient(path: home.state.sessionSocket)
        try await client.hello()
        return client
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        await processor.shutdown()
        try? await store.close()
        home.remove()
    }
}
