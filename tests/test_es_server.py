"""The throwaway Elasticsearch node (tests/es_server.py) starts from a script of its own, too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# A fresh interpreter that has imported nothing else: the benchmarks start nodes that way. The
# launcher's child switches to the server's user before it runs; anything it imported there would
# be read as that user, who cannot read a Python installed under /root (how this failed: ctypes).
SCRIPT = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from es_server import EsServer
server = EsServer(heap="256m", fast_start=True)
server.start()
print(server.version)
server.close()
"""


def test_a_script_that_imported_nothing_else_starts_and_stops_a_node():
    run = subprocess.run([sys.executable, "-I", "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip()
