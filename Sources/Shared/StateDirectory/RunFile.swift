import Foundation

/// A small JSON file under `run/` that one daemon writes and others read while it runs (its status, its last
/// reload report): written whole to a temporary name and renamed, so a reader never sees half of one.
enum RunFile {
    static func write(_ value: some Encodable, to path: String, what: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let tmp = path + ".tmp"
        try encoder.encode(value).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else {
            throw StateDirectoryError(path: path, detail: "cannot rename the \(what): errno \(errno)")
        }
    }

    /// The file's value, or nil when it is missing or not what it should be.
    static func read<Value: Decodable>(_ type: Value.Type, from path: String) -> Value? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(type, from: data)
    }
}
