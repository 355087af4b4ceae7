"""GraphQL over the REST read models: the schema's types are generated from the REST answers'
models, and every field is answered by the REST endpoint itself, called inside the process (its
validation, access rules and caches included). So GraphQL and REST cannot disagree: a GraphQL
answer is the REST answer with only the fields asked for.

Queries are refused before they run when deeper than `PROVENANCE_GRAPHQL_MAX_DEPTH` or costlier
than `PROVENANCE_GRAPHQL_MAX_COST`: a field costs 1, times the `limit` of every list above it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ariadne import ObjectType, QueryType, ScalarType, make_executable_schema
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from pydantic import BaseModel

from ledger_service.app.api.device_schemas import DeviceList, DevicePublic
from ledger_service.app.api.internal import graphql_get
from ledger_service.app.api.query_schemas import ReadingList
from ledger_service.app.api.read_schemas import (
    BatchPage,
    BatchView,
    ItemHistory,
    ItemPage,
    ItemView,
    ReportList,
    RulePage,
    RuleView,
    TokenPage,
    TokenView,
)
from ledger_service.app.api.schemas import ReadingStatus


@dataclass(frozen=True)
class Root:
    """A query field: the REST path it reads (`{id}` from the `id` argument), its answer's model,
    and the query parameters it passes on (GraphQL argument name -> REST parameter)."""

    path: str
    model: type[BaseModel]
    params: tuple[str, ...] = ()


_PAGE = ("limit", "cursor")
ROOTS = {
    "device": Root("/v1/devices/{id}", DevicePublic),
    "devices": Root("/v1/devices", DeviceList, ("owner", "status", *_PAGE)),
    "reading": Root("/v1/readings/{id}", ReadingStatus),
    "readings": Root("/v1/readings", ReadingList, ("device", "metric", "from", "to", "batch", "status", *_PAGE)),
    "batch": Root("/v1/batches/{id}", BatchView),
    "batches": Root("/v1/batches", BatchPage, ("status", "order", *_PAGE)),
    "item": Root("/v1/items/{id}", ItemView),
    "items": Root("/v1/items", ItemPage, ("custodian", "manufacturer", "status", *_PAGE)),
    "token": Root("/v1/tokens/{id}", TokenView),
    "tokens": Root("/v1/tokens", TokenPage, ("owner", *_PAGE)),
    "rule": Root("/v1/rules/{id}", RuleView),
    "rules": Root("/v1/rules", RulePage, ("item", "state", *_PAGE)),
    "reports": Root("/v1/oracle/reports", ReportList, ("item", "limit")),
}
#: Fields whose model says "dict" where the answer holds a known model.
_OVERRIDES: dict[tuple[str, str], str] = {("BatchPage", "data"): "[BatchView!]!"}
#: Default `limit` of each list, as REST has it, for the cost.
DEFAULT_LIMITS = {"devices": 50, "readings": 100, "batches": 50, "items": 50, "tokens": 50, "rules": 50, "reports": 100}


def _graphql_type(annotation: Any, types_wanted: dict[str, type[BaseModel]]) -> str:
    """The GraphQL type of a model field's annotation (nullable form)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _graphql_type(inner[0], types_wanted) if len(inner) == 1 else "JSON"
    if origin is typing.Annotated:
        return _graphql_type(typing.get_args(annotation)[0], types_wanted)
    if origin is list:
        return f"[{_required(typing.get_args(annotation)[0], types_wanted)}]"
    if origin is typing.Literal:
        return "String"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        types_wanted[annotation.__name__] = annotation
        return annotation.__name__
    return {str: "String", int: "Long", float: "Float", bool: "Boolean"}.get(annotation, "JSON")


def _required(annotation: Any, types_wanted: dict[str, type[BaseModel]]) -> str:
    nullable = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation
    )
    found = _graphql_type(annotation, types_wanted)
    return found if nullable else f"{found}!"


def type_definitions() -> str:
    """The SDL: scalars, one type per model reachable from the roots, and the Query type."""
    wanted: dict[str, type[BaseModel]] = {root.model.__name__: root.model for root in ROOTS.values()}
    wanted["ItemHistory"] = ItemHistory
    done: dict[str, str] = {}
    while len(done) < len(wanted):
        for name, model in list(wanted.items()):
            if name in done:
                continue
            fields = []
            for field_name, info in model.model_fields.items():
                kind = _OVERRIDES.get((name, field_name))
                if kind is None:
                    kind = (
                        _required(info.annotation, wanted)
                        if info.is_required()
                        else _graphql_type(info.annotation, wanted)
                    )
                fields.append(f"  {field_name}: {kind}")
            if name == "ItemView":
                fields.append("  history: ItemHistory")
            done[name] = f"type {name} {{\n" + "\n".join(fields) + "\n}"
    query = []
    for field_name, root in ROOTS.items():
        args = ["id: String!"] if "{id}" in root.path else []
        args += [f"{p}: {'Int' if p == 'limit' else 'String'}" for p in root.params]
        query.append(f"  {field_name}{'(' + ', '.join(args) + ')' if args else ''}: {root.model.__name__}")
    scalars = '"""A whole number of any size."""\nscalar Long\n"""Any JSON value."""\nscalar JSON\n'
    return scalars + "\n\n".join(done[n] for n in sorted(done)) + "\n\ntype Query {\n" + "\n".join(query) + "\n}\n"


def _root_resolver(name: str, root: Root) -> Any:
    async def resolve(_: Any, info: Any, **args: Any) -> Any:
        path = root.path.replace("{id}", quote(str(args.pop("id", "")), safe="")) if "{id}" in root.path else root.path
        return await graphql_get(info.context["scope"], path, args)

    resolve.__name__ = f"resolve_{name}"
    return resolve


async def _item_history(item: dict[str, Any], info: Any) -> Any:
    return await graphql_get(info.context["scope"], f"/v1/items/{quote(item['item_id'], safe='')}/history", {})


def build_schema() -> GraphQLSchema:
    query = QueryType()
    for name, root in ROOTS.items():
        query.set_field(name, _root_resolver(name, root))
    item = ObjectType("ItemView")
    item.set_field("history", _item_history)
    long = ScalarType("Long", serializer=int, value_parser=int)
    raw = ScalarType("JSON", serializer=lambda v: v, value_parser=lambda v: v)
    return make_executable_schema(type_definitions(), query, item, long, raw)


# -- limits ---------------------------------------------------------------------------------------


#: The largest `limit` each list takes in REST: the cost counts no more, and no less than 1.
MAX_LIMITS = {"devices": 500, "readings": 1000, "batches": 500, "items": 500, "tokens": 500, "rules": 500,
              "reports": 1000}  # fmt: skip
#: Most REST-backed fields one query may ask for (each alias counts): each is a call of a route.
MAX_ROOT_FIELDS = 20


def _limit_of(field: FieldNode, variables: dict[str, Any]) -> int:
    """The `limit` a list field will use, clamped to what REST accepts (a value REST would refuse,
    or one not known before the query runs, counts as the largest)."""
    name = field.name.value
    wanted: Any = DEFAULT_LIMITS.get(name, 1)
    for argument in field.arguments or ():
        if argument.name.value == "limit":
            if isinstance(argument.value, IntValueNode):
                wanted = argument.value.value
            elif isinstance(argument.value, VariableNode):
                wanted = variables.get(argument.value.name.value, DEFAULT_LIMITS.get(name, 1))
            else:
                wanted = None
    try:
        number = int(wanted) if not isinstance(wanted, bool) else MAX_LIMITS.get(name, 1)
    except (TypeError, ValueError):
        number = MAX_LIMITS.get(name, 1)
    return max(1, min(number, MAX_LIMITS.get(name, 1)))


def _root_fields(
    selection: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str] = frozenset()
) -> int:
    """How many fields the top of an operation asks for, through fragments and aliases."""
    count = 0
    for node in selection.selections if selection is not None else ():
        if isinstance(node, FieldNode):
            count += 0 if node.name.value.startswith("__") else 1
        elif isinstance(node, InlineFragmentNode):
            count += _root_fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen and node.name.value in fragments:
            count += _root_fields(fragments[node.name.value].selection_set, fragments, seen | {node.name.value})
    return count


def measure(
    selection: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    depth: int = 1,
    multiplier: int = 1,
    seen: frozenset[str] = frozenset(),
) -> tuple[int, int]:
    """(depth, cost) of a selection set; fragments followed (a fragment inside itself counts once)."""
    deepest, cost = depth - 1, 0
    for node in selection.selections if selection is not None else ():
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__"):
                continue  # introspection is bounded by the schema
            cost += multiplier
            below = multiplier * (_limit_of(node, variables) if node.name.value in DEFAULT_LIMITS else 1)
            d, c = measure(node.selection_set, fragments, variables, depth + 1, below, seen)
            deepest, cost = max(deepest, d if node.selection_set else depth), cost + c
        elif isinstance(node, InlineFragmentNode):
            d, c = measure(node.selection_set, fragments, variables, depth, multiplier, seen)
            deepest, cost = max(deepest, d), cost + c
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen and node.name.value in fragments:
            fragment = fragments[node.name.value]
            d, c = measure(fragment.selection_set, fragments, variables, depth, multiplier, seen | {node.name.value})
            deepest, cost = max(deepest, d), cost + c
    return deepest, cost


def check_limits(
    definitions: Iterable[Any], variables: dict[str, Any], max_depth: int, max_cost: int
) -> GraphQLError | None:
    """The error refusing a document over the depth or cost limit; None when within both."""
    definitions = list(definitions)
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    for operation in (d for d in definitions if isinstance(d, OperationDefinitionNode)):
        depth, cost = measure(operation.selection_set, fragments, variables)
        roots = _root_fields(operation.selection_set, fragments)
        if roots > MAX_ROOT_FIELDS:
            return GraphQLError(
                f"the query asks for {roots} top-level fields; at most {MAX_ROOT_FIELDS}",
                extensions={"code": "query-too-costly", "status": 400},
            )
        if depth > max_depth:
            return GraphQLError(
                f"query depth {depth} is over the limit of {max_depth}",
                extensions={"code": "query-too-deep", "status": 400},
            )
        if cost > max_cost:
            return GraphQLError(
                f"query cost {cost} is over the limit of {max_cost} (a field costs 1 times the limits above it)",
                extensions={"code": "query-too-costly", "status": 400},
            )
    return None
