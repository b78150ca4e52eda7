/// A sessiond failure, with what to do about it.
struct SessiondError: Error, CustomStringConvertible {
    struct Code: Hashable, Sendable {
        let raw: String
        static let configuration = Code(raw: "configuration")
        static let database = Code(raw: "database")
        static let poisonRecord = Code(raw: "poison record")
        static let object = Code(raw: "object")
    }

    var code: Code
    var detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    var description: String { "sessiond \(code.raw): \(detail)" }
}
