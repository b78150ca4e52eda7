#!/usr/bin/env python3
"""Regenerates Sources/sessiond/Pricing/DefaultPrices.swift from prices.json (validated first)."""
import json
from pathlib import Path

here = Path(__file__).resolve().parent.parent / "Sources" / "sessiond" / "Pricing"
data = (here / "prices.json").read_text()
json.loads(data)
(here / "DefaultPrices.swift").write_text(
    "/// The shipped price table, generated from `prices.json` beside this file (SwiftPM resources would need a\n"
    "/// bundle; a literal keeps the binary self-contained). Regenerate with `scripts/gen-prices.py`.\n"
    "enum DefaultPrices {\n    static let json = #\"\"\"\n" + data + "\"\"\"#\n}\n")
