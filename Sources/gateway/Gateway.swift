import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Assembles the gateway from a configuration: the CA, the capture sender, the proxy listener.
enum Gateway {
    static func run(configuration: Configuration, logger: Logger) async throws {
        let state = StateDirectory(root: configuration.home)
        try state.prepareCommon()
        let authority = try CertificateAuthority.loadOrCreate(in: state)
        let redactionKey = try CredentialRedactor.loadOrCreateKey(at: state.redactionKey)
        let threads = configuration.gateway.threads > 0 ? configuration.gateway.threads : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let captureLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let gatewayID = "\(ProcessInfo.processInfo.hostName)/\(UUID().uuidString.lowercased())"
        let sender = CaptureSender(socketPath: state.ingestSocket, gatewayID: gatewayID,
                                   memoryLimit: configuration.capture.memoryBufferBytes,
                                   eventLoop: captureLoop.next(), logger: logger)
        let services = try GatewayServices(configuration: configuration, logger: logger, authority: authority,
                                           redactionKey: redactionKey, sink: sender, gatewayID: gatewayID, group: group)
        let proxy = ProxyServer(services: services, group: group)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: CaptureSenderService(sender: sender)),
                .init(service: proxy),
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
