import Testing
@testable import sessiond
