import ServiceLifecycle

/// Runs the ``CaptureSender`` for the lifetime of the service group; stops after the proxy has drained,
/// so the last frames still get their chance to be acknowledged.
struct CaptureSenderService: Service {
    let sender: CaptureSender

    func run() async throws {
        sender.start()
        try? await gracefulShutdown()
        // Wait briefly for outstanding acknowledgements before letting go.
        for _ in 0..<30 where sender.statistics.bufferedBytes > 0 && sender.statistics.connected {
            try? await Task.sleep(for: .milliseconds(100))
        }
        sender.stop()
    }
}
