"""``codec.wire``: the one copy of text-to-bytes every layer uses, the inverse of itself and the
same mapping both twins use for keys, so a decoding client's ``str`` reply maps back to the
bytes Redis holds."""

from hypothesis import given
from hypothesis import strategies as st

from hug_store_redis.codec.wire import as_bytes, as_text, bulk

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


@given(ANY_TEXT)
def test_text_round_trips_through_bytes_surrogates_included(text):
    assert as_text(as_bytes(text)) == text
    assert as_bytes(as_bytes(text)) == as_bytes(text)  # bytes pass through unchanged


@given(ANY_TEXT)
def test_text_becomes_the_bytes_of_its_key(twins, text):
    for codec in twins.values():
        assert codec.Codec("ns").namespaced_key(text) == b"ns:" + as_bytes(text)


def test_a_bulk_string_carries_its_length():
    assert bulk(b"") == b"$0\r\n\r\n"
    assert bulk(b"a\r\nb") == b"$4\r\na\r\nb\r\n"
