"""waitress, with ``pserve INI http_port=N`` overriding the port of ``listen``.

PasteDeploy lets an ini's own ``[DEFAULT]`` win over command-line variables, so a default port
cannot live there; the ini names its port in ``listen`` and this runner swaps it when asked.
"""

from waitress import serve_paste


def serve(app, global_conf, **settings):
    port = global_conf.get("http_port")
    if port:
        host = settings.get("listen", "127.0.0.1:6543").rsplit(":", 1)[0]
        settings["listen"] = f"{host}:{int(port)}"
    return serve_paste(app, global_conf, **settings)
