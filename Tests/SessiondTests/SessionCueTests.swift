import Foundation
import Shared
import Testing

@testable import sessiond

/// Session detection from real request shapes: each cue on its own, in order of strength, and the
/// promise that replaying the same records (also after a restart) gives the same sessions.
@Suite struct SessionCueTests {
    static let minute: Int64 = 60_000_000_000

    /// A Messages request with this conversation (user/assistant alternating), system prompt and metadata.
    static func anthropic(_ messages: [String], system: String = "You are Claude Code.", userID: String? = nil,
                          headers: [String: String] = [:]) -> ParsedExchange {
        let turns = messages.enumerated().map { i, text in
            #"{"role":"\#(i % 2 == 0 ? "user" : "assistant")","content":\#(json(text))}"#
        }
        let metadata = userID.map { #","metadata":{"user_id":\#(json($0))}"# } ?? ""
        let request = #"{"model":"claude-sonnet-4-5","max_tokens":64,"system":\#(json(system))\#(metadata),"messages":[\#(turns.joined(separator: ","))]}"#
        return ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages", request: request,
                                                   response: Fixtures.anthropicToolResponse, headers: headers))[0]
    }

    /// A Responses request continuing `previous`, answered by a response with id `id`.
    static func responses(previous: String?, id: String, input: String) -> ParsedExchange {
        let chain = previous.map { #","previous_response_id":"\#($0)""# } ?? ""
        let request = #"{"model":"gpt-5","instructions":"You are Codex.","store":false\#(chain),"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":\#(json(input))}]}]}"#
        let response = #"{"id":"\#(id)","object":"response","status":"completed","model":"gpt-5","output":[],"usage":{"input_tokens":10,"output_tokens":2}}"#
        return ProviderRouter.parse(Fixtures.input(host: "api.openai.com", path: "/v1/responses", request: request,
                                                   response: response))[0]
    }

    static func json(_ s: String) -> String {
        (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    @Test(arguments: [
        #"{"device_id":"d1","account_uuid":"","session_id":"5f0c0e4e-1111-2222-3333-444455556666"}"#,
        "user_0123abcd_account_11111111-2222-3333-4444-555555555555_session_5f0c0e4e-1111-2222-3333-444455556666",
    ])
    func claudeCodesUserIDCarriesItsSession(userID: String) {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["fix the parser"], userID: userID), at: 0)
        // A different conversation (a sub-agent, a compaction) hours later: still the client's session.
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["summarise"], system: "other", userID: userID),
                         at: 300 * Self.minute)
        #expect(b?.sessionID == a?.sessionID)
        #expect(b?.cue == "client_id")
    }

    @Test func twoClaudeCodeSessionsWithTheSamePromptStayApart() {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["hi"], headers: ["x-claude-code-session-id": "A"]), at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["hi"], headers: ["x-claude-code-session-id": "B"]), at: 1)
        #expect(a?.sessionID != b?.sessionID)
    }

    @Test func responsesChainThroughPreviousResponseID() {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.responses(previous: nil, id: "resp_1", input: "fix it"), at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.responses(previous: "resp_1", id: "resp_2", input: "ok"), at: 90 * Self.minute)
        let c = t.assign(captureID: "c3", parsed: Self.responses(previous: "resp_2", id: "resp_3", input: "and?"), at: 91 * Self.minute)
        #expect(Set([a?.sessionID, b?.sessionID, c?.sessionID]).count == 1)
        #expect([b?.cue, c?.cue] == ["previous_response", "previous_response"])
        #expect(c?.seq == 3)
    }

    @Test func aRequestThatExtendsAnEarlierConversationContinuesIt() {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["list the files"]), at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["list the files", "a.txt b.txt", "open a.txt"]),
                         at: 20 * Self.minute)
        #expect(b?.sessionID == a?.sessionID)
        #expect(b?.cue == "continuity")
    }

    @Test func aNewClientSessionIDStartsItsOwnSessionEvenWhenItsConversationExtendsAnother() {
        // Every run of one agent opens with the same system prompt and preamble, so a second run's first
        // request extends the first run's conversation; its own session id says it is a new session.
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["run the probe"], headers: ["x-claude-code-session-id": "run-1"]), at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["run the probe", "ok", "again"],
                                                                 headers: ["x-claude-code-session-id": "run-2"]), at: Self.minute)
        #expect(a?.sessionID != b?.sessionID)
        #expect(b?.cue == "new")
    }

    @Test func injectedPreamblesDoNotChangeThePromptHash() {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["<system-reminder>today is Monday</system-reminder>deploy it"]),
                         at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["<system-reminder>today is Tuesday</system-reminder>deploy it"]),
                         at: Self.minute)
        #expect(b?.sessionID == a?.sessionID)
        #expect(b?.cue == "prompt_hash")
    }

    @Test(arguments: [(5 * SessionCueTests.minute, true), (5 * SessionCueTests.minute + 1, false)])
    func theIdleGapSplitsAtItsBoundary(gap: Int64, same: Bool) {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let a = t.assign(captureID: "c1", parsed: Self.anthropic(["deploy it"]), at: 0)
        let b = t.assign(captureID: "c2", parsed: Self.anthropic(["deploy it"]), at: gap)
        #expect((b?.sessionID == a?.sessionID) == same)
    }

    @Test func fourInterleavedConversationsAreFourSessions() {
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let topics = ["fix the login bug", "write the changelog", "rename the module", "profile the parser"]
        var history = topics.map { [$0] }
        var sessions: [Int: Set<String>] = [:]
        for round in 0..<3 {
            for (i, _) in topics.enumerated() {
                let a = t.assign(captureID: "c\(round)-\(i)", parsed: Self.anthropic(history[i]), at: Int64(round * 4 + i))
                sessions[i, default: []].insert(a?.sessionID ?? "none")
                history[i] += ["answer \(round)", "next step \(round) for \(i)"]
            }
        }
        #expect(sessions.values.allSatisfy { $0.count == 1 })
        #expect(Set(sessions.values.flatMap { $0 }).count == 4)
    }

    @Test func aPrewarmIsRecordedAndItsChainIsFollowed() throws {
        var input = Fixtures.input(host: "chatgpt.com", path: "/backend-api/codex/responses", request: "", response: "",
                                   status: 101, headers: ["session-id": "codex-1"])
        input.webSocketMessages = [
            (.clientToUpstream, Array(#"{"type":"response.create","model":"gpt-5-codex","generate":false,"input":[]}"#.utf8)),
            (.upstreamToClient, Array(#"{"type":"response.completed","response":{"id":"resp_0","model":"gpt-5-codex","output":[],"usage":{"input_tokens":0,"output_tokens":0}}}"#.utf8)),
            (.clientToUpstream, Array(#"{"type":"response.create","model":"gpt-5-codex","previous_response_id":"resp_0","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]}"#.utf8)),
            (.upstreamToClient, Array(#"{"type":"response.completed","response":{"id":"resp_1","model":"gpt-5-codex","output":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#.utf8)),
        ]
        let turns = ProviderRouter.parse(input)
        #expect(turns.count == 2)
        var t = SessionTracker(idleTimeoutNanoseconds: 5 * Self.minute)
        let prewarm = t.assign(captureID: "c1", parsed: turns[0], at: 0)
        let first = t.assign(captureID: "c1#2", parsed: turns[1], at: 1)
        #expect(turns[0].isPrewarm && !turns[0].isModelTurn)
        #expect(first?.sessionID == prewarm?.sessionID)
    }
}
