"""What the fake provider answers, in each provider's real wire format -- pure functions, no I/O.

The "model" is deterministic so a response fetched directly and one fetched through the gateway can be
compared byte for byte, and so tests can compute the expected figures:

* Every id is derived from a hash of the request (`stable_id`), every timestamp is `CREATED_AT`.
* The reply text is `reply_text(provider, last user text)`; a request with tools whose last turn is plain
  user text gets a call of its first (or `tool_choice`-named) function with arguments sampled from its
  JSON schema; a request whose last turn carries the tool's result gets a final text.
* Token counts come from `plan_usage(body, visible output)`, and each provider reports them its own way
  (`Usage` says how), which is exactly what sessiond must normalise.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

#: Fixed "creation" time for every object (2025-01-01T00:00:00Z): no clock in the output.
CREATED_AT = 1735689600
#: Reasoning tokens every OpenAI and Gemini answer reports (Anthropic folds thinking into output_tokens).
REASONING_TOKENS = 4

Event = tuple[str, dict[str, Any]]


def stable_id(prefix: str, *parts: str | bytes, length: int = 24) -> str:
    """`prefix` + hex digits of a hash over `parts`: same request, same id, on every run."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return prefix + digest.hexdigest()[:length]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def sse(data: Any, event: str | None = None, newline: str = "\n") -> bytes:
    """One Server-Sent Event; `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else compact(data)
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {payload}{newline}{newline}".encode()


def words(text: str) -> list[str]:
    """The text split into streaming deltas: each word with the whitespace after it."""
    return re.findall(r"\S+\s*", text) or [text]


def pieces(text: str, size: int = 8) -> list[str]:
    """Fixed-size slices, for streaming JSON arguments the way the APIs do (not at token boundaries)."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


# -- the deterministic "model" -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """One answer's token figures. `input_total` = uncached + cache_read + cache_write; `output` includes
    `reasoning`. Anthropic reports input_tokens = uncached, cache_read_input_tokens, cache_creation_input_tokens;
    OpenAI and Gemini report the total input with cached tokens inside it and no cache writes."""

    uncached_input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int

    @property
    def input_total(self) -> int:
        return self.uncached_input + self.cache_read + self.cache_write


def plan_usage(body: bytes, visible_output: str, cache_write: bool, reasoning: int) -> Usage:
    """Token figures derived from the request size and the answer, never zero, never random."""
    cache_read = len(body) // 32
    write = len(body) // 64 if cache_write else 0
    uncached = 12 + len(body) // 8 - cache_read - write
    visible = len(re.findall(r"\S+", visible_output)) + 1
    return Usage(uncached, cache_read, write, visible + reasoning, reasoning)


@dataclass(frozen=True)
class Turn:
    """What the fake model decided: plain text, or text (maybe empty) plus one function call."""

    text: str
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None

    @property
    def is_tool_call(self) -> bool:
        return self.tool_name is not None

    @property
    def args_json(self) -> str:
        return compact(self.tool_args or {})

    @property
    def visible_output(self) -> str:
        return self.text + (self.args_json if self.is_tool_call else "")


def reply_text(provider: str, said: str) -> str:
    snippet = " ".join(said.split())[:80] or "nothing"
    return f"Hello from the fake {provider} provider. You said: {snippet}"


def tool_result_text(name: str, result: str) -> str:
    snippet = " ".join(result.split())[:80] or "nothing"
    return f"The tool {name} returned: {snippet}"


def sample_arguments(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Arguments that satisfy a simple JSON schema: one plausible value per declared property."""
    properties = (schema or {}).get("properties") or {}
    return {name: _sample_value(name, spec or {}) for name, spec in properties.items()}


def _sample_value(name: str, spec: dict[str, Any]) -> Any:
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    return {
        "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {},
    }.get(str(kind).lower(), f"fake {name}")


def _text_of(content: Any, text_types: tuple[str, ...] = ("text", "input_text")) -> str:
    """The plain text of a message's content, whether a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") in text_types
        )
    return ""


def _result_text(content: Any) -> str:
    return content if isinstance(content, str) else _text_of(content) or compact(content)


# -- Anthropic Messages ------------------------------------------------------------------------------------------


def _anthropic_turn(request: dict[str, Any]) -> Turn:
    messages = request.get("messages") or []
    last = messages[-1] if messages else {}
    content = last.get("content")
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] \
        if isinstance(content, list) else []
    if results:
        names = {b.get("id"): b.get("name") for m in messages if m.get("role") == "assistant"
                 and isinstance(m.get("content"), list) for b in m["content"] if isinstance(b, dict)}
        name = names.get(results[-1].get("tool_use_id")) or "tool"
        return Turn(tool_result_text(name, _result_text(results[-1].get("content", ""))))
    tool = _chosen_anthropic_tool(request)
    if tool is not None:
        return Turn(f"Let me call {tool['name']}.", tool["name"], sample_arguments(tool.get("input_schema")))
    return Turn(reply_text("anthropic", _text_of(content)))


def _chosen_anthropic_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    choice = request.get("tool_choice") or {}
    if choice.get("type") == "none":
        return None
    custom = [t for t in request.get("tools") or [] if isinstance(t, dict) and "input_schema" in t]
    if choice.get("type") == "tool":
        custom = [t for t in custom if t.get("name") == choice.get("name")] or custom
    return custom[0] if custom else None


def _anthropic_usage(usage: Usage, output: int | None = None) -> dict[str, Any]:
    return {
        "input_tokens": usage.uncached_input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": usage.output if output is None else output,
        "service_tier": "standard",
    }


def _anthropic_blocks(turn: Turn, key: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    if turn.is_tool_call:
        blocks.append({"type": "tool_use", "id": stable_id("toolu_", key), "name": turn.tool_name,
                       "input": turn.tool_args or {}})
    return blocks


def anthropic_message(request: dict[str, Any], body: bytes, key: str) -> dict[str, Any]:
    """`POST /v1/messages` without `stream`: the Message object."""
    return _anthropic_answer(request, body, key)[0]


def anthropic_stream(request: dict[str, Any], body: bytes, key: str) -> list[Event]:
    """`POST /v1/messages` with `stream`: (SSE event name, data) pairs, from message_start to message_stop."""
    message, usage = _anthropic_answer(request, body, key)
    return _anthropic_events(message, usage)


def _anthropic_answer(request: dict[str, Any], body: bytes, key: str) -> tuple[dict[str, Any], Usage]:
    turn = _anthropic_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=True, reasoning=0)
    stop_reason = "tool_use" if turn.is_tool_call else "end_turn"
    message = {
        "id": stable_id("msg_", key), "type": "message", "role": "assistant",
        "model": request.get("model", "claude-fake"), "content": _anthropic_blocks(turn, key),
        "stop_reason": stop_reason, "stop_sequence": None, "usage": _anthropic_usage(usage),
    }
    return message, usage


def _anthropic_events(message: dict[str, Any], usage: Usage) -> list[Event]:
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": _anthropic_usage(usage, output=1)}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        block_events = _anthropic_block_events(index, block)
        if index == 0:
            block_events.insert(1, ("ping", {"type": "ping"}))  # the real API pings right after the first start
        events += block_events
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {k: v for k, v in _anthropic_usage(usage).items() if k not in ("cache_creation", "service_tier")},
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _anthropic_block_events(index: int, block: dict[str, Any]) -> list[Event]:
    if block["type"] == "text":
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": w} for w in words(block["text"])]
    else:
        opening = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(compact(block["input"]))]
    events: list[Event] = [("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": opening})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def anthropic_count_tokens(body: bytes) -> dict[str, Any]:
    """`POST /v1/messages/count_tokens`: the input a /v1/messages call with this body would be billed."""
    return {"input_tokens": plan_usage(body, "", cache_write=True, reasoning=0).input_total}


def anthropic_error(kind: str, message: str, key: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": stable_id("req_", key)}


# -- OpenAI Chat Completions -------------------------------------------------------------------------------------


def _chat_turn(request: dict[str, Any]) -> Turn:
    messages = request.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        calls = {c.get("id"): (c.get("function") or {}).get("name") for m in messages
                 for c in (m.get("tool_calls") or []) if isinstance(c, dict)}
        name = calls.get(last.get("tool_call_id")) or "tool"
        return Turn(tool_result_text(name, _result_text(last.get("content", ""))))
    functions = [t.get("function") or {} for t in request.get("tools") or [] if t.get("type") == "function"]
    if functions and request.get("tool_choice") != "none":
        chosen = functions[0]
        return Turn("", chosen.get("name", "function"), sample_arguments(chosen.get("parameters")))
    return Turn(reply_text("openai", _text_of(last.get("content"))))


def _chat_usage(usage: Usage) -> dict[str, Any]:
    prompt = usage.uncached_input + usage.cache_read
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "total_tokens": prompt + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def chat_completion(request: dict[str, Any], body: bytes, key: str) -> dict[str, Any]:
    """`POST /v1/chat/completions` without `stream`."""
    turn = _chat_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None, "refusal": None, "annotations": []}
    if turn.is_tool_call:
        message["tool_calls"] = [{"id": stable_id("call_", key), "type": "function",
                                  "function": {"name": turn.tool_name, "arguments": turn.args_json}}]
    return {
        "id": stable_id("chatcmpl-", key), "object": "chat.completion", "created": CREATED_AT,
        "model": request.get("model", "gpt-fake"),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if turn.is_tool_call else "stop"}],
        "usage": _chat_usage(usage), "service_tier": "default", "system_fingerprint": "fp_fake0001",
    }


def chat_completion_chunks(request: dict[str, Any], body: bytes, key: str) -> list[dict[str, Any]]:
    """`POST /v1/chat/completions` with `stream`: the chunk objects (each sent as `data: …`, then `[DONE]`).
    Usage comes only with `stream_options.include_usage`, in a last chunk with no choices, as the API does."""
    turn = _chat_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    base = {"id": stable_id("chatcmpl-", key), "object": "chat.completion.chunk", "created": CREATED_AT,
            "model": request.get("model", "gpt-fake"), "service_tier": "default",
            "system_fingerprint": "fp_fake0001"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        value = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return {**value, "usage": None} if include_usage else value

    if turn.is_tool_call:
        call_id = stable_id("call_", key)
        chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call_id, "type": "function", "function": {"name": turn.tool_name, "arguments": ""}}],
            "refusal": None})]
        chunks += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces(turn.args_json)]
        chunks.append(chunk({}, "tool_calls"))
    else:
        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": w}) for w in words(turn.text)]
        chunks.append(chunk({}, "stop"))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _chat_usage(usage)})
    return chunks


def openai_error(message: str, code: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# -- OpenAI Responses (also Codex's /backend-api/codex/responses and the WebSocket mode) --------------------------


def _responses_turn(request: dict[str, Any]) -> Turn:
    items = request.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    items = items or []
    last = items[-1] if items else {}
    if last.get("type") == "function_call_output":
        names = {i.get("call_id"): i.get("name") for i in items if i.get("type") == "function_call"}
        name = names.get(last.get("call_id")) or "tool"
        return Turn(tool_result_text(name, _result_text(last.get("output", ""))))
    functions = [t for t in request.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    if functions and request.get("tool_choice") != "none":
        chosen = functions[0]
        return Turn("", chosen.get("name", "function"), sample_arguments(chosen.get("parameters")))
    return Turn(reply_text("openai", _text_of(last.get("content"))))


def _responses_usage(usage: Usage) -> dict[str, Any]:
    prompt = usage.uncached_input + usage.cache_read
    return {
        "input_tokens": prompt, "input_tokens_details": {"cached_tokens": usage.cache_read},
        "output_tokens": usage.output, "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": prompt + usage.output,
    }


def _response_object(request: dict[str, Any], key: str, status: str, output: list[dict[str, Any]],
                     usage: dict[str, Any] | None) -> dict[str, Any]:
    """The Response object; request settings are echoed back the way the API does (instructions, tools…)."""
    return {
        "id": stable_id("resp_", key, length=48), "object": "response", "created_at": CREATED_AT,
        "status": status, "background": False, "error": None, "incomplete_details": None,
        "instructions": request.get("instructions"), "max_output_tokens": request.get("max_output_tokens"),
        "model": request.get("model", "gpt-fake"), "output": output, "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default", "store": request.get("store", True), "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
        "user": None, "metadata": request.get("metadata") or {},
    }


def _responses_item(turn: Turn, key: str, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    if turn.is_tool_call:
        return {"id": stable_id("fc_", key, length=48), "type": "function_call", "status": status,
                "arguments": turn.args_json if done else "", "call_id": stable_id("call_", key),
                "name": turn.tool_name}
    content = [_output_text(turn.text)] if done else []
    return {"id": stable_id("msg_", key, length=48), "type": "message", "status": status,
            "content": content, "role": "assistant"}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def response(request: dict[str, Any], body: bytes, key: str) -> dict[str, Any]:
    """`POST /v1/responses` without `stream`."""
    turn = _responses_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    return _response_object(request, key, "completed", [_responses_item(turn, key, True)], _responses_usage(usage))


def response_events(request: dict[str, Any], body: bytes, key: str) -> list[dict[str, Any]]:
    """The streamed Responses events (`type` names the SSE event), numbered by `sequence_number`."""
    turn = _responses_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    pending, done = _responses_item(turn, key, False), _responses_item(turn, key, True)
    item_id = done["id"]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object(request, key, "in_progress", [], None)},
        {"type": "response.in_progress", "response": _response_object(request, key, "in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0, "item": pending},
    ]
    if turn.is_tool_call:
        events += [{"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": 0,
                    "delta": p} for p in pieces(turn.args_json)]
        events.append({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": 0,
                       "arguments": turn.args_json})
    else:
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        events.append({"type": "response.content_part.added", **where, "part": _output_text("")})
        events += [{"type": "response.output_text.delta", **where, "delta": w, "logprobs": []}
                   for w in words(turn.text)]
        events.append({"type": "response.output_text.done", **where, "text": turn.text, "logprobs": []})
        events.append({"type": "response.content_part.done", **where, "part": _output_text(turn.text)})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": done})
    events.append({"type": "response.completed",
                   "response": _response_object(request, key, "completed", [done], _responses_usage(usage))})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


# -- Gemini generateContent --------------------------------------------------------------------------------------


def _gemini_turn(request: dict[str, Any]) -> Turn:
    contents = request.get("contents") or []
    last = contents[-1] if contents else {}
    parts = [p for p in last.get("parts") or [] if isinstance(p, dict)]
    answers = [p["functionResponse"] for p in parts if isinstance(p.get("functionResponse"), dict)]
    if answers:
        return Turn(tool_result_text(answers[-1].get("name", "tool"), compact(answers[-1].get("response", {}))))
    declarations = [d for t in request.get("tools") or [] if isinstance(t, dict)
                    for d in t.get("functionDeclarations") or t.get("function_declarations") or []]
    mode = ((request.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if declarations and mode != "NONE":
        chosen = declarations[0]
        schema = chosen.get("parameters") or chosen.get("parametersJsonSchema")
        return Turn("", chosen.get("name", "function"), sample_arguments(schema))
    said = " ".join(str(p.get("text", "")) for p in parts if "text" in p)
    return Turn(reply_text("gemini", said))


def _gemini_usage(usage: Usage, final: bool) -> dict[str, Any]:
    prompt = usage.uncached_input + usage.cache_read
    if not final:
        return {"promptTokenCount": prompt, "totalTokenCount": prompt}
    candidates = usage.output - usage.reasoning  # Gemini counts thoughts apart from the candidates
    return {
        "promptTokenCount": prompt, "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + usage.reasoning,
        "cachedContentTokenCount": usage.cache_read, "thoughtsTokenCount": usage.reasoning,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": usage.cache_read}],
    }


def _gemini_chunk(model: str, key: str, parts: list[dict[str, Any]], usage: dict[str, Any],
                  finished: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finished:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
            "responseId": stable_id("", key, length=22)}


def _gemini_parts(turn: Turn) -> list[dict[str, Any]]:
    if turn.is_tool_call:
        return [{"functionCall": {"name": turn.tool_name, "args": turn.tool_args or {}}}]
    return [{"text": turn.text}]


def gemini_response(model: str, request: dict[str, Any], body: bytes, key: str) -> dict[str, Any]:
    """`POST /v1beta/models/{model}:generateContent`."""
    turn = _gemini_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    return _gemini_chunk(model, key, _gemini_parts(turn), _gemini_usage(usage, True), True)


def gemini_stream_chunks(model: str, request: dict[str, Any], body: bytes, key: str) -> list[dict[str, Any]]:
    """`:streamGenerateContent`: text in three-word pieces, the last chunk with finishReason and full usage."""
    turn = _gemini_turn(request)
    usage = plan_usage(body, turn.visible_output, cache_write=False, reasoning=REASONING_TOKENS)
    if turn.is_tool_call:
        return [_gemini_chunk(model, key, _gemini_parts(turn), _gemini_usage(usage, True), True)]
    tokens = words(turn.text)
    groups = ["".join(tokens[i:i + 3]) for i in range(0, len(tokens), 3)]
    return [
        _gemini_chunk(model, key, [{"text": g}], _gemini_usage(usage, n == len(groups) - 1), n == len(groups) - 1)
        for n, g in enumerate(groups)
    ]


def gemini_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
