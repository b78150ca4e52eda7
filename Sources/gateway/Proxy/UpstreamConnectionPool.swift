import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Shared

/// Keep-alive upstream connections for one event loop, per target host.
///
/// One pool per loop means an exchange and its upstream connection always share a loop: bytes never
/// hop threads between the two sides of the relay.
final class UpstreamConnectionPool {
    private let eventLoop: any EventLoop
    private let tlsContext: NIOSSLContext
    private let overrides: [String: SocketAddressSpec]
    private let connectTimeout: TimeAmount
    private let maxIdlePerTarget: Int
    private var idle: [UpstreamTarget: [UpstreamConnection]] = [:]

    init(eventLoop: any EventLoop, tlsContext: NIOSSLContext, configuration: Configuration.Gateway) {
        self.eventLoop = eventLoop
        self.tlsContext = tlsContext
        self.overrides = configuration.upstreamOverride
        self.connectTimeout = .nanoseconds(Int64(configuration.upstreamConnectTimeout.components.seconds) * 1_000_000_000
                                           + configuration.upstreamConnectTimeout.components.attoseconds / 1_000_000_000)
        self.maxIdlePerTarget = configuration.maxIdleUpstreamPerHost
    }

    /// An idle live connection to `target`, or a new one once connected (and TLS-handshaken).
    func acquire(_ target: UpstreamTarget) -> EventLoopFuture<UpstreamConnection> {
        eventLoop.preconditionInEventLoop()
        while var list = idle[target], let connection = list.popLast() {
            idle[target] = list
            if !connection.isClosed { return eventLoop.assumeIsolated().makeSucceededFuture(connection) }
        }
        return connect(target)
    }

    /// Returns a connection whose exchange finished cleanly.
    func release(_ connection: UpstreamConnection) {
        eventLoop.preconditionInEventLoop()
        connection.delegate = nil
        guard !connection.isClosed else { return }
        var list = idle[connection.target, default: []]
        list.removeAll { $0.isClosed }
        guard list.count < maxIdlePerTarget else {
            connection.close()
            return
        }
        list.append(connection)
        idle[connection.target] = list
    }

    private func connect(_ target: UpstreamTarget) -> EventLoopFuture<UpstreamConnection> {
        let address = overrides[target.host] ?? SocketAddressSpec(host: target.host, port: target.port)
        let ready = eventLoop.makePromise(of: UpstreamConnection.self)
        let tlsContext = self.tlsContext
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if target.tls {
                        // SNI carries the name the agent asked for, even when the address is overridden.
                        let sni = IPAddressLiteral.isLiteral(target.host) ? nil : target.host
                        try sync.addHandler(try NIOSSLClientHandler(context: tlsContext, serverHostname: sni))
                    }
                    // The decoder observes outbound request heads (HEAD answers carry no body), so it goes after
                    // the encoder; 1xx answers are forwarded so `Expect: 100-continue` reaches the agent.
                    try sync.addHandler(HTTPRequestEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPResponseDecoder(
                        leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .forward
                    )))
                    try sync.addHandler(UpstreamConnection(target: target, ready: ready))
                }
            }
        bootstrap.connect(host: address.host, port: address.port).whenFailure { error in
            ready.fail(error)
        }
        return ready.futureResult
    }
}

/// Recognises IP literals, which must not be sent as SNI.
enum IPAddressLiteral {
    static func isLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
