import Configuration
import Foundation
import SystemPackage
import Yams

/// Loads the one configuration every daemon shares.
///
/// Precedence, strongest first: flags (`--set section.key=value`, `--home`), the environment
/// (`FLIGHTLOG_<SECTION>_<KEY>`, `FLIGHTLOG_HOME`), the YAML file, the defaults in ``Configuration``.
/// The file is `--config PATH`, else `FLIGHTLOG_CONFIG`, else `$home/config.yaml` (optional).
/// Layering goes through swift-configuration; the file's keys are also checked against
/// ``ConfigurationSchema`` so a typo is an error naming the key, not a silently ignored line.
public enum ConfigurationLoader {
    /// What the command line said about configuration.
    public struct Overrides: Sendable {
        public var configPath: String?
        public var home: String?
        /// `section.key=value` pairs from `--set`.
        public var settings: [String]

        public init(configPath: String? = nil, home: String? = nil, settings: [String] = []) {
            self.configPath = configPath
            self.home = home
            self.settings = settings
        }
    }

    public static func load(
        _ overrides: Overrides = .init(),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> Configuration {
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for setting in overrides.settings {
            guard let eq = setting.firstIndex(of: "=") else {
                throw ConfigurationError(.invalidValue, key: setting, "--set takes section.key=value")
            }
            let key = String(setting[..<eq])
            guard ConfigurationSchema.keys[key] != nil else {
                throw ConfigurationError(.unknownKey, key: key, "given with --set")
            }
            let value = String(setting[setting.index(after: eq)...])
            let content: ConfigContent =
                ConfigurationSchema.keys[key] == .list
                ? .stringArray(value.split(separator: ",").map(String.init)) : .string(value)
            flagValues[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] =
                ConfigValue(content, isSecret: false)
        }
        if let home = overrides.home {
            flagValues[AbsoluteConfigKey(["home"])] = ConfigValue(.string(home), isSecret: false)
        }

        let defaultHome = environment["FLIGHTLOG_HOME"] ?? overrides.home ?? defaultHomeDirectory(environment)
        let explicitPath = overrides.configPath ?? environment["FLIGHTLOG_CONFIG"]
        let path = explicitPath ?? (overrides.home ?? defaultHome) + "/config.yaml"

        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "flightlog"),
        ]
        var sourcePath: String? = nil
        if FileManager.default.fileExists(atPath: path) {
            try validateFile(at: path)
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            } catch {
                throw ConfigurationError(.malformedFile, key: path, "\(error)")
            }
            sourcePath = path
        } else if explicitPath != nil {
            throw ConfigurationError(.unreadableFile, key: path, "no such file")
        }
        var configuration = try ConfigurationParser(
            reader: ConfigReader(providers: providers),
            defaultHome: defaultHome
        ).parse()
        configuration.sourcePath = sourcePath.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return configuration
    }

    /// `~/.local/share/flightlog`, the default state directory outside systemd.
    public static func defaultHomeDirectory(_ environment: [String: String]) -> String {
        let base = environment["XDG_DATA_HOME"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/share")
        return base + "/flightlog"
    }

    /// Checks every key of the file against the schema, so an unknown key names itself.
    static func validateFile(at path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(.unreadableFile, key: path, "\(error.localizedDescription)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(.malformedFile, key: path, "not valid YAML: \(error)")
        }
        guard let node else { return }
        guard let mapping = node.mapping else {
            throw ConfigurationError(.malformedFile, key: path, "the top level must be a mapping of sections")
        }
        try validate(mapping, prefix: "")
    }

    private static func validate(_ mapping: Node.Mapping, prefix: String) throws {
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.string else {
                throw ConfigurationError(.unknownKey, key: prefix + "?", "keys must be strings")
            }
            let dotted = prefix + name
            switch ConfigurationSchema.keys[dotted] {
            case .section:
                guard let inner = valueNode.mapping else {
                    if valueNode.null != nil { continue }
                    throw ConfigurationError(.invalidValue, key: dotted, "must be a mapping of keys")
                }
                try validate(inner, prefix: dotted + ".")
            case .scalar:
                guard valueNode.scalar != nil else {
                    throw ConfigurationError(.invalidValue, key: dotted, "must be a single value")
                }
            case .list:
                if let sequence = valueNode.sequence, sequence.contains(where: { $0.scalar == nil }) {
                    throw ConfigurationError(.invalidValue, key: dotted, "must be a list of strings")
                }
            case nil:
                throw ConfigurationError(.unknownKey, key: dotted, "not a Flightlog setting")
            }
        }
    }
}

/// The keys Flightlog knows, with their shape. The one list the loader, `--set` and the docs agree on.
public enum ConfigurationSchema {
    public enum Shape: Sendable { case section, scalar, list }

    public static let keys: [String: Shape] = [
        "home": .scalar,
        "gateway": .section,
        "gateway.listen": .scalar,
        "gateway.upstream_override": .list,
        "gateway.upstream_ca": .scalar,
        "gateway.max_header_bytes": .scalar,
        "gateway.idle_timeout": .scalar,
        "gateway.upstream_connect_timeout": .scalar,
        "gateway.websocket_max_frame_bytes": .scalar,
        "gateway.websocket_max_message_bytes": .scalar,
        "gateway.max_idle_upstream_per_host": .scalar,
        "gateway.threads": .scalar,
        "capture": .section,
        "capture.on_failure": .scalar,
        "capture.redact_bodies": .scalar,
        "capture.memory_buffer_bytes": .scalar,
        "capture.spool_max_bytes": .scalar,
        "capture.max_body_bytes": .scalar,
        "ingest": .section,
        "ingest.compression": .scalar,
        "ingest.wal_max_bytes": .scalar,
        "ingest.segment_bytes": .scalar,
        "sessions": .section,
        "sessions.idle_timeout": .scalar,
        "sessions.price_file": .scalar,
        "database": .section,
        "database.url": .scalar,
        "operator": .section,
        "operator.metrics_listen": .scalar,
        "operator.mode": .scalar,
        "log": .section,
        "log.level": .scalar,
    ]
}
