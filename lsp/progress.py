"""Work-done progress ($/progress) for long server work: loading the model, indexing.

One token per piece of work; a client that does not support progress (or refuses the
token) gets none, and the work goes on all the same.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types

log = logging.getLogger(__name__)
CREATE_TIMEOUT_S = 10.0


def supports_progress(ls) -> bool:
    """True when the client announced window.workDoneProgress."""
    window = ls.client_capabilities.window if ls.client_capabilities else None
    return bool(window and window.work_done_progress)


class Progress:
    """One progress token: `begin`, then `report` (on the event loop) and `end`."""

    def __init__(self, ls, token: str | None) -> None:
        self.ls = ls
        self.token = token  # None: the client gets no progress
        self._percentage: int | None = None

    @classmethod
    async def begin(
        cls, ls, name: str, title: str, message: str, percentage: int | None = None
    ) -> Progress:
        """Create the token and send the begin notification (silently none if unsupported)."""
        if not supports_progress(ls):
            return cls(ls, None)
        token = f"cove-{name}-{uuid.uuid4().hex[:8]}"
        try:
            # A client that never answers must not hold up the model load or the index.
            await asyncio.wait_for(ls.work_done_progress.create_async(token), CREATE_TIMEOUT_S)
            ls.work_done_progress.begin(
                token,
                types.WorkDoneProgressBegin(title=title, message=message, percentage=percentage),
            )
        except Exception:  # a client that refuses progress still gets the work done
            log.debug("progress %s refused", token, exc_info=True)
            return cls(ls, None)
        return cls(ls, token)

    def report(self, message: str, percentage: int) -> None:
        """A step, sent only when the percentage moved."""
        if self.token is None or percentage == self._percentage:
            return
        self._percentage = percentage
        self.ls.work_done_progress.report(
            self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
        )

    def end(self, message: str) -> None:
        """The work is done (or failed: `message` says which)."""
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.token = None
