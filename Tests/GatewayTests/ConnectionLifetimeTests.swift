import NIOCore
import NIOEmbedded
import Testing

@testable import gateway

/// Nothing of a connection outlives it: the gateway runs for months and sees millions of connections.
@Suite struct ConnectionLifetimeTests {
    @Test func anUpstreamConnectionIsFreedOnceItsChannelCloses() throws {
        weak var released: UpstreamConnection?
        try {
            let channel = EmbeddedChannel()
            let ready = channel.eventLoop.makePromise(of: UpstreamConnection.self)
            let connection = UpstreamConnection(target: UpstreamTarget(host: "origin", port: 80, tls: false), ready: ready)
            released = connection
            try channel.pipeline.syncOperations.addHandler(connection)
            channel.pipeline.fireChannelActive()
            // A plain-HTTP connection is ready once connected; the promise then holds the connection as its value.
            #expect(try ready.futureResult.wait() === connection)
            _ = try channel.finish(acceptAlreadyClosed: false)
            #expect(connection.isClosed)
        }()
        #expect(released == nil, "the connect promise or the context kept the connection (and its pipeline) alive")
    }

    @Test(arguments: [
        ([0, 100, 500, 600, 100], [false, false, false, false, true]),
        ([10, 40, 5, 0], [false, false, false, false]),
        ([1000, 499, 500, 400, 100], [false, true, false, false, true]),
    ])
    func freeMemoryIsHandedBackWhenABurstHasEnded(tunnels: [Int], trims: [Bool]) {
        let trimmer = BurstTrimmer(minimumDrop: 64)
        #expect(tunnels.map { trimmer.burstEnded(tunnels: $0) } == trims)
    }
}
