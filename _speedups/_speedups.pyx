# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ``hug_store_redis._codec_py``: same names, results and exceptions."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsEncodedString, PyUnicode_DecodeUTF8
from libc.math cimport isfinite

import ujson

from hug_store_redis.errors import CorruptSessionError

MAX_DEPTH = 512
cdef int _MAX_DEPTH = MAX_DEPTH

cdef object _dumps = ujson.dumps
cdef object _loads = ujson.loads
cdef dict _DUMPS_OPTIONS = {"ensure_ascii": True, "escape_forward_slashes": False}


cdef inline bytes _encode_key(str text):
    return PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass")


cdef object _refuse(object value, str why):
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return TypeError(f"session data is not JSON: {type(value).__name__} {shown} {why}")


cdef int _check(object value, int depth) except -1:
    if value is None or value is True or value is False:
        return 0
    cdef type cls = type(value)
    if cls is str or cls is int:
        return 0
    if isinstance(value, float):
        if not isfinite(<double>value):
            raise ValueError(f"session data is not JSON: float {value!r} (NaN and Infinity are not JSON)")
        return 0
    if isinstance(value, (str, int)):
        return 0
    if depth >= _MAX_DEPTH:
        raise ValueError(f"session data is not JSON: nested deeper than {MAX_DEPTH} levels (a circular reference?)")
    if isinstance(value, dict):
        for item_key, item in value.items():
            if not (item_key is None or isinstance(item_key, (str, int))):
                raise _refuse(item_key, "is not allowed as a dict key (use str)")
            _check(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
    else:
        raise _refuse(value, "is not allowed (use dict, list, tuple, str, int, float, bool or None)")
    return 0


def check_json(data):
    _check(data, 0)


cpdef bytes encode_json(object data):
    _check(data, 0)
    cdef bytes compact = PyUnicode_AsEncodedString(_dumps(data, **_DUMPS_OPTIONS), "ascii", NULL)
    return _spaced(compact)


cdef bytes _spaced(bytes compact):
    """``, `` and ``: `` outside strings, as ``json.dumps`` writes them (see the pure twin)."""
    cdef const char* source = PyBytes_AS_STRING(compact)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(compact)
    cdef Py_ssize_t index, extra = 0, written = 0
    cdef bint in_string = False, escaped = False
    cdef char byte
    for index in range(size):
        byte = source[index]
        if in_string:
            if escaped:
                escaped = False
            elif byte == b'\\':
                escaped = True
            elif byte == b'"':
                in_string = False
        elif byte == b'"':
            in_string = True
        elif byte == b',' or byte == b':':
            extra += 1
    if extra == 0:
        return compact
    cdef bytes result = PyBytes_FromStringAndSize(NULL, size + extra)
    cdef char* target = PyBytes_AS_STRING(result)
    in_string = False
    escaped = False
    for index in range(size):
        byte = source[index]
        target[written] = byte
        written += 1
        if in_string:
            if escaped:
                escaped = False
            elif byte == b'\\':
                escaped = True
            elif byte == b'"':
                in_string = False
        elif byte == b'"':
            in_string = True
        elif byte == b',' or byte == b':':
            target[written] = b' '
            written += 1
    return result


cpdef object decode_json(object payload, object key):
    cdef str text
    if isinstance(payload, bytes):
        try:
            text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), NULL)
        except UnicodeDecodeError as exc:
            raise CorruptSessionError(key, f"invalid UTF-8 at byte {exc.start}") from None
    elif isinstance(payload, str):
        text = payload
    else:
        raise CorruptSessionError(key, f"Redis replied with {type(payload).__name__}, not a string")
    try:
        return _loads(text)
    except ValueError as exc:
        raise CorruptSessionError(key, str(exc) or "empty value") from None


cdef class Codec:
    """Everything a store turns into bytes for one namespace, and back."""

    cdef readonly str namespace
    cdef bytes _prefix

    def __init__(self, namespace):
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be str, not {type(namespace).__name__}")
        self.namespace = namespace
        self._prefix = _encode_key(namespace + ":")

    cpdef bytes namespaced_key(self, key):
        if not isinstance(key, str):
            raise TypeError(f"session key must be str, not {type(key).__name__}")
        return self._prefix + _encode_key(key)

    cpdef bytes encode(self, data):
        return encode_json(data)

    cpdef object decode(self, payload, key):
        return decode_json(payload, key)
