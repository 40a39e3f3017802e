"""waitress, answering in the API's own shape even where waitress answers before the app.

``pserve INI http_port=N`` overrides the port of ``listen``: PasteDeploy lets an ini's own
``[DEFAULT]`` win over command-line variables, so a default port cannot live there.

waitress refuses some requests itself (a body over ``max_request_body_size``, a bad
``Content-Length``, headers too large) with a text/plain page; here those answers are JSON in
the API's error shape, with a request id and the security headers, like every other answer.
"""

import json

from waitress import serve_paste
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from .errors import error_body
from .hardening import SECURITY_HEADERS, new_request_id

CODES = {413: "body_too_large", 431: "headers_too_large"}


class APIErrorTask(ErrorTask):
    def execute(self):
        error = self.request.error
        code = CODES.get(error.code) or error.reason.lower().replace(" ", "_")
        body = json.dumps(error_body(code, str(error.body))).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                *SECURITY_HEADERS.items(),
                ("X-Request-Id", new_request_id()),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class APIChannel(HTTPChannel):
    error_task_class = APIErrorTask


def create_api_server(app, **kw):
    """waitress's ``create_server``, its listening sockets using ``APIChannel``."""
    socket_map = kw.pop("map", None) or {}
    server = create_server(app, map=socket_map, **kw)
    for dispatcher in socket_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = APIChannel
    return server


def serve(app, global_conf, **settings):
    port = global_conf.get("http_port")
    if port:
        host = settings.get("listen", "127.0.0.1:6543").rsplit(":", 1)[0]
        settings["listen"] = f"{host}:{int(port)}"
    return serve_paste(app, global_conf, _server=create_api_server, **settings)
