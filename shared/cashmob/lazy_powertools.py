"""Imported first by the handler modules that use Powertools' event handler or
its event classes (the API; the SQS workers, through the batch utility):
those packages become shells (`cashmob.lazy_imports`), so a function imports
the resolver or the record class it uses by its module, without the package
`__init__` that imports every resolver (AppSync's brings asyncio) and every
event class; and asyncio, which the batch utility imports for its async
processors alone, stays a shell until something asks it for a name. Nothing
changes where Powertools (or asyncio) is imported already."""

from __future__ import annotations

from .lazy_imports import powertools

powertools()
