import Testing
@testable import operatord
