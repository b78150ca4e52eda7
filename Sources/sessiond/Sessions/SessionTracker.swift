import Crypto
import Foundation
import Shared

/// Assigns turns to sessions from the cues DESIGN.md lists, strongest first: the client's own session
/// id, `previous_response_id` chaining, conversation continuity (this request's messages extend an
/// earlier request's), the prompt hash (system prompt + first user message) within the idle timeout.
/// A value type: the same turns in the same order give the same sessions, and a failed database write
/// rolls back by restoring a copy.
struct SessionTracker: Equatable {
    struct Session: Equatable {
        var id: String
        var lastActivity: Int64
        var turnCount: Int
        var lastChainHash: String
        var systemHash: String?
    }

    /// Where a turn goes.
    struct Assignment: Equatable {
        var sessionID: String
        var isNew: Bool
        /// The turn's position in its session, from 1.
        var seq: Int
        var previousChainHash: String
        /// The cue that decided (`client_id`, `previous_response`, `continuity`, `prompt_hash`, `new`).
        var cue: String
        var systemPromptChanged: Bool
        /// The hash of this request's whole conversation (`turns.conversation_hash`), computed once here.
        var conversationHash: String? = nil
    }

    private(set) var sessions: [String: Session] = [:]
    private var byClientID: [String: String] = [:]
    private var byResponseID: [String: String] = [:]
    private var byConversation: [String: String] = [:]
    private var byPrompt: [String: String] = [:]
    /// An idle gap longer than this starts a new session; a reload may change it (`sessions.idle_timeout`).
    var idleTimeout: Int64

    init(idleTimeoutNanoseconds: Int64) {
        self.idleTimeout = idleTimeoutNanoseconds
    }

    /// SHA-256 of the UTF-8 text, in lowercase hex. Hot (several per turn): no Data, no String(format:).
    static func hash(_ text: String) -> String {
        var text = text
        return Hex.string(text.withUTF8 { SHA256.hash(data: $0) })
    }


    /// Chain hashes of every prefix of the conversation: `h[i]` covers messages `0...i`, the hash of
    /// `h[i-1] + "\u{1e}" + fingerprint[i]` (fed to the hasher piece by piece, without building that string).
    static func prefixHashes(_ fingerprints: [String]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(fingerprints.count)
        var previous = ""
        for var f in fingerprints {
            var hasher = SHA256()
            previous.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            withUnsafeBytes(of: UInt8(0x1e)) { hasher.update(bufferPointer: $0) }
            f.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            previous = Hex.string(hasher.finalize())
            out.append(previous)
        }
        return out
    }

    static func promptHash(system: String?, firstUser: String?) -> String? {
        guard let firstUser, !firstUser.isEmpty else { return nil }
        return hash((system.map(Conversation.stripInjected) ?? "") + "\u{1f}" + firstUser)
    }

    /// The hashes of a turn's cues, which need no session state: worked out in the parallel prepare step, so
    /// the serial assignment only looks them up.
    struct TurnHashes: Equatable, Sendable {
        /// ``SessionTracker/prefixHashes(_:)`` of the turn's message fingerprints.
        var prefixes: [String]
        /// ``SessionTracker/promptHash(system:firstUser:)``.
        var prompt: String?
        /// The hash of the system prompt without injected reminders.
        var system: String?

        init(_ parsed: ParsedExchange) {
            prefixes = SessionTracker.prefixHashes(parsed.messageFingerprints)
            prompt = SessionTracker.promptHash(system: parsed.systemPrompt, firstUser: parsed.firstUserPrompt)
            system = parsed.systemPrompt.map { SessionTracker.hash(Conversation.stripInjected($0)) }
        }
    }

    /// Decides the session of a model turn (or of a side request, which only joins on a strong cue) and
    /// records the turn's cues for the turns after it.
    mutating func assign(captureID: String, parsed: ParsedExchange, at time: Int64) -> Assignment? {
        assign(captureID: captureID, parsed: parsed, hashes: TurnHashes(parsed), at: time)
    }

    /// ``assign(captureID:parsed:at:)`` with the turn's hashes already worked out (`TurnHashes(parsed)`).
    mutating func assign(captureID: String, parsed: ParsedExchange, hashes: TurnHashes, at time: Int64) -> Assignment? {
        let prefixes = hashes.prefixes
        let prompt = hashes.prompt
        var chosen: (String, String)?
        if let client = parsed.clientSessionID, let id = byClientID[client] {
            chosen = (id, "client_id")
        } else if let previous = parsed.previousResponseID, let id = byResponseID[previous] {
            chosen = (id, "previous_response")
        } else if parsed.isModelTurn, parsed.clientSessionID == nil {
            // The longest earlier conversation this one extends. (A client session id not seen before is the
            // client saying this is a new session: its conversation may well extend another's, as every
            // run of one agent starts with the same system prompt.)
            for h in prefixes.dropLast().reversed() {
                if let id = byConversation[h], let s = sessions[id], time - s.lastActivity <= idleTimeout * 12 {
                    chosen = (id, "continuity")
                    break
                }
            }
            if chosen == nil, let prompt, let id = byPrompt[prompt],
               let s = sessions[id], time - s.lastActivity <= idleTimeout {
                chosen = (id, "prompt_hash")
            }
        }
        guard chosen != nil || parsed.isModelTurn || parsed.isPrewarm else { return nil }
        let (sessionID, cue) = chosen ?? ("s_" + captureID.lowercased(), "new")
        var session = sessions[sessionID] ?? Session(id: sessionID, lastActivity: time, turnCount: 0, lastChainHash: "", systemHash: nil)
        let isNew = sessions[sessionID] == nil
        let systemHash = hashes.system
        let changed = parsed.isModelTurn && session.systemHash != nil && systemHash != nil && session.systemHash != systemHash
        let assignment = Assignment(sessionID: sessionID, isNew: isNew, seq: session.turnCount + 1,
                                    previousChainHash: session.lastChainHash, cue: cue, systemPromptChanged: changed,
                                    conversationHash: prefixes.last)
        session.turnCount += 1
        session.lastActivity = max(session.lastActivity, time)
        if parsed.isModelTurn, let systemHash { session.systemHash = systemHash }
        sessions[sessionID] = session
        if let client = parsed.clientSessionID { byClientID[client] = sessionID }
        if let response = parsed.responseID { byResponseID[response] = sessionID }
        if let last = prefixes.last, parsed.isModelTurn { byConversation[last] = sessionID }
        if let prompt, parsed.isModelTurn { byPrompt[prompt] = sessionID }
        return assignment
    }

    /// Records the chain hash of the turn just written.
    mutating func chained(_ sessionID: String, hash: String) {
        sessions[sessionID]?.lastChainHash = hash
    }

    /// Rebuilds the indexes from stored turns (oldest first) after a restart.
    mutating func restore(sessionID: String, lastActivity: Int64, turnCount: Int, lastChainHash: String, systemHash: String?,
                          clientID: String?, responseIDs: [String], conversationHashes: [String], promptHash: String?) {
        sessions[sessionID] = Session(id: sessionID, lastActivity: lastActivity, turnCount: turnCount,
                                      lastChainHash: lastChainHash, systemHash: systemHash)
        if let clientID { byClientID[clientID] = sessionID }
        for r in responseIDs { byResponseID[r] = sessionID }
        for c in conversationHashes { byConversation[c] = sessionID }
        if let promptHash { byPrompt[promptHash] = sessionID }
    }
}
