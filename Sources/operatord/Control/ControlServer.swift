import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// `run/operator.sock`: one JSON request per line, one JSON reply per line. Every caller is identified
/// with SO_PEERCRED; root, operatord's own uid and members of the `flightlog` group may command, anyone
/// else is refused. Every command is logged with the caller's uid and pid.
struct ControlServer: Service {
    let path: String
    let supervisor: Supervisor
    let mode: String
    let logger: Logger
    let group: any EventLoopGroup
    /// Called for `stop` and after a reply to it is written.
    let requestStop: @Sendable () -> Void
    /// `reload`: re-read the configuration and have every daemon apply it.
    let reload: @Sendable () async -> ControlReply

    func run() async throws {
        try UnixSocketPath.removeStale(path)
        let server = try await ServerBootstrap(group: group)
            .bind(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder(maximumLength: 64 * 1024)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try UnixSocketPath.restrict(path)
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        tasks.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        unlink(path)
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = await PeerCredentials.of(connection.channel)
        try? await connection.executeThenClose { inbound, outbound in
            for try await line in inbound {
                let reply = await handle(line: String(buffer: line), peer: peer)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                var data = (try? encoder.encode(reply)) ?? Data("{\"ok\":false}".utf8)
                data.append(0x0a)
                try await outbound.write(ByteBuffer(bytes: data))
                if reply.ok, reply.message == "stopping" { requestStop() }
            }
        }
    }

    func handle(line: String, peer: PeerCredentials?) async -> ControlReply {
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(line.utf8)) else {
            return ControlReply(ok: false, error: "not a JSON request: send {\"command\":\"status\"}")
        }
        var metadata: Logger.Metadata = ["command": "\(request.command)", "uid": "\(peer?.uid.description ?? "?")",
                                         "pid": "\(peer?.pid.description ?? "?")"]
        if let c = request.component { metadata["child"] = "\(c)" }
        guard let peer, peer.isAuthorized else {
            logger.notice("control command refused", metadata: metadata)
            return ControlReply(ok: false, error: "permission denied: uid \(peer?.uid.description ?? "?") is not root, the daemon's user or in the flightlog group")
        }
        logger.notice("control command", metadata: metadata)
        switch request.command {
        case "status":
            return ControlReply(ok: true, mode: mode, components: await supervisor.reports())
        case "restart":
            guard let name = request.component, let component = FlightlogComponent(rawValue: name) else {
                let names = FlightlogComponent.allCases.map(\.rawValue).joined(separator: ", ")
                return ControlReply(ok: false, error: "restart needs a component: one of \(names)")
            }
            return ControlReply(ok: true, message: await supervisor.restart(component))
        case "stop":
            return ControlReply(ok: true, message: "stopping")
        case "reload":
            return await reload()
        default:
            return ControlReply(ok: false, error: "unknown command '\(request.command)': status, restart, stop, reload")
        }
    }
}

/// Who is on the other end of a Unix socket (SO_PEERCRED).
struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    static func of(_ channel: any Channel) async -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        do {
            // `struct ucred` (pid_t, uid_t, gid_t) is hidden behind _GNU_SOURCE in Glibc; this has its layout.
            let cred: PeerCredentials = try await provider.unsafeGetSocketOption(
                level: .socket, name: .init(rawValue: SO_PEERCRED)).get()
            return cred
        } catch {
            return nil
        }
    }

    var isAuthorized: Bool {
        if uid == 0 || uid == getuid() { return true }
        guard let group = getgrnam("flightlog") else { return false }
        if gid == group.pointee.gr_gid { return true }
        guard let passwd = getpwuid(uid), let name = passwd.pointee.pw_name.map({ String(cString: $0) }) else { return false }
        var member = group.pointee.gr_mem
        while let entry = member?.pointee {
            if String(cString: entry) == name { return true }
            member = member?.advanced(by: 1)
        }
        return false
    }
}

/// Splits a byte stream at `\n`, refusing lines longer than a bound.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: 0x0a) else {
            if buffer.readableBytes > maximumLength { throw ControlProtocolError(detail: "line over \(maximumLength) bytes") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard let line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(NIOAny(line))
        return .continue
    }
}

struct ControlProtocolError: Error, CustomStringConvertible {
    var detail: String
    var description: String { "control protocol: \(detail)" }
}
