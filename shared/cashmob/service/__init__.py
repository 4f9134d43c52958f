"""Use cases: each handler route calls one of these."""
