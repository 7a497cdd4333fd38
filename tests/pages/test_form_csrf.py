"""Every server-rendered form carries its session's CSRF token (fault 6).

The ``csrf()`` macro was imported without the page context, so it rendered ``value=""``: forms
worked only while htmx added the token as a header. Here every page with a ``<form
method="post">`` is rendered and each such form must carry the session's token, once; and the
macro refuses to render rather than print an empty token again."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import TemplateRuntimeError
from sqlalchemy import select

from app.auth.models import UserSession
from app.core.web import TEMPLATES_DIR, templates
from app.export.models import ExportJob
from app.pacs.models import PacsRetrieval, PacsSource
from app.pacs.states import RetrievalStatus
from tests.export.conftest import hex_id
from tests.helpers import login
from tests.pages.site import POST_FORM, build_site, post_forms

# Forms that only show up when the data asks for them: each must be seen at least once.
EXPECTED_ACTIONS = [
    r"/logout",
    r"/account/password",
    r"/account/sessions/\d+/revoke",
    r"/account/tokens",
    r"/account/tokens/\d+/revoke",
    r"/admin/users",
    r"/admin/users/\d+/role",
    r"/admin/users/\d+/active",
    r"/admin/users/\d+/password",
    r"/projects",
    r"/projects/\d+/pools",
    r"/projects/\d+/studies",
    r"/projects/\d+/assign",
    r"/projects/\d+/tasks/\d+/reassign",
    r"/projects/\d+/studies/[0-9a-f]+/pair",
    r"/projects/\d+/studies/[0-9a-f]+/reopen",
    r"/exports",
    r"/exports/\d+/cancel",
    r"/releases/import",
    r"/studies/ratings-analysis",
    r"/projects/\d+/reference",
    r"/projects/\d+/models",
    r"/studies/[0-9a-f]+/flags/\d+/clear",
    r"/masking/projects",
    r"/masking/projects/\d+/readers",
]
# The login form carries its own double-submit token (cookie + field), not a session's.
OWN_TOKEN_TEMPLATES = {"auth/login.html"}


def session_token(db, user_id: int) -> str:
    db.expire_all()
    tokens = db.scalars(
        select(UserSession.csrf_token).where(
            UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
        )
    ).all()
    assert len(tokens) == 1
    assert tokens[0]
    return tokens[0]


def templates_with_post_forms() -> set[str]:
    found = set()
    for path in TEMPLATES_DIR.rglob("*.html"):
        if POST_FORM.search(path.read_text()):
            found.add(path.relative_to(TEMPLATES_DIR).as_posix())
    return found


def check_pages(client, paths: list[str], token: str) -> tuple[set[str], list[str]]:
    """Every post form of these pages carries ``token`` once; the templates and actions seen."""
    seen_templates, seen_actions = set(), []
    for path in paths:
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 200, (path, page.status_code)
        seen_templates.add(page.template.name)
        forms = post_forms(page.text)
        assert forms, path
        for form in forms:
            assert form.csrf_tokens == [token], (path, form.action, form.csrf_tokens)
            seen_actions.append(form.action)
    return seen_templates, seen_actions


def test_every_post_form_carries_the_session_token(client, db, accounts, admin, tmp_path):
    site = build_site(client, db, accounts, tmp_path / "release")
    # a retrieval that ended partial: its Resume form (the jobs table, /pacs/jobs)
    source = PacsSource(name="PACS", base_url="http://127.0.0.1:9/dicom-web")
    db.add(source)
    db.flush()
    db.add(PacsRetrieval(source_id=source.id, status=RetrievalStatus.PARTIAL, studies=1))
    # a queued export: its row offers Cancel
    db.add(ExportJob(project_kind="reading", project_id=site.project_id, format="json"))
    db.commit()
    login(client, "admin")
    token = session_token(db, admin.id)
    paths = [
        "/",
        "/account",
        "/admin/users",
        f"/admin/users/{site.readers['rd1']}/confirm/disable",
        f"/admin/users/{site.readers['rd1']}/confirm/reset-password",
        "/admin/audit",
        "/projects",
        f"/projects/{site.project_id}",
        f"/projects/{site.project_id}/agreement",
        f"/projects/{site.project_id}/reference",
        f"/projects/{site.project_id}/models",
        "/exports",
        "/exports/table",  # the job table alone, as the page polls it
        "/releases/import",
        "/studies/ratings-analysis",
        "/studies",
        f"/studies/{site.assigned}",
        "/import",
        "/imports",
        "/pacs",
        "/pacs/jobs",
        f"/pacs/reports/projects/{site.project_id}/studies/{hex_id('study', 0)}",
        "/reading",
        "/masking",
        f"/masking/projects/{site.masking_id}",
    ]
    seen_templates, seen_actions = check_pages(client, paths, token)

    # a new template with a post form must be added to the pages above
    assert templates_with_post_forms() - OWN_TOKEN_TEMPLATES - {"base.html"} <= seen_templates
    for pattern in EXPECTED_ACTIONS:
        assert any(re.fullmatch(pattern, a) for a in seen_actions), pattern


def test_reader_pages_carry_the_readers_token(client, db, accounts, admin, tmp_path):
    site = build_site(client, db, accounts, tmp_path / "release")
    login(client, "rd1")
    token = session_token(db, site.readers["rd1"])
    check_pages(client, ["/", "/account", "/reading", "/masking"], token)


def test_the_login_form_keeps_its_own_token(client) -> None:
    page = client.get("/login")
    (form,) = post_forms(page.text)
    assert form.action == "/login"
    (token,) = form.csrf_tokens
    assert token
    assert token == client.cookies.get("mammoread_login_csrf")


# --- the macro itself -----------------------------------------------------------------------


def principal(token: str | None, with_session: bool = True) -> SimpleNamespace:
    return SimpleNamespace(csrf_token=token, session=object() if with_session else None)


def render(source: str, **context: object) -> str:
    return templates.env.from_string(source).render(**context)


def test_the_macro_renders_the_token_with_context() -> None:
    source = '{% from "macros.html" import csrf with context %}{{ csrf() }}'
    html = render(source, principal=principal("t0ken"))
    assert html == '<input type="hidden" name="csrf_token" value="t0ken">'


def test_the_macro_refuses_to_render_without_the_page_context() -> None:
    source = '{% from "macros.html" import csrf %}{{ csrf() }}'
    with pytest.raises(TemplateRuntimeError, match="with context"):
        render(source, principal=principal("t0ken"))


def test_the_macro_refuses_an_empty_token_of_a_session() -> None:
    source = '{% from "macros.html" import csrf with context %}{{ csrf() }}'
    with pytest.raises(TemplateRuntimeError, match="no CSRF token"):
        render(source, principal=principal(""))


def test_no_principal_or_an_api_token_renders_no_token() -> None:
    """Pages answered to a bearer token (scripts) have no browser session to protect."""
    source = '{% from "macros.html" import csrf with context %}{{ csrf() }}'
    assert 'value=""' in render(source, principal=None)
    assert 'value=""' in render(source, principal=principal(None, with_session=False))


def test_every_template_imports_the_macro_with_context() -> None:
    """Caught at render time too, but only for the pages a test renders."""
    importing = re.compile(r"{%-?\s*(from|import)\s+\"macros.html\"[^%]*%}")
    for path in Path(TEMPLATES_DIR).rglob("*.html"):
        for statement in importing.finditer(path.read_text()):
            text = statement.group(0)
            if "csrf" in text or " as " in text:
                assert "with context" in text, (path, text)
