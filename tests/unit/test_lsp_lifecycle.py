"""The server's lifecycle and routing, in process with stand-ins for the model (no I/O):
shutdown and reload close what was opened, commit buffers are routed once at didOpen,
and debouncing answers a superseded request empty while the newest one goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace import Workspace

import lsp.features.completion as completion_feature
from context.retrieval.repository import DebouncedUpdates
from engine.templates import QWEN
from lsp.features.assist import note_commit_buffer
from lsp.features.index import Indexing
from lsp.server import CoveServer, _load_with_progress
from lsp.settings import parse_settings


class FakeBackend:
    """What the server touches of a backend."""

    def __init__(self, name: str = "fake") -> None:
        self.model_name = name
        self.template = QWEN
        self.closed = False

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def close(self) -> None:
        self.closed = True


class FakeRepos:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def close(self) -> None:
        self.events.append("repos closed")


def make_server(tmp_path: Path | None = None, **options) -> CoveServer:
    ls = CoveServer()
    ls.settings, problems = parse_settings(options)
    assert problems == []
    ls.protocol._workspace = Workspace(tmp_path.as_uri() if tmp_path else None)
    ls.protocol.client_capabilities = types.ClientCapabilities()  # no progress, no documents
    return ls


def attach_fakes(ls: CoveServer, events: list[str]) -> tuple[FakeBackend, threading.Timer]:
    """A backend, repository contexts, a pending update timer and a running index build."""
    backend = ls.backend = FakeBackend()
    ls.repos = FakeRepos(events)
    ls.updates = DebouncedUpdates(delay_s=60)
    ls.updates.schedule(object(), "a.py")  # never runs: cancelled on close
    timer = next(iter(ls.updates._timers.values()))
    ls.indexing = Indexing()
    build: concurrent.futures.Future = concurrent.futures.Future()
    ls.indexing.jobs.add(build)

    def finish_when_cancelled() -> None:  # a build stops at its next batch
        ls.indexing.cancel.wait(10)
        events.append("build stopped")
        build.set_result(None)

    threading.Thread(target=finish_when_cancelled, daemon=True).start()
    return backend, timer


def test_shutdown_closes_backend_indexes_and_timers():
    events: list[str] = []
    ls = make_server()
    backend, timer = attach_fakes(ls, events)
    asyncio.run(ls.close())
    assert backend.closed and ls.backend is None and ls.session is None
    # The build was stopped and awaited before its database closed.
    assert events == ["build stopped", "repos closed"]
    assert timer.finished.is_set() and ls.repos is None and ls.updates is None
    asyncio.run(ls.close())  # a second shutdown does nothing
    assert events == ["build stopped", "repos closed"]


def test_a_model_reload_closes_the_old_backend_and_repositories(monkeypatch):
    import engine.backends

    events: list[str] = []
    ls = make_server()
    old, _ = attach_fakes(ls, events)
    new = FakeBackend("new")
    monkeypatch.setattr(engine.backends, "open_backend", lambda *args, **kwargs: new)
    asyncio.run(_load_with_progress(ls))
    assert ls.state == "ready" and ls.backend is new and ls.session.service.backend is new
    assert old.closed and not new.closed
    assert events == ["build stopped", "repos closed"]


def test_reload_with_context_reopens_the_index_and_closes_the_old_one(tmp_path, monkeypatch):
    import engine.backends

    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ls = make_server(tmp_path, budget={"contextTokens": 64})
    monkeypatch.setattr(engine.backends, "open_backend", lambda *a, **k: FakeBackend())

    async def load_twice():
        await _load_with_progress(ls)
        first = ls.repos
        for _ in range(200):  # the first build finishes on a thread
            if not ls.indexing.jobs:
                break
            await asyncio.sleep(0.01)
        opened = len(first._open)
        await _load_with_progress(ls)
        return first, opened

    first, opened = asyncio.run(load_twice())
    assert opened == 1 and ls.repos is not None and ls.repos is not first
    assert first._open == {}  # every index of the old contexts closed
    asyncio.run(ls.close())
    assert ls.repos is None


def test_commit_buffers_are_decided_when_they_open(tmp_path):
    ls = make_server()
    commit = (tmp_path / ".git" / "COMMIT_EDITMSG").as_uri()
    note_commit_buffer(ls, commit, "git-commit")
    note_commit_buffer(ls, (tmp_path / "main.py").as_uri(), "python")
    note_commit_buffer(ls, "untitled:Untitled-1", "plaintext")
    assert ls.commit_buffers == {commit: tmp_path / ".git"}


def inline_params(uri: str, kind=types.InlineCompletionTriggerKind.Automatic):
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=0),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


@pytest.fixture
def calls(monkeypatch):
    """Which path each inline request took: ("commit", uri) or ("complete", uri)."""
    seen: list[tuple[str, str]] = []

    async def fake_commit(ls, uri, repo, position):
        seen.append(("commit", uri))
        return types.InlineCompletionList(items=[])

    async def fake_complete(ls, uri, position, kind, explicit):
        seen.append(("complete", uri))
        return None

    monkeypatch.setattr(completion_feature, "commit_inline", fake_commit)
    monkeypatch.setattr(completion_feature, "_complete", fake_complete)
    return seen


def test_inline_requests_route_by_what_opened(tmp_path, calls):
    ls = make_server()
    commit = (tmp_path / ".git" / "COMMIT_EDITMSG").as_uri()
    code = (tmp_path / "main.py").as_uri()
    note_commit_buffer(ls, commit, "git-commit")

    async def run():
        await completion_feature.inline_completion(ls, inline_params(commit))
        await completion_feature.inline_completion(ls, inline_params(code))

    asyncio.run(run())
    assert calls == [("commit", commit), ("complete", code)]


def test_an_explicit_request_is_not_debounced(calls):
    ls = make_server(features={"debounceMs": 60000})
    uri = "file:///tmp/a.py"
    completion_feature.note_keystroke(ls)  # just typed: an automatic request waits

    async def run():
        older = asyncio.ensure_future(completion_feature.inline_completion(ls, inline_params(uri)))
        await asyncio.sleep(0.05)
        waiting = not older.done() and calls == []
        explicit = types.InlineCompletionTriggerKind.Invoked
        await completion_feature.inline_completion(ls, inline_params(uri, explicit))
        older.cancel()  # it would sleep out its minute, then answer empty
        return waiting

    assert asyncio.run(run())
    assert calls == [("complete", uri)]  # the explicit request went straight on


def test_a_superseded_request_answers_empty_after_its_wait(calls):
    ls = make_server(features={"debounceMs": 200})
    uri = "file:///tmp/b.py"
    completion_feature.note_keystroke(ls)

    async def run():
        first = asyncio.ensure_future(completion_feature.inline_completion(ls, inline_params(uri)))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(completion_feature.inline_completion(ls, inline_params(uri)))
        return await asyncio.gather(first, second)

    first, second = asyncio.run(run())
    assert first.items == [] and second.items == []
    assert calls == [("complete", uri)]  # two quick requests, one model call


def test_progress_goes_without_a_token_when_the_client_never_answers(monkeypatch):
    import lsp.progress

    class Silent:  # announces progress support, never answers window/workDoneProgress/create
        client_capabilities = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True)
        )

        class work_done_progress:  # noqa: N801  (the pygls attribute it stands for)
            @staticmethod
            def create_async(token):
                return asyncio.get_running_loop().create_future()

    monkeypatch.setattr(lsp.progress, "CREATE_TIMEOUT_S", 0.05)
    progress = asyncio.run(lsp.progress.Progress.begin(Silent(), "load", "Cove", "model"))
    assert progress.token is None
    progress.report("x", 10)  # no token: nothing is sent, nothing fails
    progress.end("done")
