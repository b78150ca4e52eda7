import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import Shared

/// What every connection of the gateway shares: configuration, certificates, the capture sink and the
/// per-event-loop upstream pools. Built once at start; a reload changes only `capture.on_failure`.
final class GatewayServices: @unchecked Sendable {
    /// The configuration the gateway started with. A reload changes only `capture.on_failure`: read it
    /// from ``onFailure``, not from here.
    let configuration: Configuration
    /// `capture.on_failure` as the last reload left it; read once per exchange that finds capture not durable.
    var onFailure: Configuration.Capture.OnFailure { liveOnFailure.withLockedValue { $0 } }
    private let liveOnFailure: NIOLockedValueBox<Configuration.Capture.OnFailure>
    let logger: Logger
    let leaves: LeafCertificateCache
    let credentials: CredentialRedactor
    let sink: any CaptureSink
    let gatewayID: String
    let idleTimeout: TimeAmount
    let counters = GatewayCounters()
    /// One pool per event loop; each is only touched on its own loop.
    private let pools: [ObjectIdentifier: UpstreamConnectionPool]

    init(configuration: Configuration, logger: Logger, authority: CertificateAuthority, redactionKey: SymmetricKey,
         sink: any CaptureSink, gatewayID: String, group: any EventLoopGroup) throws {
        self.configuration = configuration
        self.liveOnFailure = NIOLockedValueBox(configuration.capture.onFailure)
        self.logger = logger
        self.leaves = try LeafCertificateCache(authority: authority)
        self.credentials = CredentialRedactor(key: redactionKey)
        self.sink = sink
        self.gatewayID = gatewayID
        self.idleTimeout = TimeAmount(configuration.gateway.idleTimeout)
        let tls = try UpstreamTLS.makeContext(extraRoots: configuration.gateway.upstreamCA)
        var pools: [ObjectIdentifier: UpstreamConnectionPool] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamConnectionPool(eventLoop: loop, tlsContext: tls,
                                                                   configuration: configuration.gateway)
        }
        self.pools = pools
    }

    /// Applies a reload's live keys (``ReloadPolicy/gateway``); the rest wait for a restart.
    func applyLive(_ candidate: Configuration, _ plan: ConfigurationReloadPlan) {
        if plan.appliesLive("capture.on_failure") {
            liveOnFailure.withLockedValue { $0 = candidate.capture.onFailure }
        }
    }

    /// The pool of `eventLoop`, which must be one of the group's loops.
    func pool(for eventLoop: any EventLoop) -> UpstreamConnectionPool {
        guard let pool = pools[ObjectIdentifier(eventLoop)] else {
            preconditionFailure("event loop \(eventLoop) is not one of the gateway's")
        }
        return pool
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Running totals for the status file and metrics. Updated once per exchange or connection, never per chunk.
final class GatewayCounters: Sendable {
    private let values = NIOLockedValueBox<[String: Double]>([:])

    func add(_ name: String, _ amount: Double = 1) {
        values.withLockedValue { $0[name, default: 0] += amount }
    }

    var snapshot: [String: Double] { values.withLockedValue { $0 } }
}
