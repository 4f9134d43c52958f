"""Reads template.yaml - the single source of truth - for the local stack and
the tests: tables, queues, routes, environment and handlers come from here."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str, template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    template = template or load()
    return {
        name: res.get("Properties", {})
        for name, res in template["Resources"].items()
        if res["Type"] == kind
    }


def table_definitions(template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """`create_table` arguments for every table, named by its logical id."""
    tables = {}
    for name, props in resources("AWS::DynamoDB::Table", template).items():
        spec: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        tables[name] = spec
    return tables


def ttl_attributes(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    return {
        name: props["TimeToLiveSpecification"]["AttributeName"]
        for name, props in resources("AWS::DynamoDB::Table", template).items()
        if props.get("TimeToLiveSpecification", {}).get("Enabled")
    }


def create_tables(dynamodb_client: Any, template: Mapping[str, Any] | None = None) -> list[str]:
    """Creates every table the template declares (those that exist are kept)."""
    names = []
    existing = set(dynamodb_client.list_tables().get("TableNames", []))
    for name, spec in table_definitions(template).items():
        if name not in existing:
            dynamodb_client.create_table(**spec)
        names.append(name)
    for name, attribute in ttl_attributes(template).items():
        dynamodb_client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    return names


def queue_name(logical_id: str, props: Mapping[str, Any]) -> str:
    """The local queue's name: its logical id (SQS wants `.fifo` on a FIFO queue's)."""
    return f"{logical_id}.fifo" if props.get("FifoQueue") else logical_id


def create_queues(sqs_client: Any, template: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Creates every queue (dead-letter queues first); returns logical id -> URL."""
    queues = resources("AWS::SQS::Queue", template)
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name])
    for name in ordered:
        props = queues[name]
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if props.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
            for key in ("DeduplicationScope", "FifoThroughputLimit", "ContentBasedDeduplication"):
                if key in props:
                    attributes[key] = str(props[key]).lower() if key[0] == "C" else props[key]
        if "RedrivePolicy" in props:
            policy = props["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = (
                f'{{"deadLetterTargetArn":"{arns[target]}","maxReceiveCount":"{policy["maxReceiveCount"]}"}}'
            )
        url = sqs_client.create_queue(QueueName=queue_name(name, props), Attributes=attributes)[
            "QueueUrl"
        ]
        urls[name] = url
        arns[name] = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    return urls


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # /campaigns/{campaign_id}
    function: str  # logical id
    authorizer: str | None  # None: public
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def _route_pattern(path: str) -> re.Pattern[str]:
    if path == "$default":
        return re.compile(r"/.*")
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(regex)


def routes(template: Mapping[str, Any] | None = None) -> list[Route]:
    """HTTP API routes, most specific first ($default last), as API Gateway matches them."""
    found = []
    for name, props in resources("AWS::Serverless::Function", template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            authorizer = p.get("Auth", {}).get("Authorizer")
            found.append(
                Route(
                    method=p["Method"].upper(),
                    path=p["Path"],
                    function=name,
                    authorizer=None if authorizer in (None, "NONE") else authorizer,
                    pattern=_route_pattern(p["Path"]),
                )
            )
    return sorted(found, key=lambda r: (r.path == "$default", "{" in r.path, r.path))


def function_environment(
    function: str, refs: Mapping[str, str], template: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The function's environment as deployed, with !Ref resolved through `refs`."""
    template = template or load()
    variables = dict(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    own = resources("AWS::Serverless::Function", template)[function]
    variables.update(own.get("Environment", {}).get("Variables", {}))
    resolved = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref not in refs:
                continue
            value = refs[ref]
        resolved[key] = str(value)
    return resolved


def parameter_defaults(template: Mapping[str, Any] | None = None) -> dict[str, str]:
    template = template or load()
    return {
        k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v
    }


@cache
def load_handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    """Imports a function's handler exactly as Lambda would find it: CodeUri + Handler."""
    props = resources("AWS::Serverless::Function")[function]
    module_name, attribute = props["Handler"].rsplit(".", 1)
    source = ROOT / props["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    unique = f"cashmob_function_{function}"
    spec = importlib.util.spec_from_file_location(unique, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return getattr(module, attribute)
