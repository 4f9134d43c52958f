"""Prints docs/openapi.json, generated from the API function's resolver."""

from __future__ import annotations

import json
import sys

from . import template


def document() -> dict:
    template.load_handler("ApiFunction")  # imports the function module
    module = sys.modules["cashmob_function_ApiFunction"]
    spec = module.app.get_openapi_json_schema(
        title="cashmob",
        version="0.1.0",
        summary="Collective micro-funding: money moves only if the group succeeds.",
        security_schemes={
            "OrganizerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        },
    )
    return json.loads(spec)


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
