import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// The proxy listener as a service: binds `gateway.listen`, accepts agents, and on shutdown stops
/// accepting and gives open connections time to finish.
///
/// The accept path uses a classic `ServerBootstrap`: every accepted connection is pure `ChannelHandler`s
/// (the byte path stays on its event loop), so there is no per-connection task to structure.
final class ProxyServer: Service, @unchecked Sendable {
    private let services: GatewayServices
    private let group: any EventLoopGroup
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)
    private let openConnections = NIOLockedValueBox<Int>(0)
    private let bound: EventLoopPromise<SocketAddress>

    private let onListening: @Sendable () -> Void
    /// One thread for /proc lookups: they read many small files and must never run on an event loop.
    private let lookups = NIOThreadPool(numberOfThreads: 1)

    init(services: GatewayServices, group: any EventLoopGroup, onListening: @escaping @Sendable () -> Void = {}) {
        self.services = services
        self.group = group
        self.onListening = onListening
        self.bound = group.next().makePromise()
    }

    var openConnectionCount: Int { openConnections.withLockedValue { $0 } }

    /// The address actually bound (port 0 in tests resolves here).
    var boundAddress: EventLoopFuture<SocketAddress> { bound.futureResult }

    func run() async throws {
        lookups.start()
        let pipeline = ProxyPipeline(services: services)
        let listen = services.configuration.gateway.listen
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 256 * 1024))
            .childChannelInitializer { channel in
                let id = self.connectionIDs.withLockedValue { $0 += 1; return $0 }
                self.openConnections.withLockedValue { $0 += 1 }
                self.services.counters.add("connections_total")
                channel.closeFuture.whenComplete { _ in self.openConnections.withLockedValue { $0 -= 1 } }
                let info = ConnectionInfo(
                    id: id, gatewayID: self.services.gatewayID,
                    client: ClientAttribution(address: channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?")
                )
                if let remote = channel.remoteAddress, let local = channel.localAddress, Self.isLoopback(remote) {
                    // Who is this agent? Best effort, off the loop; exchanges pick it up when it is known.
                    self.lookups.submit { _ in
                        if let result = ClientProcessLookup.lookup(client: remote, server: local) {
                            info.attribution.fill(result)
                        }
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try pipeline.configurePlain(channel, connection: info)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: listen.host, port: listen.port).get()
        } catch {
            bound.fail(error)
            try? await lookups.shutdownGracefully()
            throw GatewayError(.bindFailed, "cannot listen on \(listen) (gateway.listen): \(error)")
        }
        if let address = channel.localAddress { bound.succeed(address) }
        onListening()
        services.logger.info("gateway listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])

        try? await gracefulShutdown()
        services.logger.info("gateway draining", metadata: ["open_connections": "\(openConnections.withLockedValue { $0 })"])
        try? await channel.close()
        // Give open exchanges a bounded time to finish; streams longer than that are cut (and recorded so).
        for _ in 0..<50 where openConnections.withLockedValue({ $0 }) > 0 {
            try? await Task.sleep(for: .milliseconds(100))
        }
        try? await lookups.shutdownGracefully()
    }
}

extension ProxyServer {
    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

/// A gateway failure an operator must act on.
struct GatewayError: Error, CustomStringConvertible {
    struct Code: Hashable, Sendable {
        let raw: String
        static let bindFailed = Code(raw: "bind failed")
        static let startup = Code(raw: "startup")
    }

    var code: Code
    var detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    var description: String { "gateway: \(detail)" }
}
