"""What a failing client call raised, in a form two paths' failures can be compared by."""

import pytest
import redis


def failure(call):
    """The exception's type and message, and the types of those it was raised from or during."""
    with pytest.raises(redis.RedisError) as caught:
        call()
    chain, error = [], caught.value.__cause__ or caught.value.__context__
    while error is not None and len(chain) < 10:
        chain.append(type(error))
        error = error.__cause__ or error.__context__
    return type(caught.value), str(caught.value), chain
