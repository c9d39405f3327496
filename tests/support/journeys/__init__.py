"""The co-production journey's steps, one module per part of it: voice (young people's questions,
moderation, youth leads), tools (templates, scheduling, live results, downloads, duplicating) and
record (the group's record, celebrating, the year review's tree of growth).

Each step is `step_<what>(page, base_url, shoot, ...)`: it starts logged in as the facilitator,
leaves the browser where it finished, and takes its screenshots at phone and desktop widths
(tests.support.browser.both_widths). tests/e2e/test_journey_coproduction.py runs them in order.
"""
