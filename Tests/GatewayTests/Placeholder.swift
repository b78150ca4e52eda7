import Testing
@testable import gateway
