# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, auto_pickle=False
"""Compiled twin of ``hug_store_redis.codec._codec_py``: same names, results and exceptions."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Check, PyDict_Copy, PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.list cimport PyList_Check, PyList_GET_ITEM, PyList_GET_SIZE, PyList_GetSlice
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_Check
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_AsEncodedString, PyUnicode_DecodeUTF8


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    int PyUnicode_KIND(object text)
    int PyUnicode_1BYTE_KIND
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy
from libc.math cimport isfinite

import ujson

from hug_store_redis.codec._codec_py import SESSION_ID_LENGTH, ujson_builtin
from hug_store_redis.codec.json_errors import json_error
from hug_store_redis.errors import CorruptSessionError

MAX_DEPTH = 512
cdef int _MAX_DEPTH = MAX_DEPTH

# The C functions themselves, even when hug has already swapped ujson.dumps for its proxy.
cdef object _dumps = ujson_builtin("dumps", "encode")
cdef object _loads = ujson_builtin("loads", "decode")
cdef dict _DUMPS_OPTIONS = {"ensure_ascii": True, "escape_forward_slashes": False}


cdef inline bytes _encode_key(str text):
    if PyUnicode_IS_COMPACT_ASCII(text):  # every session id: its bytes are the text's own
        return PyBytes_FromStringAndSize(<char*>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
    return PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass")


cdef object _refuse(object value, str why):
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return TypeError(f"session data is not JSON: {type(value).__name__} {shown} {why}")


cdef int _check(object value, int depth) except -1:
    """The pure twin's walk, on the C API: the same order, so the same first error."""
    if value is None or value is True or value is False:
        return 0
    cdef type cls = type(value)
    if cls is str or cls is int:
        return 0
    if PyFloat_Check(value):
        if not isfinite(PyFloat_AS_DOUBLE(value)):
            raise ValueError(f"session data is not JSON: float {value!r} (NaN and Infinity are not JSON)")
        return 0
    if PyUnicode_Check(value) or PyLong_Check(value):
        return 0
    if depth >= _MAX_DEPTH:
        raise ValueError(f"session data is not JSON: nested deeper than {MAX_DEPTH} levels (a circular reference?)")
    cdef Py_ssize_t position = 0, index
    cdef PyObject* key_pointer
    cdef PyObject* item_pointer
    if PyDict_Check(value):
        # PyDict_Next reads the storage ujson will read, whatever items() says.
        while PyDict_Next(value, &position, &key_pointer, &item_pointer):
            item_key = <object>key_pointer
            if not (item_key is None or PyUnicode_Check(item_key) or PyLong_Check(item_key)):
                raise _refuse(item_key, "is not allowed as a dict key (use str)")
            _check(<object>item_pointer, depth + 1)
    elif PyList_Check(value):
        index = 0
        while index < PyList_GET_SIZE(value):
            _check(<object>PyList_GET_ITEM(value, index), depth + 1)
            index += 1
    elif PyTuple_Check(value):
        for index in range(PyTuple_GET_SIZE(value)):
            _check(<object>PyTuple_GET_ITEM(value, index), depth + 1)
    else:
        raise _refuse(value, "is not allowed (use dict, list, tuple, str, int, float, bool or None)")
    return 0


def check_json(data):
    _check(data, 0)


cpdef bytes encode_json(object data):
    _check(data, 0)
    cdef str compact = _dumps(data, **_DUMPS_OPTIONS)
    if not PyUnicode_IS_COMPACT_ASCII(compact):  # ensure_ascii promises this; never trust, check
        raise ValueError("ujson wrote non-ASCII text with ensure_ascii=True")
    return _spaced(<const unsigned char*>PyUnicode_DATA(compact), PyUnicode_GET_LENGTH(compact))


cpdef bint encodes_as(object data, object payload):
    """The pure twin's answer, from one ujson call with no options (keywords cost ujson more
    than encoding a small session): its default output differs from ``encode``'s only in
    ``\\/`` for ``/``, a raw DEL for ``\\u007f`` and the layout, all matched here."""
    cdef const unsigned char* expected
    cdef Py_ssize_t expected_size
    if isinstance(payload, bytes):
        expected = <const unsigned char*>PyBytes_AS_STRING(payload)
        expected_size = PyBytes_GET_SIZE(payload)
    elif isinstance(payload, str) and PyUnicode_IS_COMPACT_ASCII(payload):
        expected = <const unsigned char*>PyUnicode_DATA(payload)
        expected_size = PyUnicode_GET_LENGTH(payload)
    else:
        return False
    cdef str compact
    try:
        compact = _dumps(data)
    except (TypeError, ValueError, OverflowError):
        return False
    if not PyUnicode_IS_COMPACT_ASCII(compact):
        return False
    return _same_layout(<const unsigned char*>PyUnicode_DATA(compact), PyUnicode_GET_LENGTH(compact),
                        expected, expected_size)


cdef object _snapshot(object value, int depth):
    """A private copy of the containers of a decoded session (leaves are immutable and
    shared), so ``unchanged`` can tell an untouched session by walking it, without encoding
    it; None past ``MAX_DEPTH`` (the encoding comparison then decides alone)."""
    cdef type cls = type(value)
    cdef Py_ssize_t position = 0, index, size
    cdef PyObject* key_pointer
    cdef PyObject* item_pointer
    cdef dict copied
    cdef list items
    cdef type item_cls
    # Copied whole (the leaves shared, as they are immutable), then each container inside
    # replaced by its own copy: cheaper than building the copy item by item.
    if cls is dict:
        if depth >= _MAX_DEPTH:
            raise RecursionError
        copied = PyDict_Copy(value)
        while PyDict_Next(copied, &position, &key_pointer, &item_pointer):
            item_cls = type(<object>item_pointer)
            if item_cls is dict or item_cls is list:  # a value replaced, the size unchanged
                copied[<object>key_pointer] = _snapshot(<object>item_pointer, depth + 1)
        return copied
    if cls is list:
        if depth >= _MAX_DEPTH:
            raise RecursionError
        size = PyList_GET_SIZE(value)
        items = PyList_GetSlice(value, 0, size)
        for index in range(size):
            item_cls = type(<object>PyList_GET_ITEM(items, index))
            if item_cls is dict or item_cls is list:
                items[index] = _snapshot(<object>PyList_GET_ITEM(items, index), depth + 1)
        return items
    return value


cdef bint _plain_text(object text):
    """A str ujson encodes whatever it holds: ASCII or Latin-1, so no lone surrogate."""
    return PyUnicode_IS_COMPACT_ASCII(text) or PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND


cdef bint _same_tree(object session, object snapshot, int depth):
    """Whether ``session`` is ``snapshot`` value for value: the same exact types, dict keys
    in the same order, and only leaves whose JSON is a function of their value (ASCII or
    Latin-1 str, 64-bit int, finite float, bool, None). True means both encode alike; False
    means only "not proven": the encoding comparison then decides, as before."""
    cdef type cls = type(session)
    cdef Py_ssize_t position = 0, other_position = 0, index, size
    cdef PyObject* key_pointer
    cdef PyObject* item_pointer
    cdef PyObject* other_key_pointer
    cdef PyObject* other_item_pointer
    cdef int overflow
    cdef double number, other_number
    if cls is not type(snapshot) or depth >= _MAX_DEPTH:
        return False
    if cls is str:
        return (session is snapshot or session == snapshot) and _plain_text(session)
    if cls is dict:
        if len(<dict>session) != len(<dict>snapshot):
            return False
        while PyDict_Next(session, &position, &key_pointer, &item_pointer):
            if not PyDict_Next(snapshot, &other_position, &other_key_pointer, &other_item_pointer):
                return False
            if not _same_tree(<object>key_pointer, <object>other_key_pointer, depth + 1):
                return False
            if not _same_tree(<object>item_pointer, <object>other_item_pointer, depth + 1):
                return False
        return True
    if cls is list:
        size = PyList_GET_SIZE(session)
        if size != PyList_GET_SIZE(snapshot):
            return False
        for index in range(size):
            if not _same_tree(<object>PyList_GET_ITEM(session, index),
                              <object>PyList_GET_ITEM(snapshot, index), depth + 1):
                return False
        return True
    if cls is int:
        PyLong_AsLongLongAndOverflow(session, &overflow)
        return overflow == 0 and session == snapshot
    if cls is float:
        number, other_number = PyFloat_AS_DOUBLE(session), PyFloat_AS_DOUBLE(snapshot)
        return isfinite(number) and memcmp(&number, &other_number, sizeof(double)) == 0
    return session is snapshot and (session is None or session is True or session is False)


cdef object _NO_SNAPSHOT = object()


cdef bint _same_value(object session, object payload):
    """Bytes in another writer's layout (1.0.0's float forms, another client's compact JSON)
    may hold the session's value all the same: compared as the pure twin compares."""
    try:
        return _dumps(session) == _dumps(decode_json(payload, ""))
    except (TypeError, ValueError, OverflowError, CorruptSessionError):
        return False


cdef bint _same_layout(const unsigned char* compact, Py_ssize_t size,
                       const unsigned char* expected, Py_ssize_t expected_size):
    """Whether ``_spaced`` of ujson's default output, with ``\\/`` read as ``/``, is ``expected``."""
    cdef Py_ssize_t index = 0, at = 0
    cdef unsigned char byte
    cdef bint in_string = False
    while index < size:
        byte = compact[index]
        index += 1
        if in_string and byte == 92:  # an escape: ``\\/`` is the store's ``/``, others are the same two bytes
            if index == size:
                return False
            byte = compact[index]
            index += 1
            if byte == 47:
                if at >= expected_size or expected[at] != 47:
                    return False
                at += 1
            else:
                if at + 1 >= expected_size or expected[at] != 92 or expected[at + 1] != byte:
                    return False
                at += 2
            continue
        if in_string and byte == 127:
            if at + 6 > expected_size or memcmp(expected + at, b"\\u007f", 6) != 0:
                return False
            at += 6
            continue
        if at >= expected_size or expected[at] != byte:
            return False
        at += 1
        if byte == 34:
            in_string = not in_string
        elif not in_string and (byte == 44 or byte == 58):  # , and : are followed by a space
            if at >= expected_size or expected[at] != 32:
                return False
            at += 1
    return at == expected_size


# The characters of a session id (URL-safe base64), for ASCII text read as bytes.
cdef unsigned char _ID_CHARS[256]
for _byte in range(256):
    _ID_CHARS[_byte] = (48 <= _byte <= 57 or 65 <= _byte <= 90 or 97 <= _byte <= 122
                        or _byte == 45 or _byte == 95)


cpdef object first_cookie_id(str header, str prefix):
    """The pure twin's answer in one pass over the characters, without the regex engine:
    over the bytes themselves for ASCII text (the header browsers send), else by character."""
    cdef Py_ssize_t start = len(prefix), end = start + SESSION_ID_LENGTH, index
    cdef Py_UCS4 char
    cdef const unsigned char* text
    if PyUnicode_IS_COMPACT_ASCII(header) and PyUnicode_IS_COMPACT_ASCII(prefix):
        if PyUnicode_GET_LENGTH(header) < end:
            return None
        text = <const unsigned char*>PyUnicode_DATA(header)
        if PyUnicode_GET_LENGTH(header) > end and text[end] != 59:  # ;
            return None
        if memcmp(text, PyUnicode_DATA(prefix), start) != 0:
            return None
        for index in range(start, end):
            if not _ID_CHARS[text[index]]:
                return None
        return header[start:end]
    if len(header) < end or (len(header) > end and header[end] != u";"):
        return None
    if not header.startswith(prefix):
        return None
    for index in range(start, end):
        char = header[index]
        if not (u"a" <= char <= u"z" or u"A" <= char <= u"Z" or u"0" <= char <= u"9"
                or char == u"-" or char == u"_"):
            return None
    return header[start:end]


# Bytes that end a plain run, outside and inside JSON strings.
cdef unsigned char _ENDS_OUTSIDE[256]
cdef unsigned char _ENDS_INSIDE[256]
for _byte in range(256):
    _ENDS_OUTSIDE[_byte] = _byte in (34, 44, 58)  # " , :
    _ENDS_INSIDE[_byte] = _byte in (34, 92, 127)  # " \ DEL


cdef bytes _spaced(const unsigned char* source, Py_ssize_t size):
    """``, `` and ``: `` outside strings and DEL escaped, as ``json.dumps`` writes them.

    The pure twin says the same with str methods; here it is one pass that copies plain
    runs whole, into a buffer grown as needed.
    """
    cdef Py_ssize_t capacity = size + size // 4 + 16, written = 0, index = 0, start
    cdef unsigned char* target = <unsigned char*>PyMem_Malloc(capacity)
    cdef unsigned char byte
    cdef bint in_string = False
    if target == NULL:
        raise MemoryError()
    try:
        while index < size:
            start = index
            if in_string:
                while index < size and not _ENDS_INSIDE[source[index]]:
                    index += 1
            else:
                while index < size and not _ENDS_OUTSIDE[source[index]]:
                    index += 1
            # the run, plus at most 6 bytes for what ends it
            target = _reserve(target, &capacity, written + (index - start) + 6)
            memcpy(target + written, source + start, index - start)
            written += index - start
            if index == size:
                break
            byte = source[index]
            index += 1
            if byte == 34:  # a quote opens or closes a string
                target[written] = byte
                written += 1
                in_string = not in_string
            elif not in_string:  # , or :
                target[written] = byte
                target[written + 1] = 32
                written += 2
            elif byte == 127:
                memcpy(target + written, b"\\u007f", 6)
                written += 6
            else:  # a backslash and the character it escapes
                target[written] = byte
                written += 1
                if index < size:
                    target[written] = source[index]
                    written += 1
                    index += 1
        return PyBytes_FromStringAndSize(<char*>target, written)
    finally:
        PyMem_Free(target)


cdef unsigned char* _reserve(unsigned char* buffer, Py_ssize_t* capacity, Py_ssize_t needed) except NULL:
    """``buffer`` with room for ``needed`` bytes; on failure the caller still frees the old one."""
    cdef unsigned char* grown
    cdef Py_ssize_t wanted = capacity[0]
    if needed <= wanted:
        return buffer
    while wanted < needed:
        wanted *= 2
    grown = <unsigned char*>PyMem_Realloc(buffer, wanted)
    if grown == NULL:
        raise MemoryError()
    capacity[0] = wanted
    return grown


cdef inline bint _is_ascii(bytes payload):
    """No byte above 0x7F, eight at a time: such bytes are their own UTF-8 decoding."""
    cdef const unsigned char* data = <const unsigned char*>PyBytes_AS_STRING(payload)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t at = 0
    cdef uint64_t word
    while at + 8 <= size:
        memcpy(&word, data + at, 8)
        if word & 0x8080808080808080ULL:
            return False
        at += 8
    while at < size:
        if data[at] & 0x80:
            return False
        at += 1
    return True


cpdef object decode_json(object payload, object key):
    cdef object text
    if isinstance(payload, bytes) and _is_ascii(payload):
        text = payload  # ujson reads ASCII bytes as they are: no str built in between
    elif isinstance(payload, bytes):
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
    except ValueError:
        raise CorruptSessionError(key, json_error(text)) from None


cdef bytes _GET = b"*2\r\n$3\r\nGET\r\n"
cdef bytes _GETEX = b"*4\r\n$5\r\nGETEX\r\n"
cdef bytes _SET = b"*3\r\n$3\r\nSET\r\n"
cdef bytes _SET_EX = b"*5\r\n$3\r\nSET\r\n"
cdef bytes _EXISTS = b"*2\r\n$6\r\nEXISTS\r\n"
cdef bytes _DEL = b"*2\r\n$3\r\nDEL\r\n"


cdef inline Py_ssize_t _digits(Py_ssize_t value):
    """Decimal digits of a size (never negative)."""
    cdef Py_ssize_t count = 1
    while value >= 10:
        value //= 10
        count += 1
    return count


cdef inline Py_ssize_t _bulk_size(Py_ssize_t size):
    """Bytes of a bulk string holding ``size`` bytes: ``$``, the length, CRLF, data, CRLF."""
    return 1 + _digits(size) + 2 + size + 2


cdef inline Py_ssize_t _put(char* target, Py_ssize_t at, bytes part):
    cdef Py_ssize_t size = PyBytes_GET_SIZE(part)
    memcpy(target + at, PyBytes_AS_STRING(part), size)
    return at + size


cdef inline Py_ssize_t _put_length(char* target, Py_ssize_t at, Py_ssize_t size):
    """``$``, the length in decimal and CRLF: the head of a bulk string."""
    cdef Py_ssize_t end = at + 1 + _digits(size)
    cdef Py_ssize_t index = end
    target[at] = 36
    while True:
        index -= 1
        target[index] = <char>(48 + size % 10)
        size //= 10
        if size == 0:
            break
    target[end] = 13
    target[end + 1] = 10
    return end + 2


cdef inline Py_ssize_t _put_crlf(char* target, Py_ssize_t at):
    target[at] = 13
    target[at + 1] = 10
    return at + 2


cdef class Codec:
    """Everything a store turns into bytes for one namespace and expiry, and back.

    Frames are written straight into one bytes object, sized exactly beforehand: prefix,
    key and payload are each copied once.
    """

    cdef readonly str namespace
    cdef readonly object expiration
    cdef bytes _prefix
    cdef bytes _ex_arguments

    def __init__(self, namespace, expiration=None):
        # namespace first, then expiration: both twins report the same first problem.
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be str, not {type(namespace).__name__}")
        if expiration is not None and (type(expiration) is not int or expiration <= 0):
            raise ValueError(f"expiration must be a positive int or None, got {expiration!r}")
        # A plain str copy: a subclass cannot change what the prefix is made of.
        self.namespace = str.__str__(namespace)
        self.expiration = expiration
        self._prefix = _encode_key(self.namespace + ":")
        if expiration is None:
            self._ex_arguments = b""
        else:
            seconds = b"%d" % expiration
            self._ex_arguments = b"$2\r\nEX\r\n$%d\r\n%s\r\n" % (len(seconds), seconds)

    cdef inline bytes _key_bytes(self, key):
        if not isinstance(key, str):
            raise TypeError(f"session key must be str, not {type(key).__name__}")
        return _encode_key(<str>key)

    cpdef bytes namespaced_key(self, key):
        return self._prefix + self._key_bytes(key)

    cpdef bytes encode(self, data):
        return encode_json(data)

    cpdef object decode(self, payload, key):
        return decode_json(payload, key)

    def reference(self, data, payload):
        """A private copy of ``data``'s containers beside the bytes read: a session the
        handler left alone is told unchanged by a walk, with no encoding; otherwise its
        encoding is compared with the bytes, as the pure twin compares."""
        try:
            return _snapshot(data, 0), payload
        except RecursionError:
            return _NO_SNAPSHOT, payload

    def unchanged(self, session, reference):
        cdef object snapshot, payload = reference
        if type(reference) is tuple and len(<tuple>reference) == 2:  # from ``reference``
            snapshot, payload = <tuple>reference
            if snapshot is not _NO_SNAPSHOT and _same_tree(session, snapshot, 0):
                return True
        return encodes_as(session, payload) or _same_value(session, payload)

    def copy(self, data):
        """The pure twin's ``copy``: ``_snapshot``, the same private copy ``reference`` keeps."""
        return _snapshot(data, 0)

    def keep(self, data, reference):
        """The pure twin's ``keep``: ``reference`` already holds a private copy of ``data`` as
        decoded (its snapshot, which nothing changes), so the cache keeps that one tree."""
        if type(reference) is tuple and len(<tuple>reference) == 2:
            snapshot = (<tuple>reference)[0]
            if snapshot is not _NO_SNAPSHOT:
                return snapshot
        return _snapshot(data, 0)

    def decoded_hits(self, cache, entries, recalls, never, monotonic, touch_below_ms, check, owner):
        """The pure twin's ``decoded_hits``: this twin's ``DecodedHits`` on this codec's keys."""
        return DecodedHits(cache, entries, recalls, never, monotonic, self, touch_below_ms, check, owner)

    def first_cookie_id(self, str header, str prefix):
        return first_cookie_id(header, prefix)

    cdef bytes _frame(self, bytes head, bytes key, bytes payload, bytes tail):
        """head, the namespaced key as a bulk string, optionally the payload, then tail."""
        cdef Py_ssize_t key_size = PyBytes_GET_SIZE(self._prefix) + PyBytes_GET_SIZE(key)
        cdef Py_ssize_t total = PyBytes_GET_SIZE(head) + _bulk_size(key_size) + PyBytes_GET_SIZE(tail)
        if payload is not None:
            total += _bulk_size(PyBytes_GET_SIZE(payload))
        # A fresh bytes object nobody else holds yet may be written in place.
        cdef bytes frame = PyBytes_FromStringAndSize(NULL, total)
        cdef char* target = PyBytes_AS_STRING(frame)
        cdef Py_ssize_t at = _put(target, 0, head)
        at = _put_length(target, at, key_size)
        at = _put(target, at, self._prefix)
        at = _put(target, at, key)
        at = _put_crlf(target, at)
        if payload is not None:
            at = _put_length(target, at, PyBytes_GET_SIZE(payload))
            at = _put(target, at, payload)
            at = _put_crlf(target, at)
        at = _put(target, at, tail)
        if at != total:  # the sizes above and the writes here must agree, byte for byte
            raise SystemError(f"frame size {at} != {total}")
        return frame

    cpdef bytes frame_get(self, key):
        return self._frame(_GET, self._key_bytes(key), None, b"")

    cpdef bytes frame_getex(self, key):
        if self.expiration is None:
            return self._frame(_GET, self._key_bytes(key), None, b"")
        return self._frame(_GETEX, self._key_bytes(key), None, self._ex_arguments)

    cpdef bytes frame_set(self, key, payload):
        cdef bytes key_bytes = self._key_bytes(key)
        if not isinstance(payload, bytes):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        return self._frame(
            _SET if self.expiration is None else _SET_EX, key_bytes, <bytes>payload, self._ex_arguments
        )

    cpdef bytes frame_keyed(self, bytes head, key, bytes tail=b"", tuple arguments=()):
        cdef bytes key_bytes = self._key_bytes(key)
        cdef bytes frame
        cdef char* target
        cdef Py_ssize_t at, total, key_size
        cdef object argument
        if head is None or tail is None or arguments is None:  # typed, yet None passes: sizes read unchecked
            raise TypeError("head, tail and arguments must not be None")
        if not arguments:
            return self._frame(head, key_bytes, None, tail)
        for argument in arguments:  # all checked before any size is taken
            if type(argument) is not bytes:
                raise TypeError(f"arguments must be bytes, not {type(argument).__name__}")
        key_size = PyBytes_GET_SIZE(self._prefix) + PyBytes_GET_SIZE(key_bytes)
        total = PyBytes_GET_SIZE(head) + _bulk_size(key_size) + PyBytes_GET_SIZE(tail)
        for argument in arguments:
            total += _bulk_size(PyBytes_GET_SIZE(<bytes>argument))
        frame = PyBytes_FromStringAndSize(NULL, total)
        target = PyBytes_AS_STRING(frame)
        at = _put(target, 0, head)
        at = _put_length(target, at, key_size)
        at = _put(target, at, self._prefix)
        at = _put(target, at, key_bytes)
        at = _put_crlf(target, at)
        at = _put(target, at, tail)
        for argument in arguments:
            at = _put_length(target, at, PyBytes_GET_SIZE(<bytes>argument))
            at = _put(target, at, <bytes>argument)
            at = _put_crlf(target, at)
        if at != total:  # the sizes above and the writes here must agree, byte for byte
            raise SystemError(f"frame size {at} != {total}")
        return frame

    cpdef bytes frame_exists(self, key):
        return self._frame(_EXISTS, self._key_bytes(key), None, b"")

    cpdef bytes frame_delete(self, key):
        return self._frame(_DEL, self._key_bytes(key), None, b"")


# ---------------------------------------------------------------------------------------------
# Replies read in C: the fast path's exchange (one frame sent, one simple reply parsed).
# The specification is ``_codec_py.parse_reply`` / ``_codec_py.exchange``; this section is
# self-contained so that other sections can be merged around it.
# ---------------------------------------------------------------------------------------------

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.string cimport memchr


cdef extern from *:
    """
    #ifdef _WIN32
    /* No poll() here: every connection counts as not idle, so the general path checks it. */
    static int hsr_not_idle(int fd) { (void)fd; return 1; }
    #else
    #include <poll.h>
    /* Readable, hung up, in error, or poll() failed: the connection is not idle. */
    static int hsr_not_idle(int fd) {
        struct pollfd polled;
        polled.fd = fd;
        polled.events = POLLIN;
        polled.revents = 0;
        return poll(&polled, 1, 0) != 0;
    }
    #endif
    """
    int hsr_not_idle(int fd) nogil

# Longest integer taken here: 18 digits always fit a long long; longer ones go to hiredis.
cdef Py_ssize_t _MAX_DIGITS = 18


class Handoff:
    """What ``exchange`` did not finish: the caller hands it to the connection's own parser.

    ``sent`` is False when ``sendall`` raised ``error``; otherwise ``error`` is what
    ``recv_into`` raised (None when it returned) and ``received`` the bytes it left in the
    buffer, which are not a whole simple reply.
    """

    __slots__ = ("error", "received", "sent")

    def __init__(self, error, sent, received):
        self.error = error
        self.sent = sent
        self.received = received


cdef object _NOT_SIMPLE = object()
NOT_SIMPLE = _NOT_SIMPLE


cdef inline Py_ssize_t _line_end(const char* data, Py_ssize_t at, Py_ssize_t size):
    """Where the line starting at ``at`` ends (its CR, followed by LF), or -1."""
    if at >= size:
        return -1
    cdef const char* found = <const char*>memchr(data + at, 13, <size_t>(size - at))
    if found == NULL:
        return -1
    cdef Py_ssize_t end = found - data
    if end + 1 >= size or data[end + 1] != 10:
        return -1
    return end


cdef inline bint _number(const char* data, Py_ssize_t start, Py_ssize_t end, long long* value):
    """A decimal in hiredis's canonical form (no sign but a leading minus, no leading zero,
    no "-0"), of at most 18 digits."""
    cdef bint negative = False
    cdef long long result = 0
    cdef char digit
    if start < end and data[start] == 45:  # "-"
        negative = True
        start += 1
    if end - start < 1 or end - start > _MAX_DIGITS:
        return False
    if data[start] == 48 and (end - start > 1 or negative):  # a leading "0", or "-0"
        return False
    while start < end:
        digit = data[start]
        if digit < 48 or digit > 57:
            return False
        result = result * 10 + (digit - 48)
        start += 1
    value[0] = -result if negative else result
    return True


cdef object _item(const char* data, Py_ssize_t* at, Py_ssize_t size, bint nested):
    """One bulk string, integer, simple string or null at ``at[0]``, moving past it; with
    ``nested`` False also a flat array of them. ``_NOT_SIMPLE`` for anything else, or when
    the bytes end first."""
    cdef Py_ssize_t start = at[0]
    cdef Py_ssize_t end = _line_end(data, start + 1, size)
    cdef long long number
    cdef Py_ssize_t index
    cdef char kind
    cdef list items
    cdef object item
    if end < 0:
        return _NOT_SIMPLE
    kind = data[start]
    if kind == 36:  # "$" bulk string
        if end - start == 3 and data[start + 1] == 45 and data[start + 2] == 49:  # "$-1": nil
            at[0] = end + 2
            return None
        if not _number(data, start + 1, end, &number) or number < 0:
            return _NOT_SIMPLE
        if end + 2 + number + 2 > size or data[end + 2 + number] != 13 or data[end + 3 + number] != 10:
            return _NOT_SIMPLE
        at[0] = end + 4 + number
        return PyBytes_FromStringAndSize(data + end + 2, <Py_ssize_t>number)
    if kind == 58:  # ":" integer
        if not _number(data, start + 1, end, &number):
            return _NOT_SIMPLE
        at[0] = end + 2
        return number
    if kind == 43:  # "+" simple string
        at[0] = end + 2
        return PyBytes_FromStringAndSize(data + start + 1, end - start - 1)
    if kind == 95:  # "_" RESP3 null
        if end != start + 1:
            return _NOT_SIMPLE
        at[0] = end + 2
        return None
    if kind == 42 and not nested:  # "*" array
        if end - start == 3 and data[start + 1] == 45 and data[start + 2] == 49:  # "*-1": nil
            at[0] = end + 2
            return None
        if not _number(data, start + 1, end, &number) or number < 0 or number > size:
            return _NOT_SIMPLE
        at[0] = end + 2
        items = PyList_New(<Py_ssize_t>number)  # slots left empty on the way out are NULL: safe
        for index in range(<Py_ssize_t>number):
            item = _item(data, at, size, True)
            if item is _NOT_SIMPLE:
                return _NOT_SIMPLE
            Py_INCREF(item)  # PyList_SET_ITEM steals a reference
            PyList_SET_ITEM(items, index, item)
        return items
    return _NOT_SIMPLE  # errors, push frames, RESP3's other types, nested arrays: hiredis's


cpdef object parse_reply(object buffer, Py_ssize_t size):
    """The reply in ``buffer[:size]`` as hiredis (without decoding) parses it, when it is
    exactly one simple reply; else ``NOT_SIMPLE``. Off the hot path (``exchange`` parses its
    buffer in place): a copy, as the pure twin takes, and no typed memoryview, whose support
    code would bring pickling into the module."""
    cdef bytes data = bytes(buffer)
    cdef Py_ssize_t at = 0
    if size <= 0 or size > PyBytes_GET_SIZE(data):
        return _NOT_SIMPLE
    value = _item(PyBytes_AS_STRING(data), &at, size, False)
    if at != size:
        return _NOT_SIMPLE
    return value


cdef object _exchange(object sendall, object recv_into, bytes frame, bytearray buffer):
    cdef Py_ssize_t received
    cdef Py_ssize_t at = 0
    try:
        sendall(frame)
    except BaseException as error:
        return Handoff(error, False, 0)
    try:
        received = recv_into(buffer)
    except BaseException as error:
        return Handoff(error, True, 0)
    if received <= 0 or received > PyByteArray_GET_SIZE(buffer):
        return Handoff(None, True, received if received > 0 else 0)
    value = _item(PyByteArray_AS_STRING(buffer), &at, received, False)
    if value is _NOT_SIMPLE or at != received:
        return Handoff(None, True, received)
    return value


def exchange(sock, bytes frame not None, bytearray buffer not None):
    """``frame`` sent with ``sock.sendall``, one ``recv_into(buffer)``, its simple reply parsed;
    a ``Handoff`` for anything else (a failure, an error reply, a push frame, a partial reply,
    bytes beyond the reply)."""
    return _exchange(sock.sendall, sock.recv_into, frame, buffer)


cdef object _NOT_STARTED = object()
NOT_STARTED = _NOT_STARTED


def exchange_idle(tuple connection not None, bytes frame not None):
    """``exchange`` on an idle kept ``connection``, ``(its socket's sendall, recv_into and file
    descriptor, the parser's buffer, its reader's has_data)``: ``NOT_STARTED``, with nothing
    sent, when the reader holds bytes (``has_data()``) or the socket is readable (the server
    closed it, or sent something unasked): the caller's general path then checks it."""
    if len(connection) != 5:
        raise TypeError("connection must be (sendall, recv_into, file descriptor, buffer, has_data)")
    sendall, recv_into, fd, buffer, has_data = connection
    if type(buffer) is not bytearray:  # read through unchecked below
        raise TypeError("the connection's buffer must be a bytearray")
    return _exchange_idle(sendall, recv_into, fd, frame, buffer, has_data)


cdef object _exchange_idle(
    object sendall, object recv_into, int fd, bytes frame, bytearray buffer, object has_data
):
    if has_data():
        return _NOT_STARTED
    if hsr_not_idle(fd):
        return _NOT_STARTED
    return _exchange(sendall, recv_into, frame, buffer)


# ---- Local-cache hits of decoded sessions (cache/cached_reads.py's hot path) -------------
# The pure twin is ``DecodedHits`` in ``_decoded_py.py``; LocalCache's entries are
# ``(payload, served until, key expires at, (session, reference, owner) or None, its counted size)``.

from cpython.dict cimport PyDict_GetItem


cdef class DecodedHits:
    """The pure twin's ``DecodedHits``: one C call per hit instead of three Python frames."""

    cdef object _cache
    cdef object _entries
    cdef object _move_to_end
    cdef object _recalls
    cdef object _never
    cdef object _monotonic
    cdef object _owner
    cdef Codec _codec
    cdef double _touch_below_ms
    cdef public object check
    cdef public bint closed
    cdef object __weakref__  # the store holds its readers weakly, to close them

    def __init__(self, cache, entries, recalls, never, monotonic, Codec codec, touch_below_ms, check, owner):
        self._cache = cache
        self._entries = entries
        self._move_to_end = entries.move_to_end
        self._recalls = recalls
        self._never = never
        self._monotonic = monotonic
        self._codec = codec
        self._touch_below_ms = touch_below_ms
        self.check = check
        self.closed = False
        self._owner = owner

    cpdef object hit(self, key):
        cdef double now
        cdef PyObject* found
        cdef tuple entry
        cdef object expires_at
        if self.closed:
            return None
        if self.check is not None:
            self.check()
        now = <double>self._monotonic()
        if now >= <double>self._cache._serving_until:
            return None
        full_key = self._codec.namespaced_key(key)
        found = PyDict_GetItem(self._entries, full_key)
        if found is NULL:
            return None
        # Checked before the unchecked reads below: anything but LocalCache's entries is no hit.
        if type(<object>found) is not tuple or PyTuple_GET_SIZE(<object>found) != 5:
            return None
        entry = <tuple>found
        if now >= <double>entry[1]:
            return None
        expires_at = entry[2]
        if expires_at is not self._never and (<double>expires_at - now) * 1000 < self._touch_below_ms:
            return None
        kept = entry[3]
        if kept is None:
            return False
        if type(kept) is not tuple or PyTuple_GET_SIZE(kept) != 3 or (<tuple>kept)[2] is not self._owner:
            return None
        try:
            self._move_to_end(full_key)
        except KeyError:
            pass
        next(self._recalls)
        return entry[0], _snapshot((<tuple>kept)[0], 0), (<tuple>kept)[1]
