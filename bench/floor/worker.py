"""The bare relay's Python worker (bench/floor/relay.ts): the least a worker of wsgikit's shape
can do per request, to measure wsgikit's bridge against.

Usage: worker.py MODULE_DIR MODULE. The relay's socketpair is fd 3; requests and answers are
frames, one after another in each direction:

    request:  u32 length of what follows, u32 length of ENV, ENV ("name\\0value\\0" pairs), body
    answer:   u32 length of what follows, "Status: ...\\r\\nName: value\\r\\n\\r\\n" + body

A second request may already be waiting behind the one being served (the relay's depth 2): it
stays in the buffer and is served next. Nothing else: no errors caught, no limits, no logs.
The app's answer is made by fcgi_server.py's cgi_response, the Python server's own.
"""

import io
import socket
import sys

from fcgi_server import BASE, cgi_response


def serve(application, sock):
    size = 65536
    buf = bytearray(size)
    view = memoryview(buf)
    have = 0
    while True:
        while have < 4:
            n = sock.recv_into(view[have:])
            if not n:
                return
            have += n
        end = 4 + int.from_bytes(buf[0:4], 'big')
        if end > size:
            size = max(end, 2 * size)
            grown = bytearray(size)
            grown[:have] = view[:have]
            buf, view = grown, memoryview(grown)
        while have < end:
            n = sock.recv_into(view[have:])
            if not n:
                return
            have += n
        env_end = 8 + int.from_bytes(buf[4:8], 'big')
        pairs = str(view[8:env_end], 'latin-1').split('\0')
        environ = BASE.copy()
        environ.update(zip(pairs[0::2], pairs[1::2]))
        environ['wsgi.input'] = io.BytesIO(view[env_end:end].tobytes())
        sock.sendall(answer(application, environ))
        have -= end
        if have:
            view[:have] = view[end:end + have]


def answer(application, environ):
    out = cgi_response(application, environ)
    return len(out).to_bytes(4, 'big') + out


def main():
    sys.path.insert(0, sys.argv[1])
    application = __import__(sys.argv[2]).application
    sock = socket.socket(fileno=3)
    sock.setblocking(True)
    serve(application, sock)


if __name__ == '__main__':
    main()
