# A complete wsgikit app: a .wsgi file is a Python file that defines `application`.
# Serve it locally with:  npx wsgi-run examples/hello.wsgi

import sys


def application(environ, start_response):
    path = environ["SCRIPT_NAME"] + environ["PATH_INFO"]
    body = (
        "Hello from wsgikit!\n"
        "You asked for %s\n"
        "Python %s\n" % (path, sys.version.split()[0])
    ).encode("utf-8")
    print("served %s" % path)  # goes to the app's log, never into the response
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
