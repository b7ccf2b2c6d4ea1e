"""The secret scrubber: every kind it knows goes, ordinary code stays as it was.

Fake secrets are assembled from pieces so that no literal in this file looks like a
real credential to a secret scanner.
"""

from __future__ import annotations

import pytest

from engine.remote.scrub import PLACEHOLDER, scrub, scrub_chunk, scrub_text
from engine.types import ContextChunk

AWS_ID = "AKIA" + "Q3EXAMPLE7Z2KD4W"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY01"
GITHUB = "ghp_" + "x7Kq2" * 7 + "Ab"
GITHUB_FINE = "github_pat_" + "11ABCDEFG0" * 3
GITLAB = "glpat-" + "Zx9_Yw8-Vu7Ts6Rq5Po4"
SLACK = "xoxb-" + "1234567890-0987654321-" + "AbCdEfGhIjKlMnOp"
OPENAI = "sk-" + "proj-" + "Q1w2E3r4T5y6U7i8O9p0" * 2
GCP_KEY = "AIza" + "SyD-" + "9tSrke72PouQMnMX7cAMx3b1Zp4sRab"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + "."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    + "."
    + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq" + "/K1SZFPTOtr/KBHBeksoGMGw=="
)
PEM = (
    "-----BEGIN RSA PRIVATE " + "KEY-----\n"
    "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGcY\n"
    "5unA67hqxnfZ0YfVXmYt+PkLqlCZX7hvcnMUaz5ZTYp4\n"
    "-----END RSA PRIVATE " + "KEY-----"
)

SECRETS = {
    "aws id": f"aws_access_key_id = {AWS_ID}\n",
    "aws secret": f'aws_secret_access_key = "{AWS_SECRET}"\n',
    "github": f"curl -H 'X-Token: {GITHUB}' https://api.example.com\n",
    "github fine-grained": f"token_for_ci({GITHUB_FINE})\n",
    "gitlab": f"GL = '{GITLAB}'\n",
    "slack": f"client = WebClient({SLACK!r})\n",
    "openai": f"openai.api_base_key({OPENAI!r})\n",
    "gcp api key": f"const url = `https://maps.example.com/?k={GCP_KEY}`;\n",
    "jwt": f"headers = {{'X-Session': '{JWT}'}}\n",
    "pem": f"KEY = '''\n{PEM}\n'''\n",
    "azure": f'conn = "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net"\n',
    "postgres url": "DATABASE_URL = 'postgres://app:" + "s3cr3t-Pa55" + "@db.internal:5432/app'\n",
    "env password": "export DB_PASSWORD=" + "hunter2hunter" + "\n",
    "env token": "GITHUB_TOKEN=" + "abc123def456ghi" + "\n",
    "yaml secret": "  client_secret: " + "Zq8RtY2wVn5k" + "\n",
    "python literal": 'password = "' + "correct horse battery" + '"\n',
    "json api key": '{"apiKey": "' + "k-77f1a9c3e0b2d4" + '", "name": "x"}\n',
    "ado.net": 'cs = "Server=db;Database=app;User Id=sa;Password=' + "Pa55w0rdX" + ';"\n',
    "bearer header": "Authorization: Bearer " + "abcdef0123456789abcdef" + "\n",
}


def _secret_part(case: str) -> str:
    """The piece of each example that must not survive."""
    line = SECRETS[case]
    for known in (
        AWS_ID,
        AWS_SECRET,
        GITHUB,
        GITHUB_FINE,
        GITLAB,
        SLACK,
        OPENAI,
        GCP_KEY,
        JWT,
        AZURE_KEY,
    ):
        if known in line:
            return known
    if case == "pem":
        return "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn"
    for marker in (
        "s3cr3t-Pa55",
        "hunter2hunter",
        "abc123def456ghi",
        "Zq8RtY2wVn5k",
        "correct horse battery",
        "k-77f1a9c3e0b2d4",
        "Pa55w0rdX",
        "abcdef0123456789abcdef",
    ):
        if marker in line:
            return marker
    raise AssertionError(case)


@pytest.mark.parametrize("case", sorted(SECRETS))
def test_each_kind_of_secret_is_replaced(case):
    text = "def setup():\n    pass\n" + SECRETS[case] + "print('done')\n"
    cleaned, found = scrub(text)
    assert _secret_part(case) not in cleaned
    assert PLACEHOLDER in cleaned
    assert found, case
    # The code around the secret is untouched.
    assert cleaned.startswith("def setup():\n    pass\n")
    assert cleaned.endswith("print('done')\n")


def test_only_the_secret_part_of_an_assignment_goes():
    assert scrub_text('password = "' + "hunter2hunter" + '"') == f'password = "{PLACEHOLDER}"'
    assert (
        scrub_text("postgres://app:" + "pw12345" + "@db/app")
        == f"postgres://app:{PLACEHOLDER}@db/app"
    )
    assert scrub_text("DB_PASSWORD=" + "hunter2x") == f"DB_PASSWORD={PLACEHOLDER}"


def test_a_private_key_cut_by_a_chunk_boundary_goes_to_the_end():
    text = "x = 1\n" + PEM.split("-----END")[0]
    cleaned = scrub_text(text)
    assert cleaned == "x = 1\n" + PLACEHOLDER


def test_a_private_key_inside_a_json_string_goes():
    text = (
        '{"type": "service_account", "private_key": "' + PEM.replace("\n", "\\n") + '\\n", "x": 1}'
    )
    cleaned = scrub_text(text)
    assert "MIIEow" not in cleaned
    assert cleaned.endswith('\\n", "x": 1}')


@pytest.mark.parametrize(
    "code",
    [
        "password = get_password(user)\n",
        "self.token = token\n",
        "api_key = settings.api_key\n",
        "def check(password: str) -> bool:\n    return hash(password) == stored\n",
        "password: str\n",
        'token = os.environ["API_TOKEN"]\n',
        "conn = connect(host=h, password=pw)\n",
        "DB_PASSWORD=${DB_PASSWORD}\n",
        'password = ""\n',
        "if token is None:\n    raise ValueError('no token')\n",
        "url = 'https://example.com/path?page=2'\n",
        "const skip = items.slice(1);\n",
        "for key in keys:\n    print(key)\n",
    ],
)
def test_ordinary_code_is_left_alone(code):
    assert scrub_text(code) == code


def test_scrubbing_is_stable_and_idempotent():
    text = "".join(SECRETS.values())
    once = scrub_text(text)
    assert scrub_text(text) == once
    assert scrub_text(once) == once


def test_matches_never_carry_the_secret():
    _, found = scrub(SECRETS["github"] + SECRETS["env password"])
    assert {m.kind for m in found} == {"github-token", "env-assignment"}
    assert all(GITHUB not in repr(m) for m in found)


def test_scrub_chunk_keeps_path_and_source():
    chunk = ContextChunk(
        path="config/settings.py", text=SECRETS["aws id"], source="definition", score=0.5
    )
    cleaned = scrub_chunk(chunk)
    assert AWS_ID not in cleaned.text
    assert (cleaned.path, cleaned.source, cleaned.score) == (
        "config/settings.py",
        "definition",
        0.5,
    )
    plain = ContextChunk(path="a.py", text="x = 1\n")
    assert scrub_chunk(plain) is plain


def test_text_whose_lower_case_changes_length_is_still_scrubbed():
    # "İ" lower-cases to two code points, which must not shift the line lookup.
    text = "city = 'İstanbul'\n" * 3 + 'password = "' + "hunter2hunter" + '"\n'
    assert scrub_text(text) == "city = 'İstanbul'\n" * 3 + f'password = "{PLACEHOLDER}"\n'
