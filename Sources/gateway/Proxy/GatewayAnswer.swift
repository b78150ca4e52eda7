import NIOCore
import NIOHTTP1

/// The gateway's own short answers (400, 431, 502, 503): a plain-text body that names the cause.
enum GatewayAnswer {
    static func head(_ status: HTTPResponseStatus, bodyLength: Int, close: Bool) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(bodyLength))
        headers.add(name: "x-flightlog-gateway", value: "1")
        if close { headers.add(name: "connection", value: "close") }
        return HTTPResponseHead(version: .http1_1, status: status, headers: headers)
    }

    static func body(_ reason: String) -> ByteBuffer {
        ByteBuffer(string: "flightlog gateway: \(reason)\n")
    }

    static func write(
        _ status: HTTPResponseStatus, reason: String, close: Bool, context: ChannelHandlerContext,
        wrap: (HTTPServerResponsePart) -> NIOAny
    ) {
        let body = body(reason)
        context.write(wrap(.head(head(status, bodyLength: body.readableBytes, close: close))), promise: nil)
        context.write(wrap(.body(.byteBuffer(body))), promise: nil)
        let done = context.writeAndFlush(wrap(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
