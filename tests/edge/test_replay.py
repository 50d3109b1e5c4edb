"""`steward-edge replay`: the site's demand and control rules over stored history.

The scenario, by hand: 2026-07-15 00:00-01:00 +08:00, readings every 30 s. The main meter's
energy_import grows 1 kWh per 30 s = 120 kW in every block; the limit is 100 kW, margin 0.
Four zones (priorities 1-4) each record 20 kW of active_power and a cooling setpoint of 26
(history never moves: nothing was written). Limiter defaults: 0.5 K a step, at most 2
zones a step and half of the 4 zones shed at once, a step every confirm = 300 s, max setup
2 K. The demand rule predicts once half its 300 s rate window is covered: at 00:02:30
(120 kW >= 100: at risk), so zones 1 and 2 get +0.5 K at 00:02:30, +1.0 at 00:07:30, +1.5
at 00:12:30, +2.0 at 00:17:30, then nothing is left to shed (the share cap holds zones 3
and 4 back); futility is off in replay (history cannot respond).

Estimated reduction (edge/replay.py): each shed zone saves k kW per K of setup; the setup
ramps 0.5 K per 300 s, in step with the limiter here. Savings of the two zones together:
2 * k * setup, i.e. with the default k = 0.25 * 20 = 5 kW/K: 5 kW from 02:30, 10 from 07:30,
15 from 12:30, 20 from 17:30.
  block 00:00: (5*300 + 10*300 + 15*150) / 900 = 6750/900 = 7.5 kW
  block 00:15: (15*150 + 20*750) / 900 = 17250/900 = 19.1667 kW
  blocks 00:30, 00:45: 20 kW
With --kw-per-k 4 (k = 4): 4, 8, 12, 16 kW: block 00:00 (1200+2400+1800)/900 = 6.0 kW,
block 00:15 (12*150 + 16*750)/900 = 15.3333 kW, then 16 kW.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from central import add_edge, add_user, start_api
from servers import free_port, stop

from edge.config import load_site
from edge.replay import HistoryReading, replay

T0 = 1784044800.0  # 2026-07-15 00:00 +08:00
STEPS = 3600 // 30 + 11  # an hour and 5 minutes of 30 s readings (the last block closes)
SITE = "test-site"  # central.add_edge's site
ZONE_POINTS = {
    "cooling_setpoint": ("degC", 26.0),
    "heating_setpoint": ("degC", 20.0),
    "active_power": ("kW", 20.0),
    "mode": ("", 0.0),
    "running_state": ("", 1.0),
}


def site_file(tmp_path: Path, url: str = "http://127.0.0.1:9") -> Path:
    zones = "".join(f"    - {{device: ahu-{u}, priority: {u}}}\n" for u in range(1, 5))
    path = tmp_path / "site.yaml"
    path.write_text(
        f"""site: {SITE}
building: hall
outbox: {{path: outbox.sqlite}}
uplink: {{url: '{url}', token: unused}}
buses: [{{id: hv, tcp: {{host: 127.0.0.1, port: 5021}}}}]
devices:
  - {{id: 'ahu-{{unit}}', bus: hv, profile: steward/hvac-zone, units: '1-4', interval: 30s}}
  - {{id: main, bus: hv, profile: chint/dtsu666, unit: 100, interval: 30s}}
demand: {{meter: main, limit_kw: 100}}
control:
  mode: control
  zones:
{zones}"""
    )
    return path


def history() -> list[HistoryReading]:
    out = []
    for i in range(STEPS):
        t = T0 + 30 * i
        out.append(HistoryReading(t, "main", "energy_import", 1000.0 + i, "kWh"))
        for u in range(1, 5):
            for point, (unit, value) in ZONE_POINTS.items():
                out.append(HistoryReading(t, f"ahu-{u}", point, value, unit))
    return out


def test_replay_lists_blocks_over_the_limit_sheds_advice_and_the_hand_estimate(
    tmp_path: Path,
) -> None:
    site = load_site(site_file(tmp_path))
    rep = replay(SITE, "hall", site.demand, site.control, history(), T0, T0 + 3600)
    assert [(b.start - T0, b.demand_kw, b.over) for b in rep.blocks] == [
        (0.0, 120.0, True), (900.0, 120.0, True), (1800.0, 120.0, True), (2700.0, 120.0, True)
    ]  # fmt: skip
    assert [round(b.reduction_kw, 4) for b in rep.over] == [7.5, 19.1667, 20.0, 20.0]
    assert [round(b.estimated_kw, 4) for b in rep.over] == [112.5, 100.8333, 100.0, 100.0]
    sheds = [(a.ts - T0, a.zone, a.setup_k) for a in rep.actions]
    assert sheds == [
        (t, zone, k)
        for t, k in ((150, 0.5), (450, 1.0), (750, 1.5), (1050, 2.0))
        for zone in ("ahu-1", "ahu-2")
    ]
    assert all(a.kind == "shed" for a in rep.actions)
    # Advice: the first at the first shed, then one per zone every 5 min (the rate
    # interlock), each from the recorded 26 degC: 02:30, 07:30, ..., 57:30 = 12 per zone.
    assert rep.writes_per_zone() == {"ahu-1": 12, "ahu-2": 12}
    assert {(w.value, w.before) for w in rep.writes} == {(26.5, 26.0)}
    assert [w.target for w in rep.writes if w.device == "ahu-1"][:5] == [26.5, 27, 27.5, 28, 28]
    # In control mode the ramp would step each zone 26 -> 28 in 4 writes.
    assert len(rep.stepped) == 8
    text = rep.render()
    assert "4 over the limit" in text and "an estimate, not a measurement" in text
    assert "0.25 x its recorded active_power" in text


def test_replay_estimate_with_a_given_kw_per_k(tmp_path: Path) -> None:
    site = load_site(site_file(tmp_path))
    rep = replay(SITE, "hall", site.demand, site.control, history(), T0, T0 + 3600, kw_per_k=4)
    assert [round(b.reduction_kw, 4) for b in rep.over] == [6.0, 15.3333, 16.0, 16.0]
    assert "4 kW (--kw-per-k)" in rep.render()


def test_replay_under_the_limit_sheds_nothing(tmp_path: Path) -> None:
    path = site_file(tmp_path)
    path.write_text(path.read_text().replace("limit_kw: 100", "limit_kw: 130"))
    site = load_site(path)
    rep = replay(SITE, "hall", site.demand, site.control, history(), T0, T0 + 3600)
    assert len(rep.blocks) == 4 and rep.over == []
    assert rep.actions == [] and rep.writes == []


# ---------------------------------------------------------------- through the real API


def _batches(records: list[dict], size: int = 400) -> list[dict]:
    return [
        {"site": SITE, "building": "hall", "lane": "readings", "records": records[i : i + size]}
        for i in range(0, len(records), size)
    ]


def _records() -> list[dict]:
    by_key: dict[tuple[float, str], list[dict]] = {}
    for r in history():
        kind = "counter" if r.point == "energy_import" else "gauge"
        by_key.setdefault((r.ts, r.device), []).append(
            {"point": r.point, "value": r.value, "unit": r.unit, "kind": kind}
        )
    return [
        {"seq": n, "ts": ts, "device": dev, "points": pts}
        for n, ((ts, dev), pts) in enumerate(sorted(by_key.items()), start=1)
    ]


def _replay(site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "replay", str(site), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("api")
    db = directory / "api.sqlite"
    edge_token = add_edge(db)
    viewer = add_user(db, "vera", "viewer")
    port = free_port()
    proc = start_api(db, port, directory / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for batch in _batches(_records()):
                answer = client.post(
                    "/v1/ingest",
                    content=orjson.dumps(batch),
                    headers={
                        "Authorization": f"Bearer {edge_token}",
                        "Content-Type": "application/json",
                    },
                )
                assert answer.status_code == 200, answer.text
        yield url, viewer, edge_token
    finally:
        stop(proc)


def test_replay_cli_reads_history_from_the_api(api, tmp_path: Path) -> None:
    url, viewer, _ = api
    site = site_file(tmp_path, url)  # --api defaults to the uplink's url
    token = tmp_path / "viewer.token"
    token.write_text(viewer + "\n")
    done = _replay(
        site, "--from", "2026-07-15T00:00+08:00", "--to", "2026-07-15T01:00", "--token-file",
        str(token),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "blocks: 4 (4 complete), 4 over the limit" in out, out
    assert "7.5 kW" in out and "19.2 kW" in out and "112.5 kW (still over)" in out
    assert "limiter: 8 sheds, 0 releases, 0 futile" in out
    assert "writes it would have made: 24 (ahu-1 12, ahu-2 12)" in out
    assert "2026-07-15 00:02:30 shed    ahu-1 setup +0.5 K" in out
    assert "an estimate, not a measurement" in out


def test_replay_cli_bad_input_is_one_line_and_exit_2(api, tmp_path: Path) -> None:
    url, viewer, edge_token = api
    site = site_file(tmp_path, url)
    good = tmp_path / "viewer.token"
    good.write_text(viewer)
    edge_file = tmp_path / "edge.token"
    edge_file.write_text(edge_token)
    span = ("--from", "2026-07-15T00:00+08:00", "--to", "2026-07-15T01:00+08:00")
    cases = {
        "refused the token (403": _replay(site, *span, "--token-file", str(edge_file)),
        "--from 2026-07-15T02:00 is not before --to": _replay(
            site,
            "--from",
            "2026-07-15T02:00",
            "--to",
            "2026-07-15T01:00",
            "--token-file",
            str(good),
        ),
        "cannot reach the API at http://127.0.0.1:": _replay(
            site, *span, "--api", f"http://127.0.0.1:{free_port()}", "--token-file", str(good)
        ),
        "missing.yaml": _replay(tmp_path / "missing.yaml", *span, "--token-file", str(good)),
    }
    for expected, done in cases.items():
        assert done.returncode == 2, (expected, done.stdout, done.stderr)
        assert expected in done.stderr, (expected, done.stderr)
        assert "Traceback" not in done.stderr
    assert len(cases["refused the token (403"].stderr.strip().splitlines()) == 1
