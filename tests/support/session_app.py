"""A hug app with session handlers, a way to call it, and the cookies it sets."""

import uuid

import hug

from support.server_kinds import selected_server


def make_api(middleware, handlers=("read", "write", "login", "logout", "fill", "farewell")):
    """A fresh hug API per test, so routes and middleware never leak between tests."""
    api = hug.API(f"test_middleware_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)
    name = getattr(middleware, "context_name", "session")

    def read(request):
        return dict(request.context[name])

    def write(request):
        session = request.context[name]
        session["counter"] = session.get("counter", 0) + 1
        return session["counter"]

    def login(request):
        middleware.regenerate(request)
        request.context[name]["user"] = "ann"
        return "ok"

    def logout(request):
        middleware.destroy(request)
        return "ok"

    def fill(request, size: hug.types.number):
        request.context[name]["blob"] = "x" * size
        return "ok"

    def farewell(request):
        middleware.destroy(request)
        request.context[name]["flash"] = "bye"
        return "ok"

    routes = {
        "read": read,
        "write": write,
        "login": login,
        "logout": logout,
        "fill": fill,
        "farewell": farewell,
    }
    for handler in handlers:
        hug.get(f"/{handler}", api=api)(routes[handler])
    return api


def signed_in_api(middleware):
    """A fresh hug API for the per-user index's suites: ``/login`` signs "ann" in on a new id,
    ``/add`` counts in the session (a modifying request)."""
    api = hug.API(f"test_signed_in_{uuid.uuid4().hex}")
    api.http.add_middleware(middleware)

    @hug.get("/login", api=api)
    def login(request):
        middleware.regenerate(request)
        return middleware.bind_user(request, "ann")

    @hug.get("/add", api=api)
    def add(request):
        session = request.context["session"]
        session["n"] = session.get("n", 0) + 1
        return session["n"]

    return api


def call(api, path, sid=None, cookie_name="sid", **params):
    headers = {"cookie": f"{cookie_name}={sid}"} if sid is not None else {}
    return hug.test.get(api, path, headers=headers, **params)


def set_cookies(response):
    return [value for name, value in response.headers if name.lower() == "set-cookie"]


def issued_id(response):
    (cookie,) = set_cookies(response)
    name_value = cookie.split(";")[0]
    return name_value.split("=", 1)[1]


# What the server counts for each thing the middleware does (INFO commandstats also counts the
# commands a script runs): one read, one compare-and-set write, one create. A compare-and-set
# is one SET ... IFEQ ... GET where the run's server has it (Valkey), and an emptied session
# DELIFEQ with a GET in the same round trip where it has that (Valkey 9): no script.
NATIVE = selected_server().capabilities  # the server is chosen before any test module is imported
READ = {"evalsha": 1, "get": 1, "pttl": 1}
READ_TOUCHING = {**READ, "pexpire": 1}
READ_MISSING = {"evalsha": 1, "get": 1}
CAS_WRITE = {"set": 1} if NATIVE.set_ifeq else {"evalsha": 1, "get": 1, "set": 1}
CAS_CONFLICT = {"set": 1} if NATIVE.set_ifeq else {"evalsha": 1, "get": 1}  # nothing written
CAS_DELETE = {"delifeq": 1, "get": 1} if NATIVE.delifeq else {"evalsha": 1, "get": 1, "del": 1}
CREATE = {"set": 1}
DELETE = {"del": 1}


def commands_of(*steps):
    """The command counts of ``steps`` run one after another."""
    total = {}
    for step in steps:
        for command, calls in step.items():
            total[command] = total.get(command, 0) + calls
    return total
