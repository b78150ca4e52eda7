import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOSSL
import Testing

@testable import Shared
@testable import gateway

/// A sink that keeps every frame, for assertions.
final class RecordingSink: CaptureSink, @unchecked Sendable {
    private let frames = NIOLockedValueBox<[(CaptureFrame.Kind, UUID, ByteBuffer)]>([])
    private let admits: Bool
    private let lost = NIOLockedValueBox(0)

    init(admits: Bool = true) {
        self.admits = admits
    }

    var admitsNewExchanges: Bool { admits }
    var losses: Int { lost.withLockedValue { $0 } }
    var kinds: [CaptureFrame.Kind] { frames.withLockedValue { $0.map(\.0) } }

    func emit(_ kind: CaptureFrame.Kind, exchangeID: UUID, timestamp: Int64, payload: ByteBuffer) {
        frames.withLockedValue { $0.append((kind, exchangeID, payload)) }
    }

    func recordLoss() {
        lost.withLockedValue { $0 += 1 }
    }
}

/// Builds gateway services around an EmbeddedEventLoop for handler tests (no sockets, no threads).
enum TestServices {
    static func make(sink: any CaptureSink, onFailure: Configuration.Capture.OnFailure = .block,
                     loop: EmbeddedEventLoop) throws -> GatewayServices {
        let home = FileManager.default.temporaryDirectory.path + "/flightlog-gw-\(UUID().uuidString)"
        var configuration = Configuration(home: home)
        configuration.capture.onFailure = onFailure
        configuration.gateway.maxHeaderBytes = 4096
        let authority = try CertificateAuthority.loadOrCreate(in: StateDirectory(root: home))
        return try GatewayServices(configuration: configuration, logger: Logger(label: "test"), authority: authority,
                                   redactionKey: SymmetricKey(size: .bits256), sink: sink, gatewayID: "test-gateway",
                                   group: loop)
    }
}

@Suite struct ProxyPipelineTests {
    let loop = EmbeddedEventLoop()

    private func plainChannel(sink: any CaptureSink = RecordingSink(), onFailure: Configuration.Capture.OnFailure = .block)
        throws -> EmbeddedChannel
    {
        let channel = EmbeddedChannel(loop: loop)
        let services = try TestServices.make(sink: sink, onFailure: onFailure, loop: loop)
        try ProxyPipeline(services: services).configurePlain(
            channel, connection: ConnectionInfo(id: 1, gatewayID: "test-gateway", client: ClientAttribution(address: "127.0.0.1:1")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            out += String(buffer: buffer)
        }
        return out
    }

    @Test func connectAnswers200WithoutFramingAndSwitchesToTLS() throws {
        let channel = try plainChannel()
        try channel.writeInbound(ByteBuffer(string: "CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n"))
        loop.run()
        #expect(try written(channel) == "HTTP/1.1 200 OK\r\n\r\n")
        _ = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
        _ = try channel.pipeline.syncOperations.handler(type: ExchangeRelayHandler.self)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: ConnectHandler.self) }
        #expect(channel.isActive)
    }

    @Test(arguments: [
        ("CONNECT nohost HTTP/1.1\r\n\r\n", "400"),
        ("GET /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        ("NOT-HTTP\r\n\r\n", "400"),
        ("POST http://example.com/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
        ("GET http://example.com/ HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 5000))\r\n\r\n", "431"),
    ])
    func badRequestsGetAClearAnswerAndTheConnectionCloses(request: String, status: String) throws {
        let channel = try plainChannel()
        do {
            try channel.writeInbound(ByteBuffer(string: request))
        } catch {
            // The decoder reports malformed input as an error too; the answer below is what matters.
        }
        loop.run()
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "got: \(answer.prefix(80))")
        #expect(answer.contains("flightlog gateway: "))
        #expect(!channel.isActive)
    }

    @Test func whenCaptureIsNotDurableBlockAnswers503AndRecordsNothing() throws {
        let sink = RecordingSink(admits: false)
        let channel = try plainChannel(sink: sink, onFailure: .block)
        try channel.writeInbound(ByteBuffer(string: "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        loop.run()
        let answer = try written(channel)
        #expect(answer.hasPrefix("HTTP/1.1 503 "))
        #expect(answer.contains("capture is unavailable"))
        #expect(sink.kinds.isEmpty)
    }
}
