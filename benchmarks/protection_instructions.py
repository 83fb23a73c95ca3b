"""Instructions per call of what ``key_secrets`` and ``encryption_keys`` add, first sight only.

``request_instructions.py`` measures a request on a session read again, where the store
remembers the handle and the opened value. This counts what a session's first request in a
process pays instead: each call on a new id (the HMAC) and a new stored value (AES-GCM open),
and a seal (every write). Under ``valgrind --tool=callgrind`` for ``--few`` and ``--many``
calls; the difference divided by the extra calls is one call's cost, start-up excluded.

Command: ``.venv/bin/python benchmarks/protection_instructions.py`` (needs valgrind).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

PIECES = ("handle", "open", "seal")
"""Each is counted beside ``setup`` (the same ids and sealed values made, no call), and less it."""
PAYLOAD = b'{"user": "foo", "cart": [1, 2, 3], "csrf": "0123456789abcdef"}'


def run_calls(piece: str, calls: int) -> None:
    from hug_store_redis.sessions import new_session_id
    from hug_store_redis.store.hashed_keys import KeyMapping
    from hug_store_redis.store.sealing import Sealing

    ids = [new_session_id() for _ in range(calls)]
    keys = KeyMapping([b"n" * 32, b"o" * 32])
    sealing = Sealing([bytes(range(32))], lambda key: b"instructions:" + key.encode())
    stored = [sealing.seal(PAYLOAD, sid) for sid in ids]
    if piece == "handle":
        for sid in ids:
            keys.handle(sid)
    elif piece == "open":
        for value, sid in zip(stored, ids, strict=True):
            sealing.open(value, sid)
    elif piece == "seal":
        for sid in ids:
            sealing.seal(PAYLOAD, sid)


def instructions(piece: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={directory}/out",
                sys.executable,
                __file__,
                "--trace",
                piece,
                str(calls),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{completed.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--trace"]:
        run_calls(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few", type=int, default=1000)
    parser.add_argument("--many", type=int, default=6000)
    options = parser.parse_args()
    extra = options.many - options.few
    setup = instructions("setup", options.many) - instructions("setup", options.few)
    for piece in PIECES:
        few, many = instructions(piece, options.few), instructions(piece, options.many)
        print(f"{piece:7} {(many - few - setup) / extra:8,.0f} instructions per call (first sight)")


if __name__ == "__main__":
    main()
