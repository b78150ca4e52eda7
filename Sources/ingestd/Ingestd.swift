import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Assembles ingestd: recovery first, then the listener, the delivery sender and the status reporter.
enum Ingestd {
    static func run(configuration: Configuration, options: DaemonOptions, logger: Logger) async throws {
        let state = StateDirectory(root: configuration.home)
        try state.prepareCommon()
        // Only `log.level` is live here (the reloader applies it); WAL, compression and limits need a restart.
        let reload = await ConfigurationReloadService.make(reloader: ConfigurationReloader(
            policy: .ingestd, running: configuration, reportPath: state.reloadFile(for: "ingestd"), logger: logger,
            load: { try await options.reloadConfiguration() }))
        try StateDirectory.ensureDirectory(state.walDirectory, mode: 0o700)
        try StateDirectory.ensureDirectory(state.objectsDirectory, mode: 0o750)
        try StateDirectory.ensureDirectory(state.capturesDirectory, mode: 0o750)
        let format = CompressionFormat(rawValue: configuration.ingest.compression.rawValue) ?? .zstd
        let wal = WriteAheadLog(directory: state.walDirectory, segmentLimit: configuration.ingest.segmentBytes, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let deliveryLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let delivery = DeliverySender(state: state, eventLoop: deliveryLoop.next(), logger: logger)
        let coordinator = IngestCoordinator(
            wal: wal,
            assembler: ExchangeAssembler(state: state, format: format, maxBodyBytes: configuration.capture.maxBodyBytes,
                                         logger: logger),
            deliveryLog: try DeliveryLog(state: state), delivery: delivery,
            walLimit: configuration.ingest.walMaxBytes, logger: logger)
        delivery.onAcknowledged = { seq in coordinator.deliveryAcknowledged(seq) }
        try coordinator.recover()
        delivery.start()
        let reporter = StatusReporter(component: "ingestd", state: state, logger: logger) {
            let (health, detail) = coordinator.health
            return (health, detail, coordinator.counters)
        }
        let server = IngestServer(path: state.ingestSocket, coordinator: coordinator, group: group, logger: logger) {
            reporter.ready()
        }
        let reaper = LostExchangeReaper(coordinator: coordinator)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: reaper), .init(service: server), .init(service: reporter), .init(service: reload),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await serviceGroup.run()
        delivery.stop()
        wal.close()
        try? await group.shutdownGracefully()
        try? await deliveryLoop.shutdownGracefully()
    }
}

/// Every few seconds, closes exchanges whose gateway disconnected and did not come back (`gateway_lost`).
struct LostExchangeReaper: Service {
    let coordinator: IngestCoordinator
    var grace: TimeInterval = 30

    func run() async throws {
        // The sleep ends with the shutdown: SIGTERM must not wait out the period (it took ~5 s to exit).
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                guard !Task.isCancelled else { return }
                coordinator.reapLostExchanges(grace: grace)
            }
        }
    }
}
