"""How text becomes Redis bytes and back, and a bulk string or a command framed: one copy for every layer.

Keys are UTF-8 with ``surrogatepass`` (any ``str`` is a valid session id or user id, and the
mapping stays one-to-one), so a ``str`` reply of a decoding client
(``decode_responses=True``) is turned back into the bytes Redis holds the same way.
"""


def as_bytes(value: bytes | str) -> bytes:
    """``value`` as the bytes Redis holds: a ``str`` (a decoding client's reply) in UTF-8."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def as_text(value: bytes | str) -> str:
    """``value`` as text: bytes (a client's reply) read as UTF-8, the inverse of ``as_bytes``."""
    return value if isinstance(value, str) else value.decode("utf-8", "surrogatepass")


def bulk(part: bytes) -> bytes:
    """One RESP bulk string: ``$``, the length, CRLF, the bytes, CRLF."""
    return b"$%d\r\n%s\r\n" % (len(part), part)


def command(*parts: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings, for a connection that takes framed bytes.

    ``str`` parts are UTF-8 (``as_bytes``), ``int`` parts their decimal digits.
    """
    framed = [b"*%d\r\n" % len(parts)]
    for part in parts:
        framed.append(bulk(b"%d" % part if isinstance(part, int) else as_bytes(part)))
    return b"".join(framed)
