import ArgumentParser
import Foundation
import Logging
import Shared

/// `ingestd`: write-ahead log, object store, delivery to sessiond.
@main
struct IngestdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingestd",
        abstract: "Flightlog's ingest daemon: makes capture frames durable and stores them as objects."
    )

    @OptionGroup var options: DaemonOptions

    @Option(name: .customLong("benchmark-corpus"), help: .hidden)
    var benchmarkCorpus: String?

    func run() async throws {
        DaemonSignals.holdReloadUntilReady()
        let configuration = try await options.loadConfiguration(component: "ingestd")
        if let corpus = benchmarkCorpus {
            let format = CompressionFormat(rawValue: configuration.ingest.compression.rawValue) ?? .zstd
            let scratch = FileManager.default.temporaryDirectory.path
            for measurement in try IngestBenchmark(corpus: corpus, scratch: scratch, format: format).run() {
                print(measurement.line)
            }
            return
        }
        let logger = LoggingSetup.bootstrap(component: "ingestd", level: configuration.log.level)
        do {
            try await Ingestd.run(configuration: configuration, options: options, logger: logger)
        } catch {
            logger.critical("ingestd stopped", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("ingestd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
