"""The poll builder: a form and a YAML view kept in step, problems next to their fields, and a
preview of every text with its segments and cost. Drafts only; launched polls are read-only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.conversation.definition import PollDefinition, PollDefinitionError, Problem
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.conversation.serialise import poll_to_dict
from smsapp.conversation.validation import parse_poll
from smsapp.models import Group, Poll, PollStatus
from smsapp.services.polls import builder
from smsapp.services.polls.definitions import PollError, poll_by_slug, save_definition
from smsapp.services.polls.templates import template_definition
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.admin import PEOPLE, bp, form_values
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404


@bp.get("/polls")
@roles_required(*PEOPLE)
def polls() -> ResponseReturnValue:
    rows = (
        db_session()
        .execute(
            sa.select(Poll, Group.slug)
            .outerjoin(Group, Group.id == Poll.group_id)
            .order_by(Poll.updated_at.desc())
        )
        .all()
    )
    return render_template("admin/polls.html", polls=rows)


def _check(form: builder.BuilderForm) -> tuple[PollDefinition | None, list[Problem]]:
    try:
        return parse_poll(builder.form_to_data(form)), []
    except PollDefinitionError as exc:
        return None, exc.problems


def _render(
    form: builder.BuilderForm,
    *,
    poll: Poll | None,
    yaml_text: str | None = None,
    problems: list[Problem] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    defn, found = _check(form)
    if problems is None:
        problems = []
    settings = runtime().settings
    texts = builder.previews(defn, settings.price_per_segment) if defn else []
    groups = db_session().scalars(sa.select(Group.slug).order_by(Group.slug)).all()
    return render_template(
        "admin/poll_builder.html",
        form=form,
        poll=poll,
        yaml_text=yaml_text
        if yaml_text is not None
        else builder.data_to_yaml(builder.form_to_data(form)),
        problems=problems,
        placed=builder.problems_by_field(problems),
        texts=texts,
        total=builder.cost_per_recipient(texts),
        currency=settings.currency,
        groups=groups,
        kinds=builder.kinds(),
        methods=builder.tally_methods(),
        blank_row=builder.QuestionRow(),
    ), status


@bp.get("/polls/new")
@roles_required(*PEOPLE)
def poll_new() -> ResponseReturnValue:
    form = builder.BuilderForm(questions=[builder.QuestionRow()])
    template = request.args.get("template")
    if template:
        try:
            form = builder.data_to_form(poll_to_dict(template_definition(template)))
        except PollError:
            abort(404)
    group = request.args.get("group")
    if group:
        form.group = group
    return _render(form, poll=None)


@bp.get("/polls/<slug>/edit")
@roles_required(*PEOPLE)
def poll_edit(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    if poll.status != PollStatus.DRAFT:
        return render_template(
            "admin/poll_view.html",
            poll=poll,
            yaml_text=poll.source_yaml or builder.data_to_yaml(poll.definition),
        )
    form = builder.data_to_form(poll.definition)
    return _render(form, poll=poll, yaml_text=builder.data_to_yaml(builder.form_to_data(form)))


@bp.post("/polls/new")
@roles_required(*PEOPLE)
def poll_create() -> ResponseReturnValue:
    return _save(None)


@bp.post("/polls/<slug>/edit")
@roles_required(*PEOPLE)
def poll_update(slug: str) -> ResponseReturnValue:
    return _save(poll_or_404(slug))


def _rearranged(form: builder.BuilderForm, action: str) -> bool:
    """The no-JavaScript buttons: add a question, move one up or down, remove one."""
    rows = form.questions
    if action == "add":
        rows.append(builder.QuestionRow())
        return True
    verb, _, number = action.partition(":")
    if verb not in ("up", "down", "remove") or not number.isdigit():
        return False
    index = int(number)
    if not 0 <= index < len(rows):
        return True
    if verb == "remove":
        rows.pop(index)
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index + 1 < len(rows):
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return True


def _save(poll: Poll | None) -> ResponseReturnValue:
    action = request.form.get("action", "save")
    if poll is not None and poll.status != PollStatus.DRAFT:
        flash(f"{poll.title} is {poll.status}: its questions can no longer change.")
        return redirect(url_for("admin.poll_edit", slug=poll.slug))
    yaml_text = request.form.get("yaml", "")
    if action == "save-yaml":
        try:
            defn = parse_poll_yaml(yaml_text)
        except PollDefinitionError as exc:
            form = builder.read_form(form_values())
            problems = [Problem("yaml", str(p)) for p in exc.problems]
            return _render(form, poll=poll, yaml_text=yaml_text, problems=problems, status=422)
        form = builder.data_to_form(poll_to_dict(defn))
        source = yaml_text
    else:
        form = builder.read_form(form_values())
        if _rearranged(form, action):
            return _render(form, poll=poll)
        found, problems = _check(form)
        if found is None:
            return _render(form, poll=poll, problems=problems, status=422)
        defn, source = found, builder.data_to_yaml(builder.form_to_data(form))
    if poll is not None and defn.slug != poll.slug:
        problem = Problem("slug", f"the slug of a saved poll stays {poll.slug}")
        return _render(form, poll=poll, problems=[problem], status=422)
    if poll is None and poll_by_slug(db_session(), defn.slug) is not None:
        problem = Problem("slug", f"a poll called {defn.slug} exists already; pick another slug")
        return _render(form, poll=poll, problems=[problem], status=422)
    try:
        with request_transaction() as s:
            result = save_definition(s, defn, source=source, actor=current_user.email)
    except PollDefinitionError as exc:
        return _render(form, poll=poll, problems=exc.problems, status=422)
    except PollError as exc:
        flash(str(exc))
        return redirect(url_for("admin.polls"))
    flash(f"Saved {result.poll.title}.")
    return redirect(url_for("admin.poll_edit", slug=result.poll.slug))


def _problem_json(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"field": p.field, "input": builder.form_field(p.field), "message": p.message}
        for p in problems
    ]


@bp.post("/polls/preview")
@roles_required(*PEOPLE)
def poll_preview() -> ResponseReturnValue:
    """For static/builder.js: the other view of what was typed, its problems and its texts."""
    settings = runtime().settings
    body: dict[str, Any] = {"form": None, "rows_html": None, "yaml": None}
    defn: PollDefinition | None
    if request.form.get("source") == "yaml":
        try:
            defn = parse_poll_yaml(request.form.get("yaml", ""))
        except PollDefinitionError as exc:
            defn, problems = None, exc.problems
        else:
            problems = []
            form = builder.data_to_form(poll_to_dict(defn))
            body["form"] = form.top_values()
            body["rows_html"] = render_template(
                "admin/_question_rows.html",
                form=form,
                placed={},
                kinds=builder.kinds(),
                methods=builder.tally_methods(),
            )
    else:
        form = builder.read_form(form_values())
        defn, problems = _check(form)
        body["yaml"] = builder.data_to_yaml(builder.form_to_data(form))
    texts = builder.previews(defn, settings.price_per_segment) if defn else []
    total = builder.cost_per_recipient(texts)
    body.update(
        problems=_problem_json(problems),
        previews=[t.to_json() for t in texts],
        total={"segments": total[0], "cost": total[1], "currency": settings.currency},
        previews_html=render_template(
            "admin/_previews.html", texts=texts, total=total, currency=settings.currency
        ),
    )
    return jsonify(body)
