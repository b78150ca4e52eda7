import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

@testable import ingestd

/// ingestd assembled as `Ingestd.run` assembles it, on a test's own state directory, without signals:
/// recovery, the coordinator, delivery to sessiond, the listener. ``stop()`` is the SIGTERM path.
final class IngestdUnderTest: @unchecked Sendable {
    let state: StateDirectory
    let coordinator: IngestCoordinator
    let wal: WriteAheadLog
    private let delivery: DeliverySender
    private let group: MultiThreadedEventLoopGroup
    private let deliveryLoop: MultiThreadedEventLoopGroup
    private let serviceGroup: ServiceGroup
    private let running: Task<Void, any Error>

    static func start(
        state: StateDirectory, compression: CompressionFormat = .zstd, maxBodyBytes: Int = 64 << 20,
        walLimit: Int = 1 << 30, segmentBytes: Int = 64 << 20
    ) async throws -> IngestdUnderTest {
        try await IngestdUnderTest(
            state: state, compression: compression, maxBodyBytes: maxBodyBytes, walLimit: walLimit,
            segmentBytes: segmentBytes)
    }

    private init(
        state: StateDirectory, compression: CompressionFormat, maxBodyBytes: Int, walLimit: Int,
        segmentBytes: Int
    ) async throws {
        self.state = state
        var logger = Logger(label: "ingestd-test")
        logger.logLevel = .warning
        try StateDirectory.ensureDirectory(state.walDirectory, mode: 0o700)
        try StateDirectory.ensureDirectory(state.objectsDirectory, mode: 0o750)
        try StateDirectory.ensureDirectory(state.capturesDirectory, mode: 0o750)
        wal = WriteAheadLog(directory: state.walDirectory, segmentLimit: segmentBytes, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        deliveryLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        delivery = DeliverySender(state: state, eventLoop: deliveryLoop.next(), logger: logger)
        let coordinator = IngestCoordinator(
            wal: wal,
            assembler: ExchangeAssembler(state: state, format: compression, maxBodyBytes: maxBodyBytes, logger: logger),
            deliveryLog: try DeliveryLog(state: state), delivery: delivery, walLimit: walLimit, logger: logger)
        self.coordinator = coordinator
        delivery.onAcknowledged = { seq in coordinator.deliveryAcknowledged(seq) }
        try coordinator.recover()
        delivery.start()
        let (listening, ready) = AsyncStream<Void>.makeStream()
        let server = IngestServer(path: state.ingestSocket, coordinator: coordinator, group: group, logger: logger) {
            ready.yield()
            ready.finish()
        }
        serviceGroup = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: logger))
        let serviceGroup = self.serviceGroup
        running = Task { try await serviceGroup.run() }
        for await _ in listening { break }
    }

    /// Waits until the delivery log has recorded sessiond's acknowledgement of `sequence` (or gives up after
    /// `limit`, so a broken build fails instead of hanging).
    func waitForDeliveryCursor(atLeast sequence: UInt64, limit: Duration = .seconds(60)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if coordinator.deliveryCursor >= sequence { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return coordinator.deliveryCursor >= sequence
    }

    /// The SIGTERM path: stop accepting, make what was received durable, stop delivery.
    func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        _ = try? await running.value
        delivery.stop()
        wal.close()
        try? await group.shutdownGracefully()
        try? await deliveryLoop.shutdownGracefully()
    }
}
