"""Pulling a court's published batches over HTTP, against a real local HTTP server."""
from __future__ import annotations

import functools
import http.server
import json
import threading

import pytest
import requests

from courtwatch.court_pull import pull
from tests.handmade import Landing

pytestmark = pytest.mark.system


@pytest.fixture
def court_site(tmp_path):
    """A court publishing its landing-zone files and an index, like a static web server would."""
    site = Landing(tmp_path / "site")
    broken = {"on": False}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if broken["on"]:
                self.send_error(503, "court system down")
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    def publish():
        files = sorted(str(p.relative_to(site.root)) for p in site.root.rglob("*")
                       if p.is_file() and p.name != "index.json" and not str(p).startswith(str(site.root / "reference")))
        (site.root / "index.json").write_text(json.dumps({"files": files}))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site.root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}", publish, broken
    server.shutdown()


def test_pull_copies_whole_batches_once(court_site, tmp_path):
    site, url, publish, _ = court_site
    site.batch("cases", "B110001", "2026-09-01", [{"case_id": "c1"}], batch_id="b1")
    site.batch("hotline", "B110001", "2026-09-01", [{"call_id": "k1"}], batch_id="h1", gz=True)
    # an upload still in progress at the court: data file without its manifest
    site.batch("cases", "B110001", "2026-09-02", [{"case_id": "c2"}], batch_id="b2", with_manifest=False)
    publish()
    landing = tmp_path / "landing"

    first = pull(str(landing), "B110001", url)
    assert sorted(first.fetched) == ["cases/B110001/2026-09-01/b1.jsonl", "hotline/B110001/2026-09-01/h1.jsonl.gz"]
    for rel in first.fetched:
        assert (landing / rel).read_bytes() == (site.root / rel).read_bytes()
    assert (landing / "cases/B110001/2026-09-01/b1.manifest.json").exists()
    assert not (landing / "cases/B110001/2026-09-02").exists()
    assert not list(landing.rglob("*.part"))

    again = pull(str(landing), "B110001", url)
    assert again.fetched == [] and again.unchanged == 2

    # the court re-sends b1 with a new manifest: fetched again, for ingestion to judge
    site.batch("cases", "B110001", "2026-09-01", [{"case_id": "c1", "x": 1}], batch_id="b1")
    site.batch("cases", "B110001", "2026-09-02", [{"case_id": "c2"}], batch_id="b2")
    publish()
    third = pull(str(landing), "B110001", url)
    assert sorted(third.fetched) == ["cases/B110001/2026-09-01/b1.jsonl", "cases/B110001/2026-09-02/b2.jsonl"]
    assert (landing / "cases/B110001/2026-09-01/b1.jsonl").read_bytes() == \
        (site.root / "cases/B110001/2026-09-01/b1.jsonl").read_bytes()


def test_pull_refuses_paths_outside_the_courts_own_batches(court_site, tmp_path):
    site, url, _, _ = court_site
    (site.root / "index.json").write_text(json.dumps({"files": [
        "cases/B110002/2026-09-01/b1.manifest.json", "cases/B110002/2026-09-01/b1.jsonl",  # another court
        "../../etc/x.manifest.json", "cases/B110001/not-a-date/b1.manifest.json",
    ]}))
    result = pull(str(tmp_path / "landing"), "B110001", url)
    assert result.fetched == [] and len(result.refused) == 3
    assert not (tmp_path / "landing").exists() or not list((tmp_path / "landing").rglob("*.json*"))


def test_pull_fails_loudly_when_the_court_is_down(court_site, tmp_path):
    _, url, publish, broken = court_site
    publish()
    broken["on"] = True
    with pytest.raises(requests.RequestException):
        pull(str(tmp_path / "landing"), "B110001", url, retries=0)
