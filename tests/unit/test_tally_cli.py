"""`smsapp tally` driven through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smsapp.cli.tally import tally_command
from smsapp.voting import Ballot, lot_order, tally

CSV = "ranking,count\nA B C,4\nB C A,3\nC A B,2\nB,1\n"


@pytest.fixture
def ballots_file(tmp_path):
    path = tmp_path / "ballots.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(tally_command, [str(a) for a in args])


def test_json_output_is_the_tally_and_byte_identical_between_runs(ballots_file):
    first = run(ballots_file, "--method", "irv", "--seed", "s1", "--json")
    second = run(ballots_file, "--method", "irv", "--seed", "s1", "--json")
    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == second.stdout_bytes
    data = json.loads(first.stdout)
    ballots = [Ballot(("A", "B", "C"), 4), Ballot(("B", "C", "A"), 3), Ballot(("C", "A", "B"), 2)]
    expected = tally("irv", ["A", "B", "C"], [*ballots, Ballot(("B",))], seed="s1")
    assert data == json.loads(json.dumps(expected.to_json_dict()))
    assert data["rounds"][0]["votes"] == {"A": 4, "B": 4, "C": 2}


def test_human_output_shows_order_rounds_and_consensus(ballots_file, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("code,label\nA,Young Researchers\nB,Health Voices\nC,Team Spark\n")
    result = run(ballots_file, "--method", "irv", "--labels", labels)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "no seed was given" in out
    assert "Young Researchers" in out and "Rounds:" in out
    assert "C eliminated" in out and "elected" in out
    assert "Consensus check:" in out


def test_points_max_ranks_and_declared_options(ballots_file):
    result = run(ballots_file, "--method", "points", "--max-ranks", "1", "--json",
                 "--options", "A,B,C,D", "--seed", "x")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scores"] == {"A": 4, "B": 4, "C": 2, "D": 0}
    # With K = 1 only first places count, for the tie-breaks too: A and B stay level on
    # ballots, first places and head-to-head (4-4 once later places are dropped): the lot.
    assert [r["rule"] for r in data["tie_breaks"]] == ["lot"]
    assert data["order"][:2] == lot_order(["A", "B"], "x")
    assert data["order"][2:] == ["C", "D"]


def test_a_tie_shows_its_lot_in_plain_words(tmp_path):
    path = tmp_path / "tie.csv"
    path.write_text("ranking\nA\nB\n")
    result = run(path, "--method", "plurality", "--seed", "abc")
    assert result.exit_code == 0, result.output
    assert "lot" in result.stdout
    assert f"Winner: {lot_order(['A', 'B'], 'abc')[0]}" in result.stdout


def test_unknown_code_fails_on_stderr_unless_skipped(ballots_file):
    result = run(ballots_file, "--method", "points", "--options", "A,B")
    assert result.exit_code != 0
    assert "line 2" in result.stderr and "C" in result.stderr
    skipped = run(ballots_file, "--method", "points", "--options", "A,B", "--skip-unknown",
                  "--json")  # fmt: skip
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["order"] == ["A", "B"]


def test_bad_files_fail_with_a_message(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run(empty, "--method", "irv")
    assert result.exit_code != 0 and "empty" in result.stderr
    missing = run(tmp_path / "nope.csv", "--method", "irv")
    assert missing.exit_code != 0
    bad_method = run(empty, "--method", "borda")
    assert bad_method.exit_code != 0
