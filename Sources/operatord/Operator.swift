import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Assembles operatord: the supervisor, the control socket, the metrics endpoint.
enum Operator {
    static func run(configuration: Configuration, options: DaemonOptions, logger: Logger) async throws {
        let state = StateDirectory(root: configuration.home)
        try state.prepareCommon()
        let systemd = configuration.operator.mode == "systemd"
        let supervisor = Supervisor(binDirectory: executableDirectory(), childArguments: childArguments(options, configuration),
                                    state: state, systemdMode: systemd, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stopper = StopSignal()
        let supervision = SupervisionService(supervisor: supervisor, stop: stopper)
        let reloads = ReloadCoordinator(
            reloader: ConfigurationReloader(policy: .operator, running: configuration,
                                            reportPath: state.reloadFile(for: "operatord"), logger: logger,
                                            load: { try await options.reloadConfiguration() }),
            supervisor: supervisor, state: state, logger: logger)
        // SIGHUP to operatord is the same as `reload` on the control socket (systemd's ExecReload sends it).
        let hangup = await ConfigurationReloadService.make { _ = await reloads.reload() }
        let control = ControlServer(
            path: state.operatorSocket, supervisor: supervisor, mode: configuration.operator.mode, logger: logger,
            group: group, requestStop: { stopper.fire() }, reload: { await reloads.reload() }
        )
        let metrics = MetricsServer(listen: configuration.operator.metricsListen, supervisor: supervisor,
                                    registry: MetricsRegistry(), logger: logger, group: group)
        let reporter = StatusReporter(component: "operatord", state: state, logger: logger) {
            ("ok", nil, [:])
        }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: supervision, successTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: control),
                .init(service: metrics, failureTerminationBehavior: .ignore),
                .init(service: reporter),
                .init(service: hangup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        reporter.ready()
        try await serviceGroup.run()
        try? await group.shutdownGracefully()
    }

    /// The daemons live beside operatord.
    static func executableDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    /// Every child gets the configuration operatord got: the same file, home and overrides.
    static func childArguments(_ options: DaemonOptions, _ configuration: Configuration) -> [String] {
        var args: [String] = []
        if let path = configuration.sourcePath { args += ["--config", path] }
        args += ["--home", configuration.home]
        for setting in options.settings { args += ["--set", setting] }
        return args
    }
}

/// Starts the daemons, watches them, and on shutdown (SIGTERM or `stop`) stops them in order.
struct SupervisionService: Service {
    let supervisor: Supervisor
    let stop: StopSignal

    func run() async throws {
        await supervisor.startAll()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cancelWhenGracefulShutdown { await supervisor.watch() } }
            group.addTask { await cancelWhenGracefulShutdown { await stop.wait() } }
            _ = await group.next()
            group.cancelAll()
        }
        await supervisor.stopAll()
    }
}

/// A one-shot signal for `stop` from the control socket.
final class StopSignal: Sendable {
    private let stream = AsyncStream<Void>.makeStream()

    func fire() {
        stream.continuation.yield()
    }

    func wait() async {
        for await _ in stream.stream { return }
    }
}
