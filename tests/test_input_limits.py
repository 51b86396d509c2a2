"""The input limits of agentkeep.models, as SDK callers meet them (the API uses the same models).

Every input model is found by walking ``Input``'s subclasses, so a new model or field is
covered without editing this file.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import typing
import uuid
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import agentkeep
from agentkeep.errors import InvalidInput, UnreadableRow
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.models import (
    INT32_MAX,
    MAX_JSON_DEPTH,
    Input,
    JsonObject,
    Output,
    check_json,
    error_field,
    field_errors,
    read_all,
    read_one,
)
from agentkeep.personas.models import NewActivation, NewPersona
from agentkeep.users.models import UserUpdate


def _input_models() -> list[type[Input]]:
    for module in pkgutil.walk_packages(agentkeep.__path__, "agentkeep."):
        # Input models live in the domains' models and in the routers (a batch of messages).
        if module.name.endswith(".models") or module.name.startswith("agentkeep.api.routers."):
            importlib.import_module(module.name)
    found: list[type[Input]] = []
    pending = list(Input.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def _accepts(annotation: Any, kind: type) -> bool:
    if annotation is kind or typing.get_origin(annotation) is kind:
        return True
    return any(_accepts(arg, kind) for arg in typing.get_args(annotation))


MODELS = _input_models()
STRING_FIELDS = [
    (model, name)
    for model in MODELS
    for name, info in model.model_fields.items()
    if _accepts(info.annotation, str) or _accepts(info.annotation, SecretStr)
]
INT_FIELDS = [
    (model, name)
    for model in MODELS
    for name, info in model.model_fields.items()
    if _accepts(info.annotation, int)
]


def test_the_walk_finds_the_models() -> None:
    names = {model.__name__ for model in MODELS}
    assert {"NewMessage", "NewUser", "UserUpdate", "NewAgentSession", "NewConversation", "NewKey"} <= names
    assert len(STRING_FIELDS) > 20
    assert len(INT_FIELDS) > 5


@pytest.mark.parametrize(("model", "name"), STRING_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("bad", ["a\u0000b", "a\ud800b"])
def test_every_string_field_refuses_nul_and_lone_surrogates(model: type[Input], name: str, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({name: bad})
    assert name in {error_field(error["loc"]) for error in caught.value.errors()}


@pytest.mark.parametrize(("model", "name"), INT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
def test_every_integer_field_fits_an_int4_column(model: type[Input], name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({name: INT32_MAX + 1})
    assert name in {error_field(error["loc"]) for error in caught.value.errors()}


def test_every_json_field_is_a_checked_json_type() -> None:
    """A dict or list field that skipped check_json could store what cannot be read back."""
    checked = 0
    for model in MODELS:
        for name, info in model.model_fields.items():
            if name == "messages":  # a batch: a list of NewMessage models, checked as such
                continue
            for kind, list_at_top in ((dict, False), (list, True)):
                if _accepts(info.annotation, kind):
                    with pytest.raises(ValidationError, match="nested deeper"):
                        model.model_validate({name: _deep(MAX_JSON_DEPTH + 1, list_at_top=list_at_top)})
                    checked += 1
    assert checked > 15


def _deep(depth: int, *, list_at_top: bool) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if (list_at_top and level == depth - 1) else {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"k": float("nan")}, "nan"),
        ({"k": float("inf")}, "inf"),
        ({"k": {"x": 1}.keys()}, "not a JSON value"),
        ({1: "int key"}, "not a string"),
        ({"k": b"bytes"}, "not a JSON value"),
        ({"k": uuid.uuid4()}, "not a JSON value"),
    ],
)
def test_only_json_goes_into_json_fields(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_json(value)


def test_a_value_thousands_deep_is_refused_without_recursion() -> None:
    value: Any = 1
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueError, match="nested deeper"):
        check_json(value)


def test_an_explicit_null_for_a_not_null_column_is_refused_but_absent_is_fine() -> None:
    with pytest.raises(ValidationError, match="must not be null"):
        UserUpdate(version=1, preferences_json=None)  # type: ignore[arg-type]
    assert UserUpdate(version=1, full_name=None).model_fields_set == {"version", "full_name"}  # nullable
    assert "preferences_json" not in UserUpdate(version=1).model_fields_set


def test_union_errors_become_one_entry_per_input_field() -> None:
    with pytest.raises(ValidationError) as caught:
        NewMessage(role="user", content="x", reasoning_trace=[_deep(MAX_JSON_DEPTH + 2, list_at_top=False)])
    errors = field_errors(caught.value.errors())
    assert [error["field"] for error in errors] == ["reasoning_trace"]
    assert "nested deeper" in errors[0]["message"]
    assert error_field(("body", "ip_address", "lax-or-strict[lax=function-plain[x()]]")) == "ip_address"
    assert error_field(("body", "messages", 2, "content")) == "messages.2.content"
    assert error_field(("query", "limit")) == "limit"


async def test_sdk_calls_refuse_bad_json_arguments_before_writing(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    session = await keep.agent_sessions.create(user.user_id, _new_session())
    persona = await keep.personas.create(
        NewPersona(persona_name=f"p-{uuid.uuid4().hex[:8]}", persona_version="1", specialization="s")
    )
    activation = await keep.personas.activate(
        user.user_id, session.id, NewActivation(persona_id=persona.id, activation_trigger="t")
    )
    with pytest.raises(InvalidInput) as caught:
        await keep.personas.deactivate(user.user_id, session.id, activation.id, {"k": "\u0000"})
    assert caught.value.field == "results"
    still = await keep.personas.activations(user.user_id, session.id)
    assert still[0].deactivated_at is None
    assert (await keep.agent_sessions.get(user.user_id, session.id)).personas_active == [str(persona.id)]


def _new_session() -> Any:
    from agentkeep.agent_sessions.models import NewAgentSession

    return NewAgentSession(agent_type="assistant")


class _Shown(Output):
    id: uuid.UUID
    data: dict[str, object]


def test_readers_leave_out_rows_that_cannot_be_read_back() -> None:
    good = {"id": uuid.uuid4(), "data": {"k": 1}}
    too_deep = {
        "id": uuid.uuid4(),
        "data": json.loads(json.dumps(_deep(MAX_JSON_DEPTH + 1, list_at_top=False))),
    }
    null = {"id": uuid.uuid4(), "data": None}
    assert [item.id for item in read_all(_Shown, [too_deep, good, null], what="thing")] == [good["id"]]
    with pytest.raises(UnreadableRow) as caught:
        read_one(_Shown, too_deep, what="thing")
    assert caught.value.field == "data"
    accepted: JsonObject = _deep(MAX_JSON_DEPTH, list_at_top=False)
    assert read_one(_Shown, {"id": good["id"], "data": accepted}, what="thing").data == accepted
