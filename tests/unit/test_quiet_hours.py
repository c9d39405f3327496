"""Quiet hours hold in local time, across the clock changes, with optional school hours."""

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.schedule.quiet_hours import QuietHours, is_quiet, next_allowed

LONDON = "Europe/London"
DEFAULT = QuietHours()
SCHOOL = QuietHours(school_hours=(time(9, 0), time(15, 30)))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # Saturday 21:30 GMT before the spring-forward → Sunday 08:00 BST.
        (utc(2025, 3, 29, 21, 30), utc(2025, 3, 30, 7, 0)),
        # 00:30 GMT on the changeover night itself → 08:00 BST.
        (utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 7, 0)),
        # Saturday 21:30 BST before the autumn change → Sunday 08:00 GMT.
        (utc(2025, 10, 25, 20, 30), utc(2025, 10, 26, 8, 0)),
        # 07:30 GMT on the Sunday (it was 08:30 BST by yesterday's clock) → 08:00 GMT.
        (utc(2025, 10, 26, 7, 30), utc(2025, 10, 26, 8, 0)),
        # Summer: 21:00 BST exactly is quiet; 07:59 BST still quiet.
        (utc(2025, 7, 1, 20, 0), utc(2025, 7, 2, 7, 0)),
        (utc(2025, 7, 2, 6, 59), utc(2025, 7, 2, 7, 0)),
        # Winter: 23:59 GMT → 08:00 GMT next day.
        (utc(2025, 1, 15, 23, 59), utc(2025, 1, 16, 8, 0)),
    ],
)
def test_quiet_instants_move_to_the_next_local_morning(when: datetime, expected: datetime):
    assert is_quiet(when, DEFAULT, LONDON)
    assert next_allowed(when, DEFAULT, LONDON) == expected


@pytest.mark.parametrize(
    "when",
    [
        utc(2025, 7, 1, 19, 59),  # 20:59 BST
        utc(2025, 7, 2, 7, 0),  # 08:00 BST, the first allowed minute
        utc(2025, 1, 15, 8, 0),  # 08:00 GMT
        utc(2025, 1, 15, 20, 59),  # 20:59 GMT
        utc(2025, 3, 30, 7, 0),  # 08:00 BST on the spring-forward day
    ],
)
def test_allowed_instants_are_returned_unchanged(when: datetime):
    assert not is_quiet(when, DEFAULT, LONDON)
    assert next_allowed(when, DEFAULT, LONDON) == when


def test_utc_clock_alone_would_be_wrong_in_summer():
    # 20:30 UTC in July is 21:30 in London: quiet, though 20:30 is before 21:00.
    assert is_quiet(utc(2025, 7, 1, 20, 30), DEFAULT, LONDON)
    assert not is_quiet(utc(2025, 1, 14, 20, 30), DEFAULT, LONDON)


def test_school_hours_are_quiet_on_weekdays():
    wednesday_10am_bst = utc(2025, 7, 2, 9, 0)
    assert is_quiet(wednesday_10am_bst, SCHOOL, LONDON)
    assert next_allowed(wednesday_10am_bst, SCHOOL, LONDON) == utc(2025, 7, 2, 14, 30)
    assert not is_quiet(utc(2025, 7, 2, 14, 30), SCHOOL, LONDON)  # 15:30 BST


def test_school_hours_do_not_apply_at_weekends():
    saturday_10am_bst = utc(2025, 7, 5, 9, 0)
    assert not is_quiet(saturday_10am_bst, SCHOOL, LONDON)
    assert next_allowed(saturday_10am_bst, SCHOOL, LONDON) == saturday_10am_bst


def test_night_then_school_chain_to_the_afternoon():
    early_school = QuietHours(school_hours=(time(7, 30), time(15, 30)))
    sunday_night = utc(2025, 1, 12, 22, 0)
    # Monday 08:00 is inside school hours, so the first allowed instant is 15:30.
    assert next_allowed(sunday_night, early_school, LONDON) == utc(2025, 1, 13, 15, 30)
    friday_night = utc(2025, 1, 17, 22, 0)
    assert next_allowed(friday_night, early_school, LONDON) == utc(2025, 1, 18, 8, 0)


def test_disabled_policy_is_never_quiet():
    off = QuietHours(enabled=False, school_hours=(time(9, 0), time(15, 30)))
    for when in (utc(2025, 3, 29, 23, 0), utc(2025, 7, 2, 9, 0)):
        assert not is_quiet(when, off, LONDON)
        assert next_allowed(when, off, LONDON) == when


def test_other_timezones():
    # 02:00 UTC is 22:00 the evening before in New York (EDT): quiet until 08:00 EDT.
    assert next_allowed(utc(2025, 7, 2, 2, 0), DEFAULT, "America/New_York") == utc(2025, 7, 2, 12)


def test_naive_input_is_taken_as_utc_and_answer_is_aware():
    result = next_allowed(datetime(2025, 1, 15, 23, 0), DEFAULT, LONDON)
    assert result == utc(2025, 1, 16, 8, 0)
    assert result.tzinfo is not None


def test_window_ending_in_the_spring_gap_ends_when_the_clocks_jump():
    # 23:00-01:30 quiet: 01:30 GMT never happens on 30 March 2025; 01:00 GMT becomes 02:00 BST.
    late = QuietHours(start=time(23, 0), end=time(1, 30))
    result = next_allowed(utc(2025, 3, 29, 23, 30), late, LONDON)
    assert not is_quiet(result, late, LONDON)
    assert utc(2025, 3, 30, 1, 0) <= result <= utc(2025, 3, 30, 1, 30)


def test_weekdays_fully_quiet_wait_for_the_weekend():
    # Night runs 09:15-09:00 and school 09:00-12:00: no weekday minute is free.
    policy = QuietHours(start=time(9, 15), end=time(9, 0), school_hours=(time(9), time(12)))
    monday = utc(2025, 1, 13, 0, 0)
    assert next_allowed(monday, policy, LONDON) == utc(2025, 1, 18, 9, 0)


def test_daytime_window_that_does_not_span_midnight():
    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    assert next_allowed(utc(2025, 1, 15, 12, 15), lunch, LONDON) == utc(2025, 1, 15, 13, 0)
    assert not is_quiet(utc(2025, 1, 15, 23, 0), lunch, LONDON)


minute_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
policies = st.builds(
    QuietHours,
    start=minute_times,
    end=minute_times,
    school_hours=st.one_of(
        st.none(), st.tuples(st.just(time(9, 0)), st.sampled_from([time(12), time(15, 30)]))
    ),
)
instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=300, deadline=None)
@given(instants, policies)
def test_next_allowed_is_the_first_allowed_instant(when: datetime, policy: QuietHours):
    result = next_allowed(when, policy, LONDON)
    assert result >= when
    assert not is_quiet(result, policy, LONDON)
    if result > when:
        # Everything from `when` up to the answer was quiet: nothing earlier was allowed.
        assert is_quiet(when, policy, LONDON)
        assert is_quiet(result - timedelta(seconds=1), policy, LONDON)
        assert is_quiet(when + (result - when) / 2, policy, LONDON)


def test_a_quiet_spell_ending_inside_the_spring_gap_ends_when_the_clocks_jump() -> None:
    # Found by hypothesis: 01:15 does not exist on 31 March 2024 in London (01:00 GMT becomes
    # 02:00 BST), so the spell ends at the jump, 01:00 UTC, not at 02:15 BST.
    policy = QuietHours(start=time(3, 0), end=time(1, 15))
    result = next_allowed(datetime(2024, 3, 30, 3, 0, tzinfo=UTC), policy, LONDON)
    assert result == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    assert is_quiet(result - timedelta(seconds=1), policy, LONDON)
