"""``Codec.reference`` / ``unchanged``, the middleware's change detection, on values Python
calls equal that JSON writes differently: the compiled twin tells an untouched session by
walking a private copy of it, and that walk must never call such a session unchanged."""

import pytest

READ = {"user": "foo", "n": 1, "f": 0.0, "flag": True, "cart": [1, 2, {"x": "é"}], "none": None}


def changes(session: dict) -> list[tuple[str, object]]:
    """Sessions equal to READ under ``==`` (or holding it) whose JSON differs from READ's."""
    reordered = dict(reversed(list(session.items())))
    return [
        ("order", reordered),
        ("True for 1", {**session, "n": True}),
        ("1.0 for 1", {**session, "n": 1.0}),
        ("-0.0 for 0.0", {**session, "f": -0.0}),
        ("1 for True", {**session, "flag": 1}),
        ("nested", {**session, "cart": [1, 2, {"x": "é", "y": 1}]}),
        ("nested text", {**session, "cart": [1, 2, {"x": "e"}]}),
    ]


@pytest.mark.parametrize("name", ["python", "cython"])
def test_untouched_session_is_unchanged(twins, name):
    codec = twins[name].Codec("ns")
    payload = codec.encode(READ)
    session = codec.decode(payload, "key")
    reference = codec.reference(session, payload)
    assert codec.unchanged(session, reference)
    assert codec.unchanged(codec.decode(payload, "key"), reference)
    assert codec.unchanged({**session, "cart": tuple(session["cart"])}, reference)  # JSON alike


@pytest.mark.parametrize("name", ["python", "cython"])
@pytest.mark.parametrize("case", range(7))
def test_equal_but_differently_encoded_session_is_changed(twins, name, case):
    codec = twins[name].Codec("ns")
    payload = codec.encode(READ)
    session = codec.decode(payload, "key")
    reference = codec.reference(session, payload)
    why, changed = changes(session)[case]
    assert changed == session or why.startswith("nested")
    assert not codec.unchanged(changed, reference), why


@pytest.mark.parametrize("name", ["python", "cython"])
def test_changed_in_place_is_changed(twins, name):
    """The copy is private: a nested change to the session itself is seen."""
    codec = twins[name].Codec("ns")
    payload = codec.encode(READ)
    session = codec.decode(payload, "key")
    reference = codec.reference(session, payload)
    session["cart"][2]["x"] = "e"
    assert not codec.unchanged(session, reference)
    session["cart"][2]["x"] = "é"
    assert codec.unchanged(session, reference)
    session["cart"].append(3)
    assert not codec.unchanged(session, reference)


def test_values_outside_the_walk_answer_as_the_pure_twin(twins):
    """Big ints, text beyond Latin-1, NaN read from 1.0.0: the encoding comparison answers."""
    for text in ('{"big": 1180591620717411303424}', '{"t": "\\u20ac\\ud83d\\ude00"}', '{"score": NaN}'):
        payload = text.encode()
        answers = {}
        for name, twin in twins.items():
            codec = twin.Codec("ns")
            session = codec.decode(payload, "key")
            answers[name] = codec.unchanged(session, codec.reference(session, payload))
        assert answers["cython"] is answers["python"], (text, answers)
