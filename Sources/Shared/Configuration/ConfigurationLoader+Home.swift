import Foundation
import Yams

extension ConfigurationLoader {
    /// The state directory the configuration names, found even when the rest of the file is invalid: the CLI
    /// must still reach operatord's socket to say `reload`, and to hear operatord name the bad key.
    ///
    /// Same precedence as ``load(_:environment:)`` for `home`: `--home`, `--set home=`, `FLIGHTLOG_HOME`, the
    /// file's top-level `home`, the default.
    public static func stateHome(
        _ overrides: Overrides,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let home = overrides.home { return expandingTilde(home) }
        if let set = overrides.settings.last(where: { $0.hasPrefix("home=") }) {
            return expandingTilde(String(set.dropFirst(5)))
        }
        if let home = environment["FLIGHTLOG_HOME"] { return expandingTilde(home) }
        let defaultHome = defaultHomeDirectory(environment)
        let path = overrides.configPath ?? environment["FLIGHTLOG_CONFIG"] ?? defaultHome + "/config.yaml"
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           let node = try? Yams.compose(yaml: text),
           let home = node.mapping?["home"]?.string, !home.isEmpty {
            return expandingTilde(home)
        }
        return defaultHome
    }

    private static func expandingTilde(_ path: String) -> String {
        path.hasPrefix("~/") ? NSHomeDirectory() + path.dropFirst() : path
    }
}
