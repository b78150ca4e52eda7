/// The shipped price table, generated from `prices.json` beside this file (SwiftPM resources would need a
/// bundle; a literal keeps the binary self-contained). Regenerate with `scripts/gen-prices.py`.
enum DefaultPrices {
    static let json = #"""
[
  {"model": "claude-opus-4", "effective_from": "2025-05-22", "input": 15, "output": 75, "cache_read": 1.5, "cache_write_5m": 18.75, "cache_write_1h": 30},
  {"model": "claude-opus-4-5", "effective_from": "2025-11-24", "input": 5, "output": 25, "cache_read": 0.5, "cache_write_5m": 6.25, "cache_write_1h": 10},
  {"model": "claude-sonnet-4", "effective_from": "2025-05-22", "input": 3, "output": 15, "cache_read": 0.3, "cache_write_5m": 3.75, "cache_write_1h": 6, "tier_threshold": 200000, "tier_input": 6, "tier_output": 22.5, "tier_cache_read": 0.6, "tier_cache_write_5m": 7.5, "tier_cache_write_1h": 12},
  {"model": "claude-3-7-sonnet", "effective_from": "2025-02-24", "input": 3, "output": 15, "cache_read": 0.3, "cache_write_5m": 3.75, "cache_write_1h": 6},
  {"model": "claude-haiku-4-5", "effective_from": "2025-10-15", "input": 1, "output": 5, "cache_read": 0.1, "cache_write_5m": 1.25, "cache_write_1h": 2},
  {"model": "claude-3-5-haiku", "effective_from": "2024-10-22", "input": 0.8, "output": 4, "cache_read": 0.08, "cache_write_5m": 1, "cache_write_1h": 1.6},
  {"model": "claude-3-5-sonnet", "effective_from": "2024-06-20", "input": 3, "output": 15, "cache_read": 0.3, "cache_write_5m": 3.75, "cache_write_1h": 6},
  {"model": "claude-3-opus", "effective_from": "2024-03-04", "input": 15, "output": 75, "cache_read": 1.5, "cache_write_5m": 18.75, "cache_write_1h": 30},
  {"model": "claude-3-haiku", "effective_from": "2024-03-07", "input": 0.25, "output": 1.25, "cache_read": 0.03, "cache_write_5m": 0.3, "cache_write_1h": 0.5},
  {"model": "gpt-4.1-nano", "effective_from": "2025-04-14", "input": 0.1, "output": 0.4, "cache_read": 0.025},
  {"model": "gpt-5-nano", "effective_from": "2025-08-07", "input": 0.05, "output": 0.4, "cache_read": 0.005},
  {"model": "o3-mini", "effective_from": "2025-01-31", "input": 1.1, "output": 4.4, "cache_read": 0.55},
  {"model": "gemini-2.5-flash-lite", "effective_from": "2025-07-22", "input": 0.1, "output": 0.4, "cache_read": 0.025},
  {"model": "gpt-4o", "effective_from": "2024-08-06", "input": 2.5, "output": 10, "cache_read": 1.25},
  {"model": "gpt-4o-mini", "effective_from": "2024-07-18", "input": 0.15, "output": 0.6, "cache_read": 0.075},
  {"model": "gpt-4.1", "effective_from": "2025-04-14", "input": 2, "output": 8, "cache_read": 0.5},
  {"model": "gpt-4.1-mini", "effective_from": "2025-04-14", "input": 0.4, "output": 1.6, "cache_read": 0.1},
  {"model": "gpt-5", "effective_from": "2025-08-07", "input": 1.25, "output": 10, "cache_read": 0.125},
  {"model": "gpt-5-mini", "effective_from": "2025-08-07", "input": 0.25, "output": 2, "cache_read": 0.025},
  {"model": "gpt-5-codex", "effective_from": "2025-09-15", "input": 1.25, "output": 10, "cache_read": 0.125},
  {"model": "o3", "effective_from": "2025-06-10", "input": 2, "output": 8, "cache_read": 0.5},
  {"model": "o4-mini", "effective_from": "2025-04-16", "input": 1.1, "output": 4.4, "cache_read": 0.275},
  {"model": "gemini-2.5-pro", "effective_from": "2025-06-17", "input": 1.25, "output": 10, "cache_read": 0.31, "tier_threshold": 200000, "tier_input": 2.5, "tier_output": 15, "tier_cache_read": 0.625},
  {"model": "gemini-2.5-flash", "effective_from": "2025-06-17", "input": 0.3, "output": 2.5, "cache_read": 0.075},
  {"model": "gemini-2.0-flash", "effective_from": "2025-02-05", "input": 0.1, "output": 0.4, "cache_read": 0.025}
]
"""#
}
