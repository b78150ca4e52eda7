import Foundation
import NIOConcurrencyHelpers
import NIOSSL
import Testing

@testable import Shared
@testable import gateway

@Suite struct LeafCertificateCacheTests {
    @Test func racingFirstConnectionsMintOneLeafPerHost() async throws {
        let home = FileManager.default.temporaryDirectory.path + "/flightlog-leaf-\(UUID().uuidString)"
        let cache = try LeafCertificateCache(authority: try CertificateAuthority.loadOrCreate(in: StateDirectory(root: home)))
        let contexts = NIOLockedValueBox<[ObjectIdentifier]>([])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    if let context = try? cache.serverContext(for: "api.anthropic.com") {
                        contexts.withLockedValue { $0.append(ObjectIdentifier(context)) }
                    }
                }
            }
        }
        let seen = contexts.withLockedValue { $0 }
        #expect(seen.count == 32)
        #expect(Set(seen).count == 1)
        #expect(cache.count == 1)
        _ = try cache.serverContext(for: "API.ANTHROPIC.COM")
        _ = try cache.serverContext(for: "api.openai.com")
        #expect(cache.count == 2)
    }
}
