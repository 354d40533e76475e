"""The adapters' place in the layering: nothing under ``adapters/`` imports the app (``bot``).

``bot.config`` composes the adapters' config sections and ``bot.wiring`` builds the adapters; an
import back the other way would make a cycle (adapters → bot → adapters).
"""

from __future__ import annotations

import ast
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def _bot_imports(path: Path) -> list[str]:
    """``file:line: statement`` for every import of ``bot`` or ``bot.*`` in ``path``, at any depth
    (function-local and ``TYPE_CHECKING`` imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "bot" or n.startswith("bot.") for n in names):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_walk_sees_every_adapter_module() -> None:
    files = {p.relative_to(ADAPTERS).as_posix() for p in ADAPTERS.rglob("*.py")}
    assert {"telegram/config.py", "discord/config.py", "common/ratelimit.py"} <= files


def test_no_adapter_module_imports_bot() -> None:
    offenders = [
        f"{p.parent.relative_to(ADAPTERS.parent)}/{line}" for p in sorted(ADAPTERS.rglob("*.py")) for line in _bot_imports(p)
    ]
    assert offenders == []


def test_the_check_catches_a_bot_import(tmp_path: Path) -> None:
    # The check itself, on a file it must refuse (so an empty result above means something).
    probe = tmp_path / "probe.py"
    text = "import bot.cli\nfrom bot.config import Config\nfrom bottle import x\nfrom .bot import y\n\ndef f():\n    import bot\n"
    probe.write_text(text, encoding="utf-8")
    assert _bot_imports(probe) == [
        "probe.py:1: import bot.cli",
        "probe.py:2: from bot.config import Config",
        "probe.py:7: import bot",
    ]
