"""`steward-edge replay`'s I/O: the history from the central API, the report printed.

The rules and the report are edge/replay.py's (pure). Readings are read with a user's
token (viewer role: GET /v1/series, GET /v1/series/{id}/data); the edge's own token
cannot read series. Every bad input or API failure is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.config import SiteConfig
from edge.replay import PAD, HistoryReading, replay, wanted_points


class ReplayError(Exception):
    """Bad input or an API that cannot answer: one line for the user."""


def parse_when(text: str, name: str, tz: str) -> float:
    """--from/--to: an ISO 8601 date or date-time; without an offset, the site's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReplayError(
            f"{name} {text!r}: not an ISO 8601 date-time, e.g. 2026-07-15T00:00+08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.timestamp()


def fetch_history(
    api: str,
    token: str,
    site: str,
    building: str,
    wanted: dict[str, set[str]],
    start: float,
    end: float,
    timeout: float = 30.0,
) -> list[HistoryReading]:
    """The wanted series' raw readings in [start, end) from the central API (a viewer's
    token: GET /v1/series, GET /v1/series/{id}/data, page by page)."""
    import httpx

    def get(client: httpx.Client, url: str, params: dict | None = None) -> dict:
        try:
            answer = client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise ReplayError(f"cannot reach the API at {api}: {exc}") from None
        if answer.status_code in (401, 403):
            raise ReplayError(
                f"the API at {api} refused the token ({answer.status_code} on "
                f"{answer.request.url.path}): replay needs a user token with the viewer role "
                "(an edge's token cannot read series)"
            )
        if answer.status_code != 200:
            raise ReplayError(
                f"the API at {api} answered {answer.status_code} on "
                f"{answer.request.url.path}: {answer.text[:200]}"
            )
        try:
            return answer.json()
        except ValueError:
            raise ReplayError(f"the API at {api} answered something that is not JSON") from None

    out: list[HistoryReading] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=timeout) as client:
        series: list[dict] = []
        url: str | None = "/v1/series"
        params: dict | None = {"site": site, "building": building}
        while url:
            page = get(client, url, params)
            series += page["series"]
            url, params = page.get("next"), None
        for info in series:
            if info["point"] not in wanted.get(info["device"], ()):
                continue
            url = f"/v1/series/{info['id']}/data"
            params = {"from": start, "to": end, "limit": 100_000}
            while url:
                page = get(client, url, params)
                for p in page["points"]:
                    out.append(
                        HistoryReading(
                            float(p["ts"]), info["device"], info["point"], p["value"],
                            info["unit"], p["quality"],
                        )
                    )  # fmt: skip
                url, params = page.get("next"), None
    return out


def run_replay(site: SiteConfig, args: argparse.Namespace, out=sys.stdout) -> int:
    """`steward-edge replay`: fetch the history, run the rules, print the report."""
    try:
        if site.demand is None:
            raise ReplayError(f"{site.path}: no demand: section, nothing to replay")
        start = parse_when(args.start, "--from", site.demand.tz)
        end = parse_when(args.end, "--to", site.demand.tz)
        if start >= end:
            raise ReplayError(f"--from {args.start} is not before --to {args.end}")
        if args.kw_per_k is not None and not args.kw_per_k > 0:
            raise ReplayError(f"--kw-per-k {args.kw_per_k}: give a positive kW per K")
        if not 0 < args.share_per_k <= 1:
            raise ReplayError(f"--share-per-k {args.share_per_k}: give a share in (0, 1]")
        api = args.api or (site.uplink.url if site.uplink is not None else None)
        if not api:
            raise ReplayError(f"{site.path}: no uplink: section; give --api URL")
        if args.token_file:
            try:
                token = Path(args.token_file).read_text().strip()
            except OSError as exc:
                raise ReplayError(f"--token-file {args.token_file}: {exc.strerror}") from None
        else:
            token = os.environ.get(args.token_env, "").strip()
        if not token:
            raise ReplayError(f"{args.token_file or '$' + args.token_env}: no token there")
        wanted = wanted_points(site.demand, site.control)
        readings = fetch_history(api, token, site.site, site.building, wanted, start, end + PAD)
    except ReplayError as exc:
        print(f"steward-edge replay: {exc}", file=sys.stderr)
        return 2
    report = replay(
        site.site, site.building, site.demand, site.control, readings, start, end,
        args.kw_per_k, args.share_per_k,
    )  # fmt: skip
    print(report.render(), file=out)
    return 0
