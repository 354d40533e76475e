"""A cluster too old for this backend is refused with the version it needs.

No Elasticsearch 8 node runs here (its test distribution would double the suite's start-up), so
a small HTTP server on 127.0.0.1 answers exactly as one does: an 8.x node rejects the 9.x
client's ``compatible-with=9`` media type with a 400 ``media_type_header_exception``; a node
that accepts it reports its version in the nodes-info API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web
from index_fixtures import SPECS

from core.errors import BackendTooOld
from core.index.elasticsearch import ElasticsearchIndex
from core.settings import ElasticsearchConfig

ES8_REFUSAL = {
    "error": {
        "root_cause": [{"type": "media_type_header_exception",
                        "reason": "Invalid media-type value on headers [Accept, Content-Type]"}],
        "type": "media_type_header_exception",
        "reason": "Invalid media-type value on headers [Accept, Content-Type]",
        "caused_by": {"type": "status_exception",
                      "reason": "Accept version must be either version 8 or 7, but found 9. "
                                "Accept=application/vnd.elasticsearch+json; compatible-with=9"},
    },
    "status": 400,
}


async def fake_cluster(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def reply(status: int, body: dict) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"X-Elastic-Product": "Elasticsearch"})


@pytest.mark.parametrize(("kind", "found"), [("refuses-v9-client", "8.x or older"), ("reports-8.19.4", "8.19.4")])
async def test_a_server_too_old_is_refused_naming_the_version_needed(tmp_path: Path, kind: str, found: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        if kind == "refuses-v9-client":
            assert "compatible-with=9" in request.headers.get("Accept", "")
            return reply(400, ES8_REFUSAL)
        return reply(200, {"nodes": {"n1": {"version": "8.19.4"}}})

    runner, url = await fake_cluster(handler)
    ix = ElasticsearchIndex(ElasticsearchConfig(hosts=[url], index="old", max_retries=0), tmp_path)
    try:
        with pytest.raises(BackendTooOld) as err:
            await ix.open(SPECS)
        assert err.value.params == {"found": found, "needed": "9.0.0"}
        assert "needs Elasticsearch 9.0.0 or newer" in str(err.value)
        assert "9.0.0" in err.value.user_message("zh")
    finally:
        await ix.close()
        await runner.cleanup()
