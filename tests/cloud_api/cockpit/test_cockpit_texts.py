"""The cockpit page's files, read as text (no browser): both languages have every text,
every text the code asks for exists, every state, code and kind the API can send has its
words, and nothing points outside this origin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cloud_api.auth import PERMISSIONS, Role
from cloud_api.hazards import Action, HazardState, Severity
from device_profiles.wire_rules import ACCESS_KINDS
from edge.control.priority import SLOT_NAMES
from edge.energy.meter_tree import MAIN, SYSTEMS, UNCLASSIFIED
from edge.rules.alarm_codes import ALARM_CODES
from edge.rules.alarms import State

STATIC = Path(__file__).parents[3] / "cloud_api" / "cockpit" / "static"
LANGS = ("zh-CN", "en")
SCRIPTS = sorted(STATIC.rglob("*.js"))
# A string literal shaped like a text key: "namespace.name" (dots, lower case).
KEY_LITERAL = re.compile(r"""["'`]([a-z][a-z0-9_]*(?:\.[a-z0-9_-]+)+)["'`]""")


def dictionary(lang: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    zh, en = dictionary("zh-CN"), dictionary("en")
    assert set(zh) - set(en) == set(), "keys only in zh-CN"
    assert set(en) - set(zh) == set(), "keys only in en"
    for lang, texts in (("zh-CN", zh), ("en", en)):
        empty = [key for key, text in texts.items() if not isinstance(text, str) or not text]
        assert empty == [], f"{lang}: empty texts"
    # The two differ where a language shows: Chinese in zh-CN, none in en.
    han = re.compile(r"[\u4e00-\u9fff]")
    assert han.search(zh["nav.overview"]) and not han.search(en["nav.overview"])
    in_english = [key for key, text in en.items() if han.search(text) and key != "lang.switch_to"]
    assert in_english == [], "Chinese in the English dictionary"


def test_every_text_key_in_the_code_exists() -> None:
    texts = dictionary("zh-CN")
    namespaces = {key.split(".", 1)[0] for key in texts}
    # Literals the code compares with or asks about, not texts.
    data_values = set(ACCESS_KINDS) | set(ALARM_CODES) | set(PERMISSIONS)
    missing = []
    for script in SCRIPTS:
        for literal in KEY_LITERAL.findall(script.read_text("utf-8")):
            looks_like_text = literal.split(".", 1)[0] in namespaces
            if looks_like_text and literal not in data_values and literal not in texts:
                missing.append(f"{script.relative_to(STATIC)}: {literal}")
    assert missing == []


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("alarm.state.", [s.value for s in State]),
        ("hazard.state.", [s.value for s in HazardState]),
        ("hazard.action.", [a.value for a in Action]),
        ("hazard.step.", ["create", *(a.value for a in Action)]),
        ("severity.", [s.value for s in Severity]),
        ("code.", list(ALARM_CODES)),
        ("kind.", list(ACCESS_KINDS)),
        ("system.", [MAIN, *SYSTEMS, UNCLASSIFIED]),
        ("slot.", [str(slot) for slot in SLOT_NAMES]),
        ("role.", [r.value for r in Role]),
        ("door.state.", ["open", "closed", "forced", "held_open", "unknown"]),
        ("patrol.status.", ["on_time", "late", "early", "missed", "pending"]),
        ("alarm.action.", ["ack", "shelve", "unshelve"]),
        ("colour.", ["green", "yellow", "red", "none"]),
        ("nav.", ["overview", "energy", "security", "hazards", "control"]),
    ],
)
def test_every_value_the_api_sends_has_words(prefix: str, values: list[str]) -> None:
    for lang in LANGS:
        texts = dictionary(lang)
        assert [v for v in values if prefix + v not in texts] == [], lang


def test_nothing_points_outside_this_origin() -> None:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".html", ".js", ".css", ".json"}
    for path in files:
        text = path.read_text("utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|@font-face", text), path
    index = (STATIC / "index.html").read_text("utf-8")
    # Scripts come from files (no inline code): a Content-Security-Policy can forbid inline.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", index, re.S)
    assert len(scripts) == index.count("<script") == 2
    assert all("src=" in attributes and not body.strip() for attributes, body in scripts)
    assert 'src="/cockpit/vendor/echarts/echarts.min.js"' in index


def test_the_shell_preloads_every_module_of_the_page() -> None:
    """index.html asks for every module at once (modulepreload): a module left out still
    works but arrives one import level later, slowing the first figures."""
    shell = (STATIC / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/cockpit/static/([^"]+)">', shell))
    modules = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js")}
    assert preloaded == modules
