"""The record's two poll fields, `purpose:` and `growth:`: the templates carry them, import
checks them, and writing a definition back (YAML, the builder's form) keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest

import smsapp
from smsapp.conversation.definition import PollDefinitionError
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.conversation.serialise import poll_to_dict, poll_to_yaml
from smsapp.conversation.validation import parse_poll
from smsapp.services.polls.builder import data_to_form, form_to_data

TEMPLATES = Path(smsapp.__file__).parent / "poll_templates"


@pytest.mark.parametrize("name", ["year-review", "terms-of-reference"])
def test_the_templates_survive_yaml_and_the_builder(name):
    defn = parse_poll_yaml((TEMPLATES / f"{name}.yaml").read_text())
    assert defn.purpose == name
    assert parse_poll_yaml(poll_to_yaml(defn)) == defn
    assert parse_poll(form_to_data(data_to_form(poll_to_dict(defn)))) == defn


def test_the_terms_template_offers_agree_change_disagree_for_every_clause():
    defn = parse_poll_yaml((TEMPLATES / "terms-of-reference.yaml").read_text())
    clauses = [q for q in defn.questions if q.kind == "choice"]
    assert len(clauses) == 5
    assert {tuple(o.label for o in q.options) for q in clauses} == {("Agree", "Change", "Disagree")}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("purpose: party", "purpose", "use one of name, priorities, year-review"),
        (
            "purpose: terms-of-reference",
            "questions[0].options",
            "a clause's options are Agree, Change, Disagree",
        ),
    ],
)
def test_a_wrong_purpose_is_an_import_problem(extra, field, message):
    source = f"""
slug: p
title: P
{extra}
questions:
  - {{key: q, kind: choice, prompt: "Which?", options: [Yes, No]}}
"""
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll_yaml(source)
    assert [(p.field, p.message[: len(message)]) for p in caught.value.problems] == [
        (field, message)
    ]


def test_growth_belongs_to_choice_and_multi_questions():
    source = """
slug: p
title: P
questions:
  - {key: q, kind: text, prompt: "Why?", growth: {A: roots}}
"""
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll_yaml(source)
    assert [str(p) for p in caught.value.problems] == [
        "questions[0].growth: only a choice or multi question takes a growth map"
    ]
