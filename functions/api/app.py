"""The HTTP API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from cashmob import services
from cashmob.observability import handler

app = APIGatewayHttpResolver()


@app.get("/campaigns")
def list_campaigns() -> dict[str, Any]:
    page = services.current().store.list_campaigns(status=None, limit=20, after=None)
    return {"campaigns": [c.id for c in page.items], "next_cursor": page.next_cursor}


@handler()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
