"""Reading a scheduled launch time: local wall-clock time in, UTC out; past and impossible
times refused in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smsapp.schedule.launch_time import LaunchTimeError, local_text, parse_launch_time

LONDON = "Europe/London"
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_winter_and_summer_local_times_become_utc() -> None:
    assert parse_launch_time("2026-03-03 17:30", LONDON, NOW) == datetime(
        2026, 3, 3, 17, 30, tzinfo=UTC
    )
    # British Summer Time: 17:30 local is 16:30 UTC.
    assert parse_launch_time("2026-06-01 17:30", LONDON, NOW) == datetime(
        2026, 6, 1, 16, 30, tzinfo=UTC
    )
    # The datetime-local field sends a T between the date and the time.
    assert parse_launch_time("2026-06-01T17:30", LONDON, NOW).hour == 16


def test_a_time_already_past_is_refused() -> None:
    with pytest.raises(LaunchTimeError, match="already passed"):
        parse_launch_time("2026-03-03 11:59", LONDON, NOW)
    with pytest.raises(LaunchTimeError, match="already passed"):
        parse_launch_time("2026-03-03 12:00", LONDON, NOW)


def test_the_hour_the_clocks_skip_does_not_exist() -> None:
    with pytest.raises(LaunchTimeError, match="does not exist"):
        parse_launch_time("2026-03-29 01:30", LONDON, NOW)


def test_the_hour_that_happens_twice_means_the_first() -> None:
    when = parse_launch_time("2026-10-25 01:30", LONDON, NOW)
    assert when == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # still BST


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01 10:00", "03/04/2026 10:00"])
def test_anything_else_is_refused_with_the_format(text: str) -> None:
    with pytest.raises(LaunchTimeError, match="YYYY-MM-DD HH:MM"):
        parse_launch_time(text, LONDON, NOW)


def test_local_text_names_the_zone() -> None:
    assert local_text(datetime(2026, 6, 1, 16, 30, tzinfo=UTC), LONDON) == (
        "Mon 01 Jun 2026 17:30 (Europe/London)"
    )
