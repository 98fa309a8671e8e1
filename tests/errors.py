"""Reading the API's two 422 shapes in tests (pandaprobe/api/errors.py)."""


def error_locs(response) -> list[str]:
    """A request-shape 422 (`{"detail": [{"loc", "msg", "type"}]}`): each error's location as a dotted
    path without its `body`/`query`/`path` prefix (`["body", "spans", 0, "kind"]` -> `spans.0.kind`),
    or the prefix alone when the error is about the whole of it (`["body"]` -> `body`)."""
    return list(error_messages(response))


def error_messages(response) -> dict[str, str]:
    """`error_locs` with each location's (last) message."""
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return {
        ".".join(str(part) for part in error["loc"][1:]) or error["loc"][0]: error["msg"] for error in detail
    }


def error_where(response) -> set[str]:
    """The locations (`body`, `query`, `path`) a request-shape 422 names."""
    assert response.status_code == 422, response.content
    return {error["loc"][0] for error in response.json()["detail"]}


def rule_detail(response) -> str:
    """A 422 refused by a rule: `{"detail": "value: 1.5 is outside ..."}`."""
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert isinstance(detail, str), detail
    return detail


def rule_fields(response) -> set[str]:
    """The fields a rule's 422 names: `"value: 1.5 is outside ...; name: ..."` -> `{"value", "name"}`."""
    return {part.split(":", 1)[0].strip() for part in rule_detail(response).split("; ") if ":" in part}


def named_fields(response) -> set[str]:
    """The fields a 422 names, whichever its shape (for tests about which field is refused, where
    a blank value fails the request's shape and a bad one a rule)."""
    assert response.status_code == 422, response.content
    return rule_fields(response) if isinstance(response.json()["detail"], str) else set(error_locs(response))
