"""Session payloads of three sizes, shared by the benchmarks and ``hug-store-redis bench``."""

from typing import Any


def small() -> dict[str, Any]:
    """About 120 bytes: a logged-in user with a CSRF token."""
    return {
        "user_id": 48213,
        "name": "alice",
        "roles": ["admin", "user"],
        "csrf": "3f9c0a1b7e2d4c5f0a1b",
        "visits": 7,
        "beta": True,
    }


def medium() -> dict[str, Any]:
    """About 2 KB, nested, non-ASCII: a shop session with a cart."""
    return {
        "user": {"id": 48213, "name": "Zoë Ångström", "locale": "sv-SE", "roles": ["buyer"]},
        "cart": [
            {
                "sku": f"SKU-{index:05d}",
                "title": f"Kaffekopp nr {index} — grå",
                "qty": index % 3 + 1,
                "price": 129.5 + index,
                "tags": ["kök", "present"],
            }
            for index in range(12)
        ],
        "history": [f"/produkter/{index}/översikt" for index in range(10)],
        "flags": {"beta": True, "newsletter": False, "consent": None},
    }


def large() -> dict[str, Any]:
    """About 60 KB: a session someone let grow (a cached result list)."""
    return {
        "results": [
            {
                "id": index,
                "title": f"Result number {index} with a longer descriptive title",
                "score": index / 7,
                "snippet": "lorem ipsum dolor sit amet " * 3,
                "seen": index % 2 == 0,
            }
            for index in range(290)
        ]
    }


PAYLOADS = {"small": small, "medium": medium, "large": large}
