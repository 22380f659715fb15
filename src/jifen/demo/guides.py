"""What `jifen seed-demo` tells a newcomer last: for each guide in docs/guides, where it
is, which of the demo's settings (the env file `--env-file` writes) it uses, and a first
command to try against `make run`; and the village's public display page.

tests/test_demo_guides.py checks this against the guides themselves: every variable a
guide takes from the env file is listed here and written there, and each first command
runs against a real server.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Guide:
    path: str
    title: str
    variables: tuple[str, ...]  # what the guide takes from the env file
    first: str  # a first command (after `source <env file> &&`)


GUIDES = (
    Guide(
        "docs/guides/clerk.md",
        "the village clerk's app (村文书)",
        ("QINGQUAN_ID", "CLERK_KEY"),
        f'curl -fsS -H "Authorization: Bearer $CLERK_KEY" '
        f'"{BASE_URL}/v1/villages/$QINGQUAN_ID/members/search?q=zdf" | jq',
    ),
    Guide(
        "docs/guides/miniprogram.md",
        "a mini-program's back end (小程序后端)",
        ("CLIENT_ID", "CLIENT_SECRET", "BINDING_CODE"),
        f'curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials '
        f"{BASE_URL}/oauth/token | jq",
    ),
    Guide(
        "docs/guides/cashier.md",
        "the supermarket's till (积分超市收银)",
        ("QINGQUAN_ID", "CASHIER_KEY"),
        f'curl -fsS -H "Authorization: Bearer $CASHIER_KEY" '
        f'"{BASE_URL}/v1/members?village_id=$QINGQUAN_ID&limit=5" | jq ".items[].name"',
    ),
    Guide(
        "docs/guides/finance.md",
        "township finance (乡镇财政, 以奖代补)",
        ("TOWNSHIP_ID", "FINANCE_KEY", "QUARTER", "QINGQUAN_ID", "TOWNSHIP_ADMIN_KEY"),
        f'curl -fsS -H "Authorization: Bearer $FINANCE_KEY" '
        f'"{BASE_URL}/v1/villages/$QINGQUAN_ID/participation?quarter=$QUARTER" | jq',
    ),
    Guide(
        "docs/guides/operator.md",
        "running jifen (运维)",
        ("AUDITOR_KEY", "TOWNSHIP_ID"),
        "jifen verify --all",
    ),
)


def lines(*, env_file: str, township_code: str, village_codes: list[str]) -> list[str]:
    """The closing block of the seed's output."""
    out = [f"Try a guide (after `make run`; the settings are in {env_file}):"]
    for guide in GUIDES:
        out += [
            f"  {guide.path} — {guide.title}",
            f"    uses {', '.join('$' + name for name in guide.variables)}",
            f"    first: source {env_file} && {guide.first}",
        ]
    out.append("The public display (公示栏, no sign-in):")
    out += [f"  {BASE_URL}/p/{township_code}/{code}" for code in village_codes]
    return out
