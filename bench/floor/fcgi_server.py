"""A FastCGI server in stdlib Python, no Node: the floor of serving a WSGI app over FastCGI from
Python alone, and the classic drop-in `.fcgi` (flup's shape) that mod_fcgid starts.

Prefork (behind nginx): fcgi_server.py --listen SOCKET --processes N MODULE_DIR MODULE
    binds SOCKET and forks N processes that accept on it, each serving one connection at a time.
Drop-in (a .fcgi that mod_fcgid runs): `run(application)` serves the listening socket mod_fcgid
    hands over on fd 0, in this one process, as flup's `WSGIServer(application).run()` does.

Per request: the whole body is read, the app's answer joined and sent as FCGI_STDOUT records,
the connection kept when the web server asked (FCGI_KEEP_CONN). Nothing else: no errors caught,
no limits, no logs, no multiplexing.
"""

import io
import os
import signal
import socket
import sys

BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT = 9, 10
BASE = {
    'wsgi.version': (1, 0),
    'wsgi.url_scheme': 'http',
    'wsgi.errors': sys.stderr,
    'wsgi.multithread': False,
    'wsgi.multiprocess': True,
    'wsgi.run_once': False,
}


def record(kind, request_id, content=b''):
    return bytes((1, kind, request_id >> 8, request_id & 255, len(content) >> 8, len(content) & 255, 0, 0)) + content


def decode_params(data):
    environ = BASE.copy()
    i, end = 0, len(data)
    while i < end:
        lengths = []
        for _ in range(2):
            n = data[i]
            if n & 128:
                n = int.from_bytes(data[i:i + 4], 'big') & 0x7FFFFFFF
                i += 4
            else:
                i += 1
            lengths.append(n)
        name_end = i + lengths[0]
        environ[data[i:name_end].decode('latin-1')] = data[name_end:name_end + lengths[1]].decode('latin-1')
        i = name_end + lengths[1]
    return environ


def cgi_response(application, environ):
    """The app's whole answer to `environ`, CGI style: "Status: ..." and the headers, then the body."""
    head = []

    def start_response(status, headers, exc_info=None):
        head[:] = [status, headers]
        return None

    result = application(environ, start_response)
    try:
        content = b''.join(result)
    finally:
        if hasattr(result, 'close'):
            result.close()
    status, headers = head
    lines = ''.join(['%s: %s\r\n' % pair for pair in headers])
    return ('Status: %s\r\n%s\r\n' % (status, lines)).encode('latin-1') + content


def respond(application, request_id, params, body):
    environ = decode_params(bytes(params))
    environ['wsgi.input'] = io.BytesIO(bytes(body))
    out = cgi_response(application, environ)
    records = [record(STDOUT, request_id, out[i:i + 65535]) for i in range(0, len(out), 65535)]
    records.append(record(STDOUT, request_id))
    records.append(record(END_REQUEST, request_id, bytes(8)))
    return b''.join(records)


def serve_connection(application, conn):
    buf = bytearray(8 + 65535 + 255)
    view = memoryview(buf)
    have = 0
    request_id, keep = 0, False
    params, body = bytearray(), bytearray()
    while True:
        while have < 8 or have < 8 + ((buf[4] << 8) | buf[5]) + buf[6]:
            n = conn.recv_into(view[have:])
            if not n:
                return
            have += n
        kind, length = buf[1], (buf[4] << 8) | buf[5]
        end = 8 + length + buf[6]
        if kind == BEGIN_REQUEST:
            request_id, keep = (buf[2] << 8) | buf[3], bool(buf[10] & 1)
        elif kind == PARAMS:
            params += view[8:8 + length]
        elif kind == STDIN and length:
            body += view[8:8 + length]
        elif kind == STDIN:
            conn.sendall(respond(application, request_id, params, body))
            params, body = bytearray(), bytearray()
            if not keep:
                return
        elif kind == ABORT_REQUEST:
            return
        elif kind == GET_VALUES:
            conn.sendall(record(GET_VALUES_RESULT, 0))
        have -= end
        if have:
            view[:have] = view[end:end + have]


def accept_forever(application, listener):
    while True:
        conn, _ = listener.accept()
        try:
            serve_connection(application, conn)
        except OSError:
            pass
        finally:
            conn.close()


def run(application):
    """Serves the listening socket on fd 0 (mod_fcgid's, or spawn-fcgi's) in this process."""
    accept_forever(application, socket.socket(fileno=0))


def prefork(path, processes, application):
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    os.chmod(path, 0o666)
    listener.listen(1024)
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            accept_forever(application, listener)
        children.append(pid)

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for pid in children:
        os.waitpid(pid, 0)


def main():
    args = sys.argv[1:]
    if len(args) != 6 or args[0] != '--listen' or args[2] != '--processes':
        sys.exit('usage: fcgi_server.py --listen SOCKET --processes N MODULE_DIR MODULE')
    sys.path.insert(0, args[4])
    prefork(args[1], int(args[3]), __import__(args[5]).application)


if __name__ == '__main__':
    main()
