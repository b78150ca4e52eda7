import Testing
@testable import ingestd
