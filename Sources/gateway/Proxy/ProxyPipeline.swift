import NIOCore
import NIOHTTP1
import NIOSSL
import Shared

/// Builds the client-side pipelines, naming the HTTP handlers so a CONNECT or a WebSocket upgrade can
/// take them out again:
///
/// - plain listener connection: HTTP codec → pipelining → ``ConnectHandler`` → ``ExchangeRelayHandler``
/// - inside a tunnel: TLS → HTTP codec → pipelining → ``ExchangeRelayHandler`` (fixed target)
struct ProxyPipeline {
    static let encoderName = "http-encoder"
    static let decoderName = "http-decoder"
    static let pipeliningName = "http-pipelining"
    static let relayName = "relay"
    static let connectName = "connect"

    let services: GatewayServices

    /// The listener side, where CONNECT and absolute-form requests arrive.
    func configurePlain(_ channel: any Channel, connection: ConnectionInfo) throws {
        let sync = channel.pipeline.syncOperations
        try addHTTPServerHandlers(sync, leftOverBytes: .dropBytes)
        try sync.addHandler(ConnectHandler(pipeline: self, connection: connection), name: Self.connectName)
        try sync.addHandler(makeRelay(tunnel: nil, channel: channel, connection: connection), name: Self.relayName)
    }

    /// Switches a connection that just got its `200 Connection Established` to TLS for `target`.
    ///
    /// Called from inside the HTTP decoder's read (it delivered the CONNECT), so the decoder's removal
    /// completes only after that read returns: reads stop here, the plain HTTP handlers go, and the TLS
    /// pipeline is built on the next loop tick, before any further byte is read.
    func switchToTunnel(_ channel: any Channel, target: UpstreamTarget, connection: ConnectionInfo) throws {
        let tlsContext = try services.leaves.serverContext(for: target.host)
        let sync = channel.pipeline.syncOperations
        try channel.syncOptions?.setOption(.autoRead, value: false)
        let logger = services.logger
        for name in [Self.relayName, Self.pipeliningName, Self.encoderName, Self.decoderName, Self.connectName] {
            sync.removeHandler(name: name).whenFailure { error in
                logger.error("cannot remove a plain HTTP handler for the tunnel", metadata: ["handler": "\(name)", "error": "\(error)"])
                channel.close(promise: nil)
            }
        }
        let loop = channel.eventLoop.assumeIsolated()
        loop.execute {
            do {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(NIOSSLServerHandler(context: tlsContext), position: .first)
                try addHTTPServerHandlers(sync)
                try sync.addHandler(makeRelay(tunnel: target, channel: channel, connection: connection), name: Self.relayName)
                try channel.syncOptions?.setOption(.autoRead, value: true)
                channel.read()
            } catch {
                services.logger.notice("cannot open tunnel", metadata: ["host": "\(target.host)", "error": "\(error)"])
                channel.close(promise: nil)
            }
        }
    }

    private func addHTTPServerHandlers(
        _ sync: ChannelPipeline.SynchronousOperations, leftOverBytes: RemoveAfterUpgradeStrategy = .forwardBytes
    ) throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = services.configuration.gateway.maxHeaderBytes
        limits.maxHeaderFieldSize = services.configuration.gateway.maxHeaderBytes
        // The relay forwards the upstream's own framing headers (Content-Length or chunked) and the CONNECT
        // 200 must carry none, so the encoder frames exactly what the head says instead of choosing itself.
        var encoder = HTTPResponseEncoder.Configuration()
        encoder.automaticallySetFramingHeaders = false
        try sync.addHandler(HTTPResponseEncoder(configuration: encoder), name: Self.encoderName)
        try sync.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: leftOverBytes,
                                                    informationalResponseStrategy: .drop, limitConfiguration: limits)),
            name: Self.decoderName
        )
        try sync.addHandler(HTTPServerPipelineHandler(), name: Self.pipeliningName)
    }

    private func makeRelay(tunnel: UpstreamTarget?, channel: any Channel, connection: ConnectionInfo) -> ExchangeRelayHandler {
        ExchangeRelayHandler(
            services: services,
            pool: services.pool(for: channel.eventLoop),
            classifier: RequestClassifier(tunnel: tunnel, maxHeaderBytes: services.configuration.gateway.maxHeaderBytes),
            connection: connection
        )
    }
}
