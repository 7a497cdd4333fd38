"""The one answer of every form post: the action's page, or the form again with its error."""

from __future__ import annotations

import pytest
from fastapi.responses import PlainTextResponse

from app.core.errors import AppError, Conflict
from app.core.web import form_or_error


def page(text: str, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(text, status)


def again(error: AppError) -> PlainTextResponse:
    return page(error.message, error.status_code)


def refuse() -> int:
    raise Conflict("taken")


def test_a_form_that_worked_answers_with_its_result() -> None:
    rollbacks: list[bool] = []
    response = form_or_error(
        lambda: 7, lambda n: page(f"{n} added"), again, rollback=lambda: rollbacks.append(True)
    )
    assert (response.status_code, response.body) == (200, b"7 added")
    assert rollbacks == []


def test_a_refused_form_rolls_back_and_comes_again_with_the_error() -> None:
    rollbacks: list[bool] = []
    response = form_or_error(
        refuse, lambda n: page("done"), again, rollback=lambda: rollbacks.append(True)
    )
    assert (response.status_code, response.body) == (409, b"taken")
    assert rollbacks == [True]
    assert form_or_error(refuse, lambda n: page("done"), again).status_code == 409


def test_only_the_action_is_guarded() -> None:
    def broken_page(_: int) -> PlainTextResponse:
        raise Conflict("the answer itself failed")

    with pytest.raises(Conflict):
        form_or_error(lambda: 1, broken_page, again)
    with pytest.raises(ZeroDivisionError):
        form_or_error(lambda: 1 // 0, lambda n: page("done"), again)
