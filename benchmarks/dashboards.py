"""Benchmark: the dashboards on a running stack (`make up` or `courtwatch superset up`).

    .venv/bin/python benchmarks/dashboards.py --label small [--conf local] [--repeat 20] [--runs 3]

Measures, as the guidance center (`guidance`, every row):
- each chart's query: the chart data API with force=true (the serving store
  queried, no results cache), `--repeat` times: p50 and p95, and the same
  from the results cache;
- each dashboard's time to fully drawn in headless Chromium (testbed/browser.py),
  cold (results cache emptied, as right after a publish) and warm, the median of `--runs`;
- the serving store's size (rows per table).
Writes benchmarks/dashboards-LABEL.json; results.md quotes it with the machine and command.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courtwatch import dashboard_assets, machine_description  # noqa: E402
from courtwatch.settings import load_profile  # noqa: E402
from courtwatch.superset_service import clear_results_cache  # noqa: E402
from testbed import browser as chromium  # noqa: E402

SLUGS = dashboard_assets.slugs()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def api_session(base: str, username: str, password: str) -> requests.Session:
    r = requests.post(f"{base}/api/v1/security/login", timeout=60,
                      json={"username": username, "password": password, "provider": "db", "refresh": False})
    r.raise_for_status()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return session


def chart_times(session: requests.Session, base: str, repeat: int) -> list[dict]:
    out = []
    for slug in SLUGS:
        charts = session.get(f"{base}/api/v1/dashboard/{slug}/charts", timeout=60).json()["result"]
        for chart in charts:
            timings = {}
            for mode, force in (("query", "true"), ("cached", "false")):
                seconds = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    r = session.get(f"{base}/api/v1/chart/{chart['id']}/data/", params={"force": force}, timeout=300)
                    seconds.append(time.perf_counter() - t)
                    r.raise_for_status()
                timings[mode] = {"p50_ms": round(1000 * statistics.median(seconds), 1),
                                 "p95_ms": round(1000 * percentile(seconds, 0.95), 1)}
            out.append({"dashboard": slug, "chart": chart["slice_name"], **timings,
                        "rows": len(r.json()["result"][0]["data"])})
    return out


def dashboard_times(base: str, username: str, password: str, profile, runs: int) -> list[dict]:
    assets = dashboard_assets.build()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        b = chromium.open_browser(Path(tmp) / "chrome")
        try:
            chromium.sign_in(b, base, username, password)
            for slug in SLUGS:
                n = chromium.chart_count(assets[f"dashboards/{slug}.yaml"])
                chromium.draw(b, base, slug, n)  # the page's own scripts and fonts in the browser cache
                cold, warm = [], []
                for _ in range(runs):
                    clear_results_cache(profile.superset.cache)
                    cold.append(chromium.draw(b, base, slug, n))
                    warm.append(chromium.draw(b, base, slug, n))
                out.append({"dashboard": slug, "charts": n, "cold_s": round(statistics.median(cold), 2),
                            "warm_s": round(statistics.median(warm), 2),
                            "cold_runs": [round(x, 2) for x in cold], "warm_runs": [round(x, 2) for x in warm]})
        finally:
            b.quit()
    return out


def store_size(path: str) -> dict[str, int]:
    con = duckdb.connect(path, read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="names the results file, e.g. small or national-90d")
    parser.add_argument("--conf", default="local")
    parser.add_argument("--user", default="guidance-01")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    profile = load_profile(args.conf)
    base = f"http://{profile.superset.host}:{profile.superset.port}"
    from courtwatch import superset_service

    password = superset_service.passwords(profile)[args.user]
    results = {
        "label": args.label, "machine": machine_description(),
        "command": " ".join(sys.argv), "at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "store_rows": store_size(profile.serving_store()),
        "charts": chart_times(api_session(base, args.user, password), base, args.repeat),
        "dashboards": dashboard_times(base, args.user, password, profile, args.runs),
    }
    out = ROOT / "benchmarks" / f"dashboards-{args.label}.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    worst = max(results["charts"], key=lambda c: c["query"]["p95_ms"])
    print(f"wrote {out}\nslowest chart query p95: {worst['query']['p95_ms']} ms ({worst['dashboard']}: {worst['chart']})")
    for d in results["dashboards"]:
        print(f"{d['dashboard']:10} {d['charts']:2} charts  cold {d['cold_s']:.2f}s  warm {d['warm_s']:.2f}s")


if __name__ == "__main__":
    main()
