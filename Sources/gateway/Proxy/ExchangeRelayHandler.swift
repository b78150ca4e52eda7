import Logging
import NIOCore
import NIOHTTP1
import Shared
import Synchronization

/// Relays the HTTP/1.1 exchanges of one client connection to their upstream, part by part, and feeds
/// each part to the exchange's ``ExchangeRecorder`` as it passes.
///
/// Nothing is buffered beyond what one read produced: when either side cannot take more, reads on the
/// other side stop (the handler intercepts `read`) until it can. Both channels share one event loop.
final class ExchangeRelayHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One request/response in flight on this connection.
    /// (Internal, not private: the WebSocket switch in ExchangeRelayHandler+WebSocket.swift uses it.)
    final class Exchange {
        var recorder: ExchangeRecorder?
        let target: UpstreamTarget
        let upstreamHead: HTTPRequestHead
        let clientKeepAlive: Bool
        var queued: [HTTPServerRequestPart] = []
        var upstream: UpstreamConnection?
        var requestComplete = false
        var responseHeadSent = false
        var responseComplete = false
        var upstreamReusable = true
        /// The upstream answered 101; the switch to raw relaying happens at that answer's `.end`.
        var upgradeHead: HTTPResponseHead?

        init(recorder: ExchangeRecorder?, target: UpstreamTarget, upstreamHead: HTTPRequestHead, clientKeepAlive: Bool) {
            self.recorder = recorder
            self.target = target
            self.upstreamHead = upstreamHead
            self.clientKeepAlive = clientKeepAlive
        }
    }

    let services: GatewayServices
    private let pool: UpstreamConnectionPool
    private let classifier: RequestClassifier
    private let connection: ConnectionInfo
    var logger: Logger
    private var context: ChannelHandlerContext?
    var exchange: Exchange?
    /// After the gateway answered a request itself, the rest of that request's body is read and dropped.
    private var discardingRequest = false
    private var closeWhenDiscarded = false
    private var readsPaused = false
    private var readPending = false
    var headTimeout: Scheduled<Void>?

    /// Client connections being relayed, alive in this process (the status file's `active_tunnels`).
    static let live = Atomic<Int>(0)

    deinit {
        Self.live.subtract(1, ordering: .relaxed)
    }

    init(services: GatewayServices, pool: UpstreamConnectionPool, classifier: RequestClassifier, connection: ConnectionInfo) {
        Self.live.add(1, ordering: .relaxed)
        self.services = services
        self.pool = pool
        self.classifier = classifier
        self.connection = connection
        self.logger = services.logger
        self.logger[metadataKey: "connection_id"] = "\(connection.id)"
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armHeadTimeout()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        headTimeout?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        headTimeout?.cancel()
        if let exchange, !exchange.responseComplete {
            exchange.recorder?.end(.clientAbort, error: "the client closed the connection")
            exchange.upstream?.close()
            exchange.upstream = nil
        }
        exchange = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parse = error as? HTTPParserError {
            logger.debug("malformed request", metadata: ["error": "\(parse)"])
            if exchange?.responseHeadSent != true {
                let status: HTTPResponseStatus = parse == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
                if let exchange {
                    exchange.recorder?.end(.rejected, error: "malformed request: \(parse)")
                    exchange.upstream?.close()
                    self.exchange = nil
                }
                GatewayAnswer.write(status, reason: "malformed request (\(parse))", close: true, context: context,
                                    wrap: wrapOutboundOut)
                return
            }
        } else {
            logger.debug("client connection error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    // MARK: client → upstream

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if discardingRequest {
            if case .end = part {
                discardingRequest = false
                if closeWhenDiscarded { context.close(promise: nil) } else { armHeadTimeout() }
            }
            return
        }
        switch part {
        case .head(let head):
            headTimeout?.cancel()
            startExchange(head, context: context)
        case .body(let body):
            guard let exchange else { return }
            exchange.recorder?.requestBody(body)
            if let upstream = exchange.upstream {
                upstream.write(.body(.byteBuffer(body)))
                if !upstream.isWritable { pauseClientReads() }
            } else {
                exchange.queued.append(part)
            }
        case .end(let trailers):
            guard let exchange else { return }
            exchange.requestComplete = true
            if let upstream = exchange.upstream {
                upstream.write(.end(trailers), flush: true)
            } else {
                exchange.queued.append(part)
            }
            if exchange.responseComplete { finish(exchange) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstream?.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            exchange?.upstream?.resumeReads()
        } else {
            exchange?.upstream?.pauseReads()
        }
        context.fireChannelWritabilityChanged()
    }

    private func startExchange(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (target, path): (UpstreamTarget, String)
        switch classifier.classify(head) {
        case .relay(let t, let p):
            (target, path) = (t, p)
        case .reject(let status, let reason):
            answerWithoutExchange(status, reason: reason, context: context)
            return
        case .openTunnel:
            answerWithoutExchange(.badRequest, reason: "CONNECT is only accepted on the proxy listener", context: context)
            return
        }

        var recorder: ExchangeRecorder?
        services.counters.add("exchanges_total")
        if services.sink.admitsNewExchanges {
            let begin = ExchangeRecorder.begin(head: head, target: target, path: path, connection: connection,
                                               redactor: services.credentials)
            recorder = ExchangeRecorder(sink: services.sink, redactor: services.credentials,
                                        redactBodies: services.configuration.capture.redactBodies, begin: begin)
        } else if services.onFailure == .block {
            services.counters.add("exchanges_refused")
            services.logger.warning("capture is not durable; refusing the request (capture.on_failure=block)")
            answerWithoutExchange(.serviceUnavailable,
                                  reason: "capture is unavailable (ingestd unreachable and buffers full); nothing passes unrecorded",
                                  context: context)
            return
        } else {
            services.sink.recordLoss()
        }

        var upstreamHead = head
        upstreamHead.uri = path
        // Proxy-only headers end here (RFC 9110 §7.6.1 for Proxy-Connection's intent; Proxy-Authorization is ours).
        upstreamHead.headers.remove(name: "proxy-connection")
        upstreamHead.headers.remove(name: "proxy-authorization")
        if !upstreamHead.headers.contains(name: "host") {
            upstreamHead.headers.add(name: "host", value: target.port == (target.tls ? 443 : 80) ? target.host : target.authority)
        }
        let exchange = Exchange(recorder: recorder, target: target, upstreamHead: upstreamHead,
                                clientKeepAlive: head.isKeepAlive)
        self.exchange = exchange
        pauseClientReads()
        // The pool's future completes on this loop: its callback may touch the handler's state directly.
        pool.acquire(target).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange else {
                if case .success(let upstream) = result { self.pool.release(upstream) }
                return
            }
            switch result {
            case .success(let upstream):
                exchange.upstream = upstream
                upstream.delegate = self
                upstream.write(.head(exchange.upstreamHead))
                for part in exchange.queued {
                    switch part {
                    case .head: break
                    case .body(let body): upstream.write(.body(.byteBuffer(body)))
                    case .end(let trailers): upstream.write(.end(trailers))
                    }
                }
                exchange.queued.removeAll()
                upstream.flush()
                self.resumeClientReads()
            case .failure(let error):
                self.failBeforeResponse(exchange, cause: UpstreamFailure.describe(error, target: target))
            }
        }
    }

    // MARK: upstream → client

    func upstreamResponsePart(_ part: HTTPClientResponsePart) {
        guard let context, let exchange else { return }
        switch part {
        case .head(let head):
            if (100..<200).contains(head.status.code) && head.status != .switchingProtocols {
                // Interim answers (100 Continue, 103 Early Hints) go to the agent as they are.
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                return
            }
            exchange.recorder?.responseHead(head)
            exchange.responseHeadSent = true
            if !head.isKeepAlive { exchange.upstreamReusable = false }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if head.status == .switchingProtocols {
                // The decoder still delivers this answer's `.end`; the pipeline changes then, so nothing
                // HTTP-shaped reaches the raw relay.
                exchange.upgradeHead = head
            }
        case .body(let body):
            // The agent's bytes go first; the capture copy (hashing, redaction, framing) follows. An event
            // stream is flushed at once, so no event waits for the recorder or for the end of the read.
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            if exchange.recorder?.streamed == true { context.flush() }
            exchange.recorder?.responseBody(body)
            if !context.channel.isWritable { exchange.upstream?.pauseReads() }
        case .end(let trailers):
            if let upgrade = exchange.upgradeHead {
                upgradeToWebSocket(exchange, head: upgrade, context: context)
                return
            }
            exchange.responseComplete = true
            exchange.recorder?.end(.complete)
            // Bookkeeping first: writing the end lets the pipelining handler deliver the next request at
            // once (re-entrantly), and that request must find this exchange already finished.
            finish(exchange, lastPart: .end(trailers))
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritabilityChanged(writable: Bool) {
        if writable { resumeClientReads() } else { pauseClientReads() }
    }

    func upstreamClosed(error: (any Error)?) {
        guard let context, let exchange, !exchange.responseComplete else { return }
        exchange.upstream = nil
        if !exchange.responseHeadSent {
            let cause = error.map { UpstreamFailure.describe($0, target: exchange.target) }
                ?? "upstream \(exchange.target.authority) closed the connection before answering"
            failBeforeResponse(exchange, cause: cause)
        } else {
            // The agent already has part of the response; the only honest signal left is to close.
            exchange.recorder?.end(.upstreamError, error: "upstream closed mid-response"
                                   + (error.map { ": \($0)" } ?? ""))
            self.exchange = nil
            context.close(promise: nil)
        }
    }

    // MARK: endings

    /// Both directions are done: return the upstream to the pool (or close it), write `lastPart` (the
    /// response's end) and wait for the next request.
    private func finish(_ exchange: Exchange, lastPart: HTTPServerResponsePart? = nil) {
        guard exchange.responseComplete, let context else { return }
        if self.exchange === exchange { self.exchange = nil }
        let closeAfter: Bool
        if !exchange.requestComplete {
            // The upstream answered before the request body ended: drop the rest, and the upstream with it.
            exchange.upstream?.close()
            discardingRequest = true
            closeWhenDiscarded = !exchange.clientKeepAlive
            closeAfter = false
        } else {
            if let upstream = exchange.upstream {
                if exchange.upstreamReusable { pool.release(upstream) } else { upstream.close() }
            }
            closeAfter = !exchange.clientKeepAlive
        }
        resumeClientReads()
        if let lastPart {
            let written = context.writeAndFlush(wrapOutboundOut(lastPart))
            if closeAfter {
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            }
        } else if closeAfter {
            context.close(promise: nil)
        }
        if !closeAfter && !discardingRequest && self.exchange == nil { armHeadTimeout() }
    }

    private func failBeforeResponse(_ exchange: Exchange, cause: String) {
        guard let context else { return }
        logger.notice("upstream failed", metadata: ["host": "\(exchange.target.host)", "error": "\(cause)"])
        let body = GatewayAnswer.body(cause)
        let head = GatewayAnswer.head(.badGateway, bodyLength: body.readableBytes, close: !exchange.requestComplete)
        exchange.recorder?.responseHead(head, synthetic: true)
        exchange.recorder?.responseBody(body)
        exchange.recorder?.end(.upstreamError, error: cause)
        exchange.upstream?.close()
        exchange.responseHeadSent = true
        exchange.responseComplete = true
        exchange.upstreamReusable = false
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        finish(exchange, lastPart: .end(nil))
    }

    private func answerWithoutExchange(_ status: HTTPResponseStatus, reason: String, context: ChannelHandlerContext) {
        discardingRequest = true
        closeWhenDiscarded = true
        GatewayAnswer.write(status, reason: reason, close: false, context: context, wrap: wrapOutboundOut)
    }

    // MARK: flow control

    private func pauseClientReads() {
        readsPaused = true
    }

    private func resumeClientReads() {
        guard readsPaused else { return }
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// A connection waiting for a request head (idle, or a client trickling its head) is closed after
    /// `gateway.idle_timeout`.
    private func armHeadTimeout() {
        headTimeout?.cancel()
        guard let context else { return }
        let channel = context.channel
        let timeout = services.idleTimeout
        headTimeout = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }
}
