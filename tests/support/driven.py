"""One request through the middleware's own hooks, split at the handler.

A test holds several of these at once and runs their reads and writes in any order it
chooses, in one thread: the interleaving is exactly the one asked for, with real falcon
requests and a real Redis behind the store.
"""

import falcon
import falcon.testing


class DrivenRequest:
    def __init__(self, middleware, sid=None):
        headers = {"Cookie": f"sid={sid}"} if sid is not None else {}
        self.middleware = middleware
        self.request = falcon.Request(falcon.testing.create_environ(path="/", headers=headers))
        self.response = falcon.Response()

    @property
    def session(self):
        return self.request.context[self.middleware.context_name]

    def read(self):
        """process_request: the session as this request sees it."""
        self.middleware.process_request(self.request, self.response)
        return self.session

    def write(self):
        """process_response: the handler has returned; write what it changed."""
        self.middleware.process_response(self.request, self.response, None, True)

    def set_cookies(self):
        headers = self.response._wsgi_headers()  # falcon 2 keeps repeated headers out of .headers
        return [value for name, value in headers if name.lower() == "set-cookie"]
