import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Assembles the gateway from a configuration: the CA, the capture sender, the proxy listener.
enum Gateway {
    static func run(configuration: Configuration, options: DaemonOptions, logger: Logger) async throws {
        let state = StateDirectory(root: configuration.home)
        try state.prepareCommon()
        let authority = try CertificateAuthority.loadOrCreate(in: state)
        let redactionKey = try CredentialRedactor.loadOrCreateKey(at: state.redactionKey)
        let threads = configuration.gateway.threads > 0 ? configuration.gateway.threads : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let captureLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let gatewayID = "\(ProcessInfo.processInfo.hostName)/\(UUID().uuidString.lowercased())"
        try StateDirectory.ensureDirectory(state.spoolDirectory, mode: 0o700)
        let spool = CaptureSpool(directory: state.spoolDirectory, gatewayID: gatewayID,
                                 limit: configuration.capture.spoolMaxBytes)
        let sender = CaptureSender(socketPath: state.ingestSocket, gatewayID: gatewayID,
                                   memoryLimit: configuration.capture.memoryBufferBytes, spool: spool,
                                   eventLoop: captureLoop.next(), logger: logger)
        let services = try GatewayServices(configuration: configuration, logger: logger, authority: authority,
                                           redactionKey: redactionKey, sink: sender, gatewayID: gatewayID, group: group)
        let reloader = ConfigurationReloader(
            policy: .gateway, running: configuration, reportPath: state.reloadFile(for: "gateway"), logger: logger,
            load: { try await options.reloadConfiguration() }, apply: { services.applyLive($0, $1) })
        let reload = await ConfigurationReloadService.make(reloader: reloader)
        let box = ProxyBox()
        let trimmer = BurstTrimmer()
        let reporter = StatusReporter(component: "gateway", state: state, logger: logger) {
            let stats = sender.statistics
            var counters = services.counters.snapshot
            counters["open_connections"] = Double(box.proxy?.openConnectionCount ?? 0)
            let tunnels = ExchangeRelayHandler.live.load(ordering: .relaxed)
            counters["active_tunnels"] = Double(tunnels)
            // glibc keeps freed TLS and HTTP buffers in its arenas: after a burst of streams the RSS would stay
            // at the burst's peak for good. When a burst has ended, hand the free pages back (off the event
            // loops; not every second, as trimming takes the arenas' locks).
            if trimmer.burstEnded(tunnels: tunnels) { MemoryRelease.trimFreeMemory() }
            counters["upstream_connections"] = Double(UpstreamConnection.live.load(ordering: .relaxed))
            counters["frames_emitted"] = Double(stats.framesEmitted)
            counters["frames_acknowledged"] = Double(stats.framesAcknowledged)
            counters["buffered_bytes"] = Double(stats.bufferedBytes)
            counters["frames_dropped"] = Double(stats.framesDropped)
            counters["spool_bytes"] = Double(stats.spooledBytes)
            counters["spool_failures"] = Double(stats.spoolFailures)
            counters["unreadable_acks"] = Double(stats.unreadableAcks)
            counters["exchanges_lost"] = Double(stats.exchangesLost)
            counters["ingest_connected"] = stats.connected ? 1 : 0
            counters["leaves_minted"] = Double(services.leaves.count)
            let durable = sender.admitsNewExchanges
            return (durable ? (stats.connected ? "ok" : "degraded") : "failing",
                    durable ? (stats.connected ? nil : "ingestd not connected; frames buffered in memory")
                            : "capture not durable: ingestd unreachable and buffers full",
                    counters)
        }
        let proxy = ProxyServer(services: services, group: group) { reporter.ready() }
        box.proxy = proxy
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: CaptureSenderService(sender: sender)),
                .init(service: proxy),
                .init(service: reporter),
                .init(service: reload),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            try? await captureLoop.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        try? await captureLoop.shutdownGracefully()
    }
}

/// Lets the status snapshot see the proxy that is created after it.
private final class ProxyBox: @unchecked Sendable {
    var proxy: ProxyServer?
}

/// Decides when a burst of connections has ended: the number alive fell to half its peak since the last trim,
/// by at least `minimumDrop` (a few connections coming and going are not a burst).
final class BurstTrimmer: @unchecked Sendable {
    private var peak = 0
    private let minimumDrop: Int
    private let lock = NSLock()

    init(minimumDrop: Int = 64) {
        self.minimumDrop = minimumDrop
    }

    func burstEnded(tunnels: Int) -> Bool {
        lock.withLock {
            peak = max(peak, tunnels)
            guard peak - tunnels >= minimumDrop, tunnels <= peak / 2 else { return false }
            peak = tunnels
            return true
        }
    }
}
