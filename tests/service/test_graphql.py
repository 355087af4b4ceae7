"""GraphQL and REST give the same answers on the same data (every field of every type asked for,
compared with the REST answer), refuse the same bad input with the same codes, keep the same
access rules, and refuse queries over the depth or cost limit before running them."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType

from ledger_service.app.api.graphql_schema import build_schema
from ledger_service.services.apikeys import Role, create_key
from tests.utils.event_flow import Flow
from tests.utils.problems import assert_problem

SCHEMA = build_schema()


def _named(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def selection(type_name: str, skip: frozenset[str] = frozenset({"history"})) -> str:
    """Every field of a type, nested objects expanded (`history` only when asked for)."""
    kind = SCHEMA.type_map[type_name]
    assert isinstance(kind, GraphQLObjectType)
    parts = []
    for name, field in kind.fields.items():
        if name in skip:
            continue
        inner = _named(field.type)
        parts.append(name if isinstance(inner, GraphQLScalarType) else f"{name} {selection(inner.name, skip)}")
    return "{ " + " ".join(parts) + " }"


def project(value: Any, kind: Any) -> Any:
    """A REST answer reduced to the fields the GraphQL type has."""
    inner = _named(kind)
    if value is None:
        return None
    if isinstance(value, list):
        return [project(v, inner) for v in value]
    if isinstance(inner, GraphQLObjectType):
        return {name: project(value.get(name), field.type) for name, field in inner.fields.items() if name != "history"}
    return value


def gql(flow: Flow, query: str, who: str = "operator", variables: dict[str, Any] | None = None) -> Any:
    headers = {"authorization": f"Bearer {flow.keys[who]}"}
    return flow.api.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def both(flow: Flow, field: str, args: str, rest_path: str, params: dict[str, Any] | None = None) -> tuple[Any, Any]:
    root = SCHEMA.query_type.fields[field]  # type: ignore[union-attr]
    answer = gql(flow, f"{{ {field}{args} {selection(_named(root.type).name)} }}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body["errors"]
    rest = flow.api.get(rest_path, params=params or {})
    assert rest.status_code == 200, rest.text
    return body["data"][field], project(rest.json(), root.type)


def test_graphql_and_rest_give_the_same_answers(flow: Flow) -> None:
    batch_id = flow.api.get(f"/v1/readings/{flow.readings[0]}").json()["batch"]["id"]
    cases: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("device", f'(id: "{flow.device}")', f"/v1/devices/{flow.device}", None),
        ("devices", "(limit: 3)", "/v1/devices", {"limit": 3}),
        ("reading", f'(id: "{flow.readings[1]}")', f"/v1/readings/{flow.readings[1]}", None),
        ("readings", f'(device: "{flow.device}", limit: 2)', "/v1/readings", {"device": flow.device, "limit": 2}),
        ("batch", f'(id: "{batch_id}")', f"/v1/batches/{batch_id}", None),
        ("batches", '(limit: 2, status: "anchored")', "/v1/batches", {"limit": 2, "status": "anchored"}),
        ("item", f'(id: "{flow.item}")', f"/v1/items/{flow.item}", None),
        ("items", f'(custodian: "{flow.carrier}")', "/v1/items", {"custodian": flow.carrier}),
        ("rules", f'(item: "{flow.item}")', "/v1/rules", {"item": flow.item}),
        ("reports", f'(item: "{flow.item}")', "/v1/oracle/reports", {"item": flow.item}),
        ("tokens", "(limit: 5)", "/v1/tokens", {"limit": 5}),
    ]
    for field, args, path, params in cases:
        graph, rest = both(flow, field, args, path, params)
        assert graph == rest, field
        assert graph is not None and graph != {}, field
    rule_id = flow.api.get("/v1/rules", params={"item": flow.item}).json()["data"][0]["rule_id"]
    graph, rest = both(flow, "rule", f'(id: "{rule_id}")', f"/v1/rules/{rule_id}")
    assert graph == rest


def test_an_item_with_its_history_is_the_rest_timeline(flow: Flow) -> None:
    answer = gql(flow, f'{{ item(id: "{flow.item}") {{ custodian history {selection("ItemHistory")} }} }}').json()
    rest = flow.api.get(f"/v1/items/{flow.item}/history").json()
    assert answer["data"]["item"]["history"] == project(rest, SCHEMA.type_map["ItemHistory"])
    assert [e["type"] for e in answer["data"]["item"]["history"]["entries"]][:2] == ["registered", "device_attached"]
    assert answer["data"]["item"]["custodian"] == flow.carrier


def test_pages_follow_the_rest_cursor(flow: Flow) -> None:
    first = gql(flow, "{ devices(limit: 1) { data { device_id } next_cursor } }").json()["data"]["devices"]
    cursor = first["next_cursor"]
    query = "query Next($c: String) { devices(limit: 1, cursor: $c) { data { device_id } } }"
    second = gql(flow, query, variables={"c": cursor}).json()["data"]["devices"]
    rest = flow.api.get("/v1/devices", params={"limit": 1, "cursor": cursor}).json()
    assert second["data"] == [{"device_id": d["device_id"]} for d in rest["data"]]
    assert second["data"] != first["data"]


def test_bad_input_gets_the_rest_codes(flow: Flow) -> None:
    malformed = gql(flow, '{ item(id: "0x12") { item_id } }').json()
    assert malformed["data"]["item"] is None
    assert malformed["errors"][0]["extensions"] == {"code": "validation-error", "status": 422}
    missing = gql(flow, f'{{ item(id: "0x{"ab" * 32}") {{ item_id }} }}').json()
    assert missing["errors"][0]["extensions"] == {"code": "not-found", "status": 404}
    assert missing["errors"][0]["path"] == ["item"]
    assert gql(flow, "{ item { item_id } }").status_code == 400  # a required argument left out
    assert gql(flow, "{ nothing }").status_code == 400
    assert gql(flow, "{ item(").status_code == 400
    refused = flow.api.post("/graphql", json={"query": "{ devices { count } }", "extra": 1})
    assert_problem(refused, 422, "validation-error")


def test_queries_over_the_depth_or_cost_limit_are_refused_unrun(flow: Flow) -> None:
    settings = flow.services.settings
    settings.graphql_max_depth, settings.graphql_max_cost = 3, 300
    deep = gql(flow, f'{{ item(id: "{flow.item}") {{ history {{ entries {{ type }} }} }} }}')
    assert deep.status_code == 400 and deep.json()["errors"][0]["extensions"]["code"] == "query-too-deep"
    via_fragment = gql(
        flow, f'{{ item(id: "{flow.item}") {{ ...H }} }} fragment H on ItemView {{ history {{ entries {{ type }} }} }}'
    )
    assert via_fragment.json()["errors"][0]["extensions"]["code"] == "query-too-deep"
    assert gql(flow, f'{{ item(id: "{flow.item}") {{ history {{ item_id }} }} }}').status_code == 200
    costly = gql(flow, "{ readings(limit: 500) { data { id device_id } } }")
    assert costly.status_code == 400 and costly.json()["errors"][0]["extensions"]["code"] == "query-too-costly"
    via_variable = gql(flow, "query Q($n: Int) { readings(limit: $n) { data { id } } }", variables={"n": 400})
    assert via_variable.json()["errors"][0]["extensions"]["code"] == "query-too-costly"
    aliased = " ".join(f"d{n}: devices(limit: 50) {{ data {{ device_id }} }}" for n in range(4))
    assert gql(flow, "{ " + aliased + " }").json()["errors"][0]["extensions"]["code"] == "query-too-costly"
    assert gql(flow, "{ readings(limit: 100) { data { id } } }").status_code == 200


@pytest.mark.parametrize("who", [None, "bad"])
def test_private_reads_need_a_key_for_graphql_too(flow: Flow, who: str | None) -> None:
    flow.services.settings.private_reads = True
    headers = {} if who is None else {"authorization": "Bearer pl_nope_nope"}
    refused = flow.api.post("/graphql", json={"query": "{ devices { count } }"}, headers=headers)
    assert_problem(refused, 401, "unauthorized")
    _, secret = create_key(flow.services.engine, "reader", [Role.CUSTODIAN])
    ok = flow.api.post(
        "/graphql", json={"query": "{ devices { count } }"}, headers={"authorization": f"Bearer {secret}"}
    )
    assert ok.status_code == 200 and ok.json()["data"]["devices"]["count"] >= 1


def test_the_cost_limit_cannot_be_dodged_with_negative_or_odd_limits_or_many_aliases(flow: Flow) -> None:
    flow.services.settings.graphql_max_cost = 2000
    negative = " ".join(f"a{n}: items(limit: -100000000) {{ data {{ item_id }} }}" for n in range(3))
    answer = gql(flow, "{ " + negative + " readings(limit: 1000) { data { id } } }")
    assert answer.status_code == 400 and answer.json()["errors"][0]["extensions"]["code"] == "query-too-costly"
    wide = " ".join(f'd{n}: device(id: "{flow.device}") {{ device_id }}' for n in range(21))
    assert gql(flow, "{ " + wide + " }").json()["errors"][0]["extensions"]["code"] == "query-too-costly"
    odd = gql(flow, "query Q($n: Int) { readings(limit: $n) { data { id } } }", variables={"n": "many"})
    assert odd.status_code in (200, 400) and "errors" in odd.json()  # refused, not a server error
