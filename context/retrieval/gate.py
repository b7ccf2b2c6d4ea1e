"""When a request gets repository context at all (`generation.contextWhen`).

"always", or "api": only while the cursor completes a member or a call (`name.` or `name(`
and the word typed after it), where context gains most (README, "Real code"). Asked before
retrieval, so a request that gets none costs no retrieval either.
"""

from __future__ import annotations

import re

CONTEXT_WHEN = ("api", "always")
API_CURSOR = re.compile(r"[A-Za-z_$][\w$]*[.(][\w$]*$")


def wants_context(when: str, line_prefix: str) -> bool:
    """Whether a request at this cursor (its line up to the cursor) gets repository context."""
    return when == "always" or bool(API_CURSOR.search(line_prefix))
