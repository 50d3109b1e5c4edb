"""/v1/patrols/rounds over HTTP: the edge's patrol.round results, filed per round (newest
result wins), read back by route and local day."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_testkit import T0, Central, central, patrol_round, round_result

from edge.rules.patrol_plan import Checkpoint, PatrolPlan
from edge.rules.patrol_round import CheckpointState, PatrolRound

# T0 is 2023-11-17T00:00Z; in Asia/Shanghai (+08:00) 22:00 on the 17th is 14:00Z, and the
# 02:00 round of that night starts on the 18th (local), 18:00Z.
NIGHT = T0 + 14 * 3600
SMALL_HOURS = T0 + 18 * 3600


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    with central(tmp_path_factory.mktemp("patrols")) as hub:
        north = ("north", NIGHT, "2023-11-17")
        hub.send(
            patrol_round(0, NIGHT, round_result(*north, "running", ["pending"] * 3)),
            patrol_round(
                0, NIGHT + 900, round_result(*north, "running", ["on_time", "late", "pending"])
            ),
            patrol_round(
                0, NIGHT + 1800, round_result(*north, "finished", ["on_time", "late", "missed"])
            ),
            patrol_round(
                0, NIGHT + 5, round_result("south", NIGHT, "2023-11-17", "running", ["early"])
            ),
        )
        # Late news: an older result of north, sent after the finished one, changes nothing.
        hub.send(
            patrol_round(
                0, NIGHT + 600, round_result(*north, "running", ["on_time", "pending", "pending"])
            )
        )
        hub.send(
            patrol_round(
                0,
                SMALL_HOURS,
                round_result("north", SMALL_HOURS, "2023-11-18", "running", ["pending"]),
            )
        )
        yield hub


def rounds(api: Central, **params: object) -> list[dict]:
    answer = api.get("/v1/patrols/rounds", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["rounds"]


def test_a_round_by_route_and_day_with_each_checkpoints_status(api: Central) -> None:
    (north,) = rounds(api, route="north", day="2023-11-17")
    assert (north["site"], north["building"], north["start"], north["state"]) == (
        "s1",
        "b1",
        NIGHT,
        "finished",
    )
    assert [c["status"] for c in north["checkpoints"]] == ["on_time", "late", "missed"]
    assert north["counts"] == {"on_time": 1, "late": 1, "early": 0, "missed": 1}
    assert north["complete"] is False


def test_a_day_lists_its_rounds_and_a_route_its_nights(api: Central) -> None:
    assert [(r["route"], r["day"]) for r in rounds(api, day="2023-11-17")] == [
        ("north", "2023-11-17"),
        ("south", "2023-11-17"),
    ]
    assert [(r["start"], r["state"]) for r in rounds(api, route="north")] == [
        (NIGHT, "finished"),
        (SMALL_HOURS, "running"),
    ]
    assert rounds(api, route="east") == []
    assert rounds(api, building="b2") == []


def test_bad_queries(api: Central) -> None:
    assert api.get("/v1/patrols/rounds", day="17/11/2023").status_code == 422
    assert api.get("/v1/patrols/rounds", who=None).status_code == 401


def test_the_edges_own_round_result_is_filed(tmp_path: Path) -> None:
    """The real PatrolRound.result shape (edge/rules/patrol_round.py), not a copy of it."""
    plan = PatrolPlan(
        route="lobby",
        checkpoints=(Checkpoint("cp1", "T1", 0.0, 60.0), Checkpoint("cp2", "T2", 300.0, 60.0)),
        starts=(),
        tz="Asia/Shanghai",
    )
    state = PatrolRound(
        "lobby",
        NIGHT,
        [
            CheckpointState("on_time", NIGHT + 10, scans=1),
            CheckpointState("missed", missed_at=NIGHT + 360),
        ],
        guard="G7",
        finished=True,
    )
    with central(tmp_path) as hub:
        hub.send(patrol_round(0, NIGHT + 400, state.result(plan)))
        (filed,) = rounds(hub, route="lobby", day="2023-11-17")
    # end: the last window closes at 300 + 60 s, and late scans count 600 s more (late_grace)
    assert (filed["guard"], filed["state"], filed["end"]) == ("G7", "finished", NIGHT + 960)
    assert [(c["checkpoint"], c["status"]) for c in filed["checkpoints"]] == [
        ("cp1", "on_time"),
        ("cp2", "missed"),
    ]
