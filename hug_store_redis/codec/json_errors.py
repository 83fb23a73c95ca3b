"""Why a value ujson refused is not JSON, in this package's words: the error path of both twins."""

import json

_JSON_WHITESPACE = " \t\n\r"


def json_error(text: str | bytes) -> str:
    """Why ``text``, which ujson refused, is not JSON: in this package's words, the same
    from both twins (the compiled one calls this too).

    ujson's messages name its parser's states ("Unexpected character found when decoding
    'null'") and give no position; the standard library's parser, run only on this error
    path, finds where the text goes wrong. The position is in bytes of UTF-8, as Redis
    holds the value.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # valid UTF-8: decode_json checked it
    if not text.strip(_JSON_WHITESPACE):
        return "empty value"
    try:
        json.loads(text)
    except RecursionError:
        return "nested too deeply to read"
    except json.JSONDecodeError as exc:
        # Python 3.13 points at a trailing comma, earlier ones where the value should be:
        # report the latter on every Python, so the message does not depend on the version.
        position = exc.pos + 1 if exc.msg.startswith("Illegal trailing comma") else exc.pos
        return f"not valid JSON at byte {len(text[:position].encode('utf-8', 'surrogatepass'))}"
    except ValueError:  # an integer of more than sys.get_int_max_str_digits() digits
        return "a number too long to read"
    if _nested_deeper_than(text, _UJSON_DEPTH):  # Python 3.13's json reads any depth
        return "nested too deeply to read"
    return "not JSON this codec reads"


_UJSON_DEPTH = 1024
"""The deepest nesting of arrays and objects that ujson reads."""


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
