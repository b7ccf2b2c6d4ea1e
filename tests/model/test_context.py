"""End to end with the real model: the right line needs a definition from another file."""

from __future__ import annotations

import subprocess

import pytest

from context.completion import CompletionService
from context.retrieval.repository import RepositoryContext
from context.settings import ContextSettings
from context.window import BudgetSettings
from engine.settings import GenerationSettings

LEDGER = '''"""The bank's ledger."""


class Ledger:
    """Money movements between accounts."""

    def __init__(self):
        self.entries = []

    def record_transfer_between(self, source_account: str, target_account: str, amount_cents: int) -> None:
        """Move money from one account to another."""
        self.entries.append((source_account, target_account, amount_cents))

    def balance_of(self, account: str) -> int:
        return sum(e[2] for e in self.entries if e[1] == account)
'''

PAYROLL = '''from bank.ledger import Ledger


def pay_salary(ledger: Ledger, employer: str, employee: str, salary_cents: int) -> None:
    """Pay one salary."""
    ledger.
'''


@pytest.mark.model
def test_context_supplies_the_other_files_definition(backend, tmp_path):
    root = tmp_path / "bank_repo"
    (root / "bank").mkdir(parents=True)
    (root / "bank" / "__init__.py").write_text("")
    (root / "bank" / "ledger.py").write_text(LEDGER)
    (root / "bank" / "payroll.py").write_text(PAYROLL)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    repo = RepositoryContext.open(
        root, ContextSettings(index_dir=str(tmp_path / "cache")), tokenizer=backend
    )
    repo.build()
    service = CompletionService(
        backend=backend,
        budgets=BudgetSettings(context_tokens=256),
        # A loaded CI machine can be slow: the deadline is not what this test is about.
        generation=GenerationSettings(deadline_ms=280_000),
        context_provider=repo.provider,
        repo_name=repo.repo_name,
    )
    line = PAYROLL.split("\n").index("    ledger.")
    # The path relative to the root, as the prompt's <|file_sep|> header should show it.
    completion = service.complete(
        PAYROLL, "bank/payroll.py", line, len("    ledger."), multiline="never"
    )
    context = completion.to_json()["context"]
    assert any(c["path"] == "bank/ledger.py" and c["source"] == "definition" for c in context)
    assert any("record_transfer_between" in c.text for c in completion.chunks)
    assert "record_transfer_between(" in completion.text, (
        completion.text,
        completion.stop_reason,
    )
    repo.close()
