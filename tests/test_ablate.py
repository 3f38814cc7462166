"""Rule ablation (eval/ablate.py): flips by hand, the docs section rewrite, and a real run over a stand-in registry.

The answering core's registry (assistant.pipeline.rules.RULES, Settings.disabled_rules) is being built
elsewhere; until it lands, the run below uses a stand-in defined here only: the real assistant whose
two stand-in rules are switched by ``disabled_rules`` the way the real ones will be.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from assistant.service import Assistant
from assistant.settings import Settings
from eval.ablate import (
    MARK_END,
    MARK_START,
    AblationError,
    Flips,
    ablate,
    ablation_table,
    flips,
    load_rules,
    rewrite_section,
    section_body,
    without_rule,
)
from eval.dataset import parse_item
from eval.splits import load_split


# --- flips and the table, by hand ----------------------------------------------------------------
def test_flips_lists_both_directions_in_item_order():
    before = {"a": True, "b": False, "c": True, "d": False, "e": True}
    after = {"e": False, "d": True, "c": True, "b": False, "a": False}
    assert flips(before, after) == Flips(("a", "e"), ("d",))
    assert flips(before, after).total == 3
    assert flips(before, dict(before)) == Flips((), ())


def test_flips_refuses_different_items():
    with pytest.raises(ValueError, match="same items"):
        flips({"a": True}, {"b": True})


RESULT = {
    "splits": {"dev": {"items": 4, "right": 3}, "test": {"items": 5, "right": 4}},
    "rules": {
        "carries-one": {"description": "one | item", "dev": Flips(("d1",), ()).to_dict(),
                        "test": Flips((), ()).to_dict()},
        "general": {"description": "several items", "dev": Flips(("d1", "d2"), ("d3",)).to_dict(),
                    "test": Flips(("t1",), ()).to_dict()},
    },
}


def test_ablation_table_by_hand():
    lines = ablation_table(RESULT).splitlines()
    assert lines[0] == ("| Rule turned off | What it does | dev right→wrong | dev wrong→right | test right→wrong "
                        "| test wrong→right | Flipped (all splits) | Items flipped |")
    assert len(lines) == 4
    assert lines[2] == "| `carries-one` | one \\| item | 1 | 0 | 0 | 0 | **1** | dev: −d1 |"
    assert lines[3] == "| `general` | several items | 2 | 1 | 1 | 0 | 4 | dev: −d1, −d2, +d3; test: −t1 |"


def test_section_body_names_the_command_and_the_baseline():
    body = section_body(RESULT, "python -m eval.ablate --split both")
    assert body.startswith("Written by `python -m eval.ablate --split both`. With every rule on: dev 3/4 right, "
                           "test 4/5 right.")
    assert ablation_table(RESULT) in body
    assert "nothing to turn off" in section_body({**RESULT, "rules": {}}, "x")


# --- the docs section ----------------------------------------------------------------------------
def test_rewrite_section_replaces_only_what_is_between_the_markers():
    text = f"# Doc\n\nbefore\n{MARK_START}\nold table\n{MARK_END}\nafter\n"
    new = rewrite_section(text, "new table\n")
    assert new == f"# Doc\n\nbefore\n{MARK_START}\nnew table\n{MARK_END}\nafter\n"
    assert rewrite_section(new, "new table") == new  # idempotent


def test_rewrite_section_accepts_an_older_start_marker_wording():
    text = "a\n<!-- ablation:start -->\nold\n" + MARK_END + "\nb\n"
    assert rewrite_section(text, "t") == f"a\n{MARK_START}\nt\n{MARK_END}\nb\n"


def test_rewrite_section_appends_when_there_are_no_markers():
    assert rewrite_section("# Doc\ntext\n\n", "t") == f"# Doc\ntext\n\n{MARK_START}\nt\n{MARK_END}\n"


@pytest.mark.parametrize("text", [
    f"{MARK_START}\nno end\n",
    f"no start\n{MARK_END}\n",
    f"{MARK_END}\n{MARK_START}\n",
    f"{MARK_START}\n{MARK_END}\n{MARK_START}\n{MARK_END}\n",
])
def test_rewrite_section_refuses_broken_markers(text):
    with pytest.raises(AblationError, match="expected one"):
        rewrite_section(text, "t")


# --- the registry -------------------------------------------------------------------------------
def test_a_missing_registry_is_one_clear_line_and_exit_1(monkeypatch, capsys):
    from eval.ablate import main

    monkeypatch.setitem(sys.modules, "assistant.pipeline.rules", None)  # import fails, whatever the tree holds
    assert main(["--split", "dev", "--no-doc"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: No rule registry to ablate")
    assert "assistant.pipeline.rules" in err


def test_settings_without_disabled_rules_are_refused(monkeypatch):
    import types

    registry = types.ModuleType("assistant.pipeline.rules")
    registry.RULES = {"a": "a rule"}
    monkeypatch.setitem(sys.modules, "assistant.pipeline.rules", registry)

    @dataclasses.dataclass(frozen=True)
    class Plain:
        abstain_below: float = 0.15

    with pytest.raises(AblationError, match="Plain has no field disabled_rules"):
        load_rules(Plain)
    assert load_rules(RuleSettings) == {"a": "a rule"}
    registry.RULES = {"a": 1}
    with pytest.raises(AblationError, match="one-line descriptions"):
        load_rules(RuleSettings)


def test_unknown_rule_names_are_refused_before_the_model_loads(monkeypatch, capsys):
    import types

    from eval.ablate import main

    registry = types.ModuleType("assistant.pipeline.rules")
    registry.RULES = {"known": "a rule"}
    monkeypatch.setitem(sys.modules, "assistant.pipeline.rules", registry)
    monkeypatch.setattr("eval.ablate.load_rules", lambda: dict(registry.RULES))  # the real Settings may lack the field
    assert main(["--rules", "known,nope", "--no-doc"]) == 1
    assert "unknown rule(s): nope. Known: known." in capsys.readouterr().err


# --- a real run over the stand-in ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RuleSettings(Settings):
    """Settings with the field the answering core is adding (stand-in for this test only)."""

    disabled_rules: tuple[str, ...] = ()


STAND_IN_RULES = {
    "history": "a follow-up is read with the conversation so far",
    "unused": "a rule the answerer never consults",
}


class StandInAssistant(Assistant):
    """The real assistant; its stand-in rule ``history`` can be turned off by ``settings.disabled_rules``."""

    def ask(self, question, history=None, documents=None):
        if "history" in self.settings.disabled_rules:
            history = []
        return super().ask(question, history, documents)


@pytest.fixture(scope="module")
def stand_in(assistant):
    settings = RuleSettings(**{f.name: getattr(assistant.settings, f.name) for f in dataclasses.fields(Settings)})
    return StandInAssistant(settings, assistant.embedder, assistant.store, assistant.catalog)


WEATHER = parse_item({"id": "weather", "kind": "unanswerable", "question": "What will the weather be in Boston?",
                      "history": [], "answerable": False, "key_facts": [], "evidence": None}, "weather")


def test_without_rule_reuses_the_opened_parts(stand_in):
    variant = without_rule(stand_in, "history")
    assert type(variant) is StandInAssistant and variant.settings.disabled_rules == ("history",)
    assert (variant.embedder, variant.store, variant.catalog) == (stand_in.embedder, stand_in.store, stand_in.catalog)
    assert stand_in.settings.disabled_rules == ()  # the base is untouched


def test_ablation_flips_match_separate_runs_and_name_the_follow_ups(stand_in, tmp_path):
    from eval.runner import AssistantSystem, run_eval

    dev = load_split("dev")
    follow_ups = [it for it in dev if it.kind == "follow-up" and it.history]
    items = {"dev": follow_ups + [it for it in dev if it.kind == "fact"][:2], "extra": [WEATHER]}
    said = []
    result = ablate(stand_in, STAND_IN_RULES, items, say=said.append)

    assert list(result["rules"]) == ["history", "unused"] and len(said) == 2
    assert result["rules"]["unused"]["dev"]["total"] == result["rules"]["unused"]["extra"]["total"] == 0
    # the same flips as two ordinary eval runs, with and without the rule
    runs = {}
    for label, assistant in (("on", stand_in), ("off", without_rule(stand_in, "history"))):
        report = run_eval(items["dev"], [AssistantSystem(assistant)], tmp_path / label, progress=False)
        runs[label] = set(report["wrong"]["assistant"])
    history = result["rules"]["history"]["dev"]
    assert set(history["right_to_wrong"]) == runs["off"] - runs["on"]
    assert set(history["wrong_to_right"]) == runs["on"] - runs["off"]
    assert result["splits"]["dev"] == {"items": len(items["dev"]), "right": len(items["dev"]) - len(runs["on"])}
    # reading follow-ups without their conversation breaks some of them; items without history never flip
    assert history["right_to_wrong"] and set(history["right_to_wrong"]) <= {it.id for it in follow_ups}
    assert set(history["wrong_to_right"]) <= {it.id for it in follow_ups}
    assert result["rules"]["history"]["extra"]["total"] == 0
    json.dumps(result)  # written as ablation.json
