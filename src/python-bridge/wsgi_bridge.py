# -*- coding: utf-8 -*-
"""wsgikit bridge: runs one WSGI application for a wsgikit front end.

    PYTHON wsgi_bridge.py --app /abs/path/app.wsgi --mode persistent|oneshot
                          [--cpu-limit SECONDS] [--as-limit-mb MB] [--offload-files 1]
                          [--claim-fd 5]

The front end (TypeScript) sends requests as frames on fd 3 and reads the responses as frames on
fd 4; fds 1 and 2 are the app's log. PROTOCOL.md next to this file is the contract; this file is
its Python half. Standard library only; CPython 2.7 and 3.6+, PyPy3.

Sections, in the order the process lives through them:
  1. compatibility shims        5. wsgi.input
  2. frames on fds 3 and 4      6. start_response, header checks, the response writer
  3. process setup              7. one request
  4. loading the app            8. main
"""

from __future__ import print_function

import errno
import io
import itertools
import os
import re
import select
import signal
import struct
import sys
import time

# threading, traceback and platform are imported where they are used (stack dumps, tracebacks):
# every bridge start would otherwise pay for them, ~16M instructions of CPython 3.11's ~70M for
# this file's imports, most of it traceback's linecache and tokenize.

# ---------------------------------------------------------------------------------------------
# 1. Compatibility shims
#
# PEP 3333 "native strings" are bytes on Python 2 and str on Python 3; everything that crosses
# the protocol goes through these few helpers so the rest of the file reads the same on both.
# ---------------------------------------------------------------------------------------------

PY2 = sys.version_info[0] == 2

if PY2:  # pragma: no cover - exercised only by the 2.7 test run
    native_str = str
    text_type = unicode  # noqa: F821 (Python 2 builtin)

    def native_from_latin1(data):
        return data  # bytes already are the native string

    def latin1(text):
        return text if isinstance(text, str) else text.encode('latin-1')

    def utf8(text):
        return text if isinstance(text, str) else text.encode('utf-8', 'backslashreplace')

    exec('def reraise(exc_info):\n    raise exc_info[0], exc_info[1], exc_info[2]\n')
    clock = time.time
    fsencode = utf8
else:
    native_str = str
    text_type = str

    def native_from_latin1(data):
        return data.decode('latin-1')

    def latin1(text):
        return text.encode('latin-1')

    def utf8(text):
        return text.encode('utf-8', 'backslashreplace')

    def reraise(exc_info):
        raise exc_info[1].with_traceback(exc_info[2])

    clock = time.perf_counter
    fsencode = os.fsencode

try:
    import faulthandler
except ImportError:  # Python 2
    faulthandler = None

BRIDGE_FILE = os.path.abspath(__file__)
# sys.path before the app's folder is put first: where the bridge's late imports come from.
BRIDGE_PATH = list(sys.path)
if BRIDGE_FILE.endswith(('.pyc', '.pyo')):
    BRIDGE_FILE = BRIDGE_FILE[:-1]

# ---------------------------------------------------------------------------------------------
# 2. Frames on fds 3 and 4
#
# type (1 ASCII byte) + length (u32 big-endian) + payload. fd 3 is read in 64 KiB os.read calls
# into one buffer and frames are cut out of it, so a small request (R+B+E written at once by the
# front end) costs one read; responses are gathered into one os.writev where possible.
# ---------------------------------------------------------------------------------------------

FRAME_IN, FRAME_OUT = 3, 4
MAX_PAYLOAD = 1024 * 1024
# Not larger: os.read allocates the full size first, and above malloc's mmap threshold (128 KiB)
# every read became an mmap/munmap pair, which quadrupled the bridge's CPU time per request.
READ_SIZE = 64 * 1024
HEADER = struct.Struct('>cI')
HEADER_SIZE = HEADER.size
# While the app produces a response we peek at fd 3 for an abort; body frames the app has not
# read yet pile up in the buffer, so stop reading ahead past this much.
PEEK_LIMIT = 2 * MAX_PAYLOAD + HEADER_SIZE

R, Q, B, E, A = b'R', b'Q', b'B', b'E', b'A'
Y, F, S, X, Z, K = b'Y', b'F', b'S', b'X', b'Z', b'K'
EMPTY_FRAME = {kind: HEADER.pack(kind, 0) for kind in (E, Z, K)}
EMPTY_E, EMPTY_Z = EMPTY_FRAME[E], EMPTY_FRAME[Z]


HAVE_WRITEV = hasattr(os, 'writev')      # not on Python 2
HAVE_SENDFILE = hasattr(os, 'sendfile')  # not on Python 2


def _retry(fn, *args):
    """Call an os function again after EINTR (Python 3.5+ does so itself: PEP 475)."""
    while True:
        try:
            return fn(*args)
        except OSError as e:
            if e.errno != errno.EINTR:
                raise


if PY2:  # pragma: no cover - exercised only by the 2.7 test run
    def os_read(fd, size):
        return _retry(os.read, fd, size)

    def os_write(fd, data):
        return _retry(os.write, fd, data)
else:
    # The calls of every request, without the wrapper: Python 3 retries them itself.
    os_read, os_write = os.read, os.write


class ProtocolError(Exception):
    """The front end broke PROTOCOL.md: the bridge cannot trust the channel any more."""


def frame(kind, payload=b''):
    return HEADER.pack(kind, len(payload)) + payload


def abort_of(payload):
    """(request number, reason) of an A frame's payload."""
    seq, _, reason = bytes(payload).partition(b'\0')
    try:
        number = int(seq)
    except ValueError:
        raise ProtocolError('A frame without a request number: %r' % bytes(payload[:40]))
    return number, reason.decode('utf-8', 'replace') or 'aborted'


def text_frame(kind, fields):
    """Y, F, X: human-readable text fields, UTF-8, NUL-joined (NUL inside a field is escaped)."""
    return frame(kind, b'\0'.join(utf8(f).replace(b'\0', b'\\0') for f in fields))


class Channel(object):
    """Reads frames from fd 3 and writes frames to fd 4."""

    def __init__(self, rfd, wfd, claim_fd=None):
        self.rfd, self.wfd = rfd, wfd
        self.claim_fd = claim_fd
        self.seq = 0  # the number of the request being run: R and Q frames counted from 1
        self.buf = bytearray()
        self.pos = 0  # start of the first unconsumed frame in buf
        self.eof = False
        self.poller = select.poll()
        self.poller.register(rfd, select.POLLIN)

    def _fill(self):
        """One blocking os.read into the buffer. False at EOF."""
        data = os_read(self.rfd, READ_SIZE)
        if not data:
            self.eof = True
            return False
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data
        return True

    def _header_at(self, pos):
        """(kind, size, end) of the frame starting at pos, or None if it is not all buffered."""
        buf = self.buf
        if len(buf) - pos < HEADER_SIZE:
            return None
        kind, size = HEADER.unpack_from(buf, pos)
        if size > MAX_PAYLOAD:
            raise ProtocolError('frame %r of %d bytes exceeds MAX_PAYLOAD' % (kind, size))
        end = pos + HEADER_SIZE + size
        return (kind, size, end) if end <= len(buf) else None

    def next_frame(self):
        """The next frame as (kind, payload bytes), blocking; None at EOF."""
        while True:
            # _header_at, written out: this runs for every frame.
            buf, pos = self.buf, self.pos
            if len(buf) - pos >= HEADER_SIZE:
                kind, size = HEADER.unpack_from(buf, pos)
                if size > MAX_PAYLOAD:
                    raise ProtocolError('frame %r of %d bytes exceeds MAX_PAYLOAD' % (kind, size))
                end = pos + HEADER_SIZE + size
                if end <= len(buf):
                    payload = bytes(buf[pos + HEADER_SIZE:end]) if size else b''
                    if end == len(buf):
                        del buf[:]
                        self.pos = 0
                    else:
                        self.pos = end
                    return kind, payload
            if self.eof or not self._fill():
                if len(self.buf) > self.pos:
                    raise ProtocolError('fd 3 closed in the middle of a frame')
                return None

    def take_end(self):
        """Consume an E frame that is next in the buffer, without reading. True if there was one."""
        buf, pos = self.buf, self.pos
        if not buf.startswith(EMPTY_E, pos):
            return False
        pos += HEADER_SIZE
        if pos == len(buf):
            del buf[:]
            pos = 0
        self.pos = pos
        return True

    def pending_abort(self):
        """Without blocking: the reason of an A frame for the current request, if one came.

        A queued request (Q, B*, E) may sit between the current request's frames and its A, so
        every buffered frame is looked at and an A counts only if it names the current request.
        Reads ahead only while the backlog is small."""
        while not self.eof and len(self.buf) - self.pos < PEEK_LIMIT and self.poller.poll(0):
            if not self._fill():
                break
        pos = self.pos
        while True:
            found = self._header_at(pos)
            if found is None:
                return None
            kind, size, end = found
            if kind == A:
                seq, reason = abort_of(self.buf[pos + HEADER_SIZE:end])
                if seq == self.seq:
                    return reason
            pos = end

    def claim(self):
        """Take the token of the Q just read: one byte read at the offset this process shares with
        the front end. Whoever reads it first owns the request; no byte means the front end took
        it back."""
        if self.claim_fd is None:
            raise ProtocolError('a queued request (Q) came, but no --claim-fd was given')
        return len(os_read(self.claim_fd, 1)) == 1

    def write(self, parts):
        """Write a list of byte strings as one os.writev (or one os.write)."""
        if len(parts) == 1 or not HAVE_WRITEV:
            data = parts[0] if len(parts) == 1 else b''.join(parts)
            done = os_write(self.wfd, data)
            if done == len(data):
                return
        else:
            done = os.writev(self.wfd, parts)  # only on Python 3, which retries it itself
            total = sum(map(len, parts))
            if done == total:
                return
            data = b''.join(parts)  # a signal cut the writev short: finish with plain writes
        view = memoryview(data)
        while done < len(data):
            done += _retry(os.write, self.wfd, view[done:])



# ---------------------------------------------------------------------------------------------
# 3. Process setup
# ---------------------------------------------------------------------------------------------

USAGE = ('usage: wsgi_bridge.py --app /abs/path/app.wsgi --mode persistent|oneshot '
         '[--cpu-limit SECONDS] [--as-limit-mb MB] [--offload-files 1] [--claim-fd 5]')


class Options(object):
    app = None
    mode = None
    cpu_limit = None
    as_limit_mb = None
    offload_files = False
    claim_fd = None


def parse_args(argv):
    """Hand-rolled (argparse costs milliseconds on every CGI request). None on a usage error."""
    opts = Options()
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag not in ('--app', '--mode', '--cpu-limit', '--as-limit-mb', '--offload-files',
                        '--claim-fd') or not args:
            return None
        value = args.pop(0)
        if flag == '--app':
            opts.app = value
        elif flag == '--mode':
            opts.mode = value
        elif flag == '--offload-files':
            if value != '1':
                return None
            opts.offload_files = True
        else:
            try:
                number = int(value)
            except ValueError:
                return None
            if number <= 0:
                return None
            if flag == '--cpu-limit':
                opts.cpu_limit = number
            elif flag == '--claim-fd':
                opts.claim_fd = number
            else:
                opts.as_limit_mb = number
    if not opts.app or not os.path.isabs(opts.app) or opts.mode not in ('persistent', 'oneshot'):
        return None
    return opts


class LineStream(object):
    """Python 2 only: a line-buffered fd writer that takes both str and unicode."""

    encoding, errors = 'utf-8', 'backslashreplace'

    def __init__(self, fd):
        self.fd, self.parts = fd, []

    def write(self, text):
        data = utf8(text)
        self.parts.append(data)
        if b'\n' in data:
            self.flush()

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        data, self.parts = b''.join(self.parts), []
        while data:
            data = data[_retry(os.write, self.fd, data):]

    def fileno(self):
        return self.fd

    def isatty(self):
        return False


def log_stream(fd):
    if PY2:
        return LineStream(fd)
    return io.open(fd, 'w', buffering=1, encoding='utf-8', errors='backslashreplace',
                   closefd=False)


def set_cloexec(fd):
    import fcntl
    fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)


def setup_process(opts):
    """Everything that must hold before the app's own code runs."""
    # The app's print(), logging and C extensions all write to fds 1 and 2, which the front end
    # reads into the app's log. Whatever the locale, they must not fail on a non-ASCII character.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    sys.stdout, sys.stderr = log_stream(1), log_stream(2)
    # Programs the app starts must not hold our channel open (or write frames into it).
    set_cloexec(FRAME_IN)
    set_cloexec(FRAME_OUT)
    if opts.claim_fd is not None:
        set_cloexec(opts.claim_fd)
    if faulthandler is not None:
        faulthandler.enable(file=sys.stderr, all_threads=True)
    signal.signal(signal.SIGUSR1, dump_stacks)
    # Ctrl-C under wsgi-run reaches the whole process group; the front end decides when we stop
    # (EOF on fd 3). A Python-level handler, unlike SIG_IGN, is not inherited by subprocesses.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    if opts.cpu_limit or opts.as_limit_mb:
        import resource
        if opts.cpu_limit:
            signal.signal(signal.SIGXCPU, on_cpu_limit)  # before the limit: the default dumps core
            set_limit(resource, resource.RLIMIT_CPU, opts.cpu_limit, opts.cpu_limit + 10)
        if opts.as_limit_mb:
            size = opts.as_limit_mb * 1024 * 1024
            set_limit(resource, resource.RLIMIT_AS, size, size)


def set_limit(resource, which, soft, hard):
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:  # we can lower a hard limit, never raise it
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


class State(object):
    recycle = None  # set to a reason ('cpu-limit'): the next Z carries it, then we exit 0
    offload_files = False  # --offload-files: the web server sends whole regular files


def stdlib(name):
    """A standard-library module, imported on first use so that a worker that never fails does not
    carry it. Imported from the bridge's own sys.path: once the app's folder leads sys.path, an
    app's traceback.py or threading.py would otherwise stand in for it in the error handling."""
    module = sys.modules.get(name)
    if module is None:
        saved = sys.path[:]
        sys.path[:] = BRIDGE_PATH
        try:
            module = __import__(name)
        finally:
            sys.path[:] = saved
    return module


def on_cpu_limit(signum, frame):
    State.recycle = 'cpu-limit'


def dump_stacks(signum, frame):
    """SIGUSR1: the front end saw a request pass its timeout; log where every thread is."""
    threading, traceback = stdlib('threading'), stdlib('traceback')
    names = dict((t.ident, t.name) for t in threading.enumerate())
    me = threading.current_thread().ident
    out = ['wsgikit: stack dump (pid %d)\n' % os.getpid()]
    for ident, top in sorted(sys._current_frames().items()):
        if ident == me:
            top = frame  # not this handler, but the code it interrupted
        out.append('Thread %s (%s), most recent call last:\n' % (ident, names.get(ident, '?')))
        out.extend(traceback.format_stack(top))
    out.append('wsgikit: end of stack dump\n')
    # Straight to fd 2: the app may have been interrupted inside sys.stderr.write itself.
    data = utf8(''.join(out))
    while data:
        data = data[_retry(os.write, 2, data):]


# ---------------------------------------------------------------------------------------------
# 4. Loading the app
# ---------------------------------------------------------------------------------------------

class LoadFailure(Exception):
    def __init__(self, kind, summary, details):
        Exception.__init__(self, summary)
        self.kind, self.summary, self.details = kind, summary, details


def format_exception(exc_type, exc, tb):
    """A traceback without the bridge's own frames at its top: the app's code comes first."""
    traceback = stdlib('traceback')
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == BRIDGE_FILE:
        tb = tb.tb_next
    return ''.join(traceback.format_exception(exc_type, exc, tb))


def exception_line(exc):
    """'Type: first line of the message', short enough for a one-line summary."""
    try:
        message = text_type(exc).strip().split('\n')[0]
    except Exception:  # Python 2: a message of non-ASCII bytes
        message = repr(exc.args)
    name = type(exc).__name__
    line = '%s: %s' % (name, message) if message else name
    return line if len(line) <= 300 else line[:297] + '...'


def load_app(path):
    """Compile and run the .wsgi file as a fresh module; return (application, import_ms)."""
    name = os.path.basename(path)
    folder = os.path.dirname(path)
    try:
        with open(path, 'rb') as f:
            source = f.read()
    except (IOError, OSError) as e:
        raise LoadFailure('file', 'cannot read %s: %s; check that the file exists and that the '
                          'user the app runs as may read it' % (path, e.strerror or e),
                          format_exception(*sys.exc_info()))
    # The app's folder replaces ours as sys.path[0], so its own modules import and ours do not.
    sys.path[0] = folder
    sys.argv = [path]
    started = clock()
    try:
        code = compile(source, path, 'exec', dont_inherit=True)
    except (SyntaxError, ValueError, TypeError) as e:  # ValueError/TypeError: NUL bytes
        traceback = stdlib('traceback')
        where = ' line %s' % e.lineno if getattr(e, 'lineno', None) else ''
        # SyntaxError's str() repeats the file and line; its .msg is the bare message.
        message = '%s: %s' % (type(e).__name__, e.msg) if getattr(e, 'msg', None) \
            else exception_line(e)
        raise LoadFailure('syntax', '%s%s: %s; fix the file (Python %s)'
                          % (name, where, message, sys.version.split()[0]),
                          ''.join(traceback.format_exception_only(type(e), e)))
    # A module name unique to this path: the .wsgi never collides with a real module.
    module_name = '_wsgi_%08x' % (_crc32(fsencode(path)) & 0xffffffff)
    module = type(sys)(module_name)
    module.__file__ = path
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as e:  # SystemExit and friends too: nothing the file does may kill us
        exc_info = sys.exc_info()
        if isinstance(e, ImportError):
            hint = ('; install it for %s (or in a venv/ beside %s), or fix the import'
                    % (sys.executable, name))
        else:
            hint = '; see the traceback'
        raise LoadFailure('import', '%s raised %s while loading%s'
                          % (name, exception_line(e), hint), format_exception(*exc_info))
    import_ms = (clock() - started) * 1000.0
    if 'application' not in module.__dict__:
        others = [n for n in ('app', 'App', 'wsgi_app', 'api', 'server') if n in module.__dict__]
        fix = ('add `application = %s`' % others[0] if others
               else 'add `from myapp import app as application`')
        raise LoadFailure('no-application', '%s defines no `application`: %s' % (name, fix), '')
    application = module.__dict__['application']
    if not callable(application):
        raise LoadFailure('not-callable', '`application` in %s is a %s, not a callable WSGI app; '
                          'assign the app object itself (e.g. `application = app`)'
                          % (name, type(application).__name__), '')
    return application, import_ms


def _crc32(data):
    import zlib
    return zlib.crc32(data)


# ---------------------------------------------------------------------------------------------
# 5. wsgi.input
#
# Streams the request body frame by frame: a read pulls only the frames it needs, so an upload is
# never held in memory and the unread part waits in kernel buffers (backpressure to the client).
# ---------------------------------------------------------------------------------------------

OPEN, ENDED, ABORTED = 0, 1, 2


class ClientDisconnected(IOError):
    """The request body broke off (client gone, or the front end aborted the request)."""


class Input(object):
    # Defaults an instance overrides once the app reads (Response says why).
    reason = None
    data = b''  # the current B payload, consumed from pos
    pos = 0

    def __init__(self, channel):
        self.channel = channel
        # Most requests have no body: their E came in the same read as the R.
        self.state = ENDED if channel.take_end() else OPEN

    def _next(self):
        """Pull the next body frame. False when there is no more body."""
        if self.state != OPEN:
            if self.state == ABORTED:
                raise ClientDisconnected('request body broke off: %s' % self.reason)
            return False
        got = self.channel.next_frame()
        kind = got[0] if got else None
        if kind == B:
            self.data, self.pos = got[1], 0
            return True
        if kind == E:
            self.state = ENDED
            return False
        self.state = ABORTED
        if kind == A:
            self.reason = abort_of(got[1])[1]
        elif got is None:
            self.reason = 'the front end closed the channel'
        else:
            raise ProtocolError('frame %r inside a request body' % kind)
        raise ClientDisconnected('request body broke off: %s' % self.reason)

    def finish(self):
        """Skip what the app left unread of this request's body, up to its E or A."""
        while self.state == OPEN:
            got = self.channel.next_frame()
            if got is None or got[0] == A:
                self.state = ABORTED
            elif got[0] == E:
                self.state = ENDED
            elif got[0] != B:
                raise ProtocolError('frame %r inside a request body' % got[0])
        self.data = b''

    def read(self, size=-1):
        if size is None or size < 0:
            parts = [self.data[self.pos:]] if self.pos < len(self.data) else []
            self.data, self.pos = b'', 0
            while self._next():
                parts.append(self.data)
            self.data = b''
            return b''.join(parts)
        parts = []
        while size > 0:
            if self.pos >= len(self.data) and not self._next():
                break
            data, pos = self.data, self.pos
            if pos == 0 and size >= len(data):
                piece = data  # the whole frame: no copy
            else:
                piece = data[pos:pos + size]
            self.pos = pos + len(piece)
            size -= len(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def readline(self, size=-1):
        if size is None:
            size = -1
        parts = []
        while size != 0:
            if self.pos >= len(self.data) and not self._next():
                break
            data, pos = self.data, self.pos
            end = data.find(b'\n', pos) + 1 or len(data)
            if 0 < size < end - pos:
                end = pos + size
            parts.append(data[pos:end])
            self.pos = end
            size -= end - pos
            if data[end - 1:end] == b'\n':
                break
        return b''.join(parts)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    next = __next__  # Python 2


# ---------------------------------------------------------------------------------------------
# 6. start_response, header checks, the response writer
# ---------------------------------------------------------------------------------------------

class BadResponse(Exception):
    """The app broke the WSGI contract (PEP 3333). Raised from start_response so that the
    traceback ends at the app's own call; reported as `bad-response`."""


TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
BAD_VALUE = re.compile('[\r\n\0]')
STATUS = re.compile(r'[1-5][0-9][0-9] [^\r\n\0]*\Z')
HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
                        'te', 'trailers', 'transfer-encoding', 'upgrade'))


# Heads already checked, by (status, headers as a tuple): most apps send the same few heads again
# and again. Not on Python 2, where a unicode header equals (and hashes like) the native str that
# was checked, so a hit would let a non-native string through.
HEAD_CACHE = None if PY2 else {}
HEAD_CACHE_SIZE = 64


def check_response_head(status, headers):
    """Validate status and headers; return (S frame bytes, Content-Length or None)."""
    if HEAD_CACHE is not None and type(headers) is list:
        try:
            key = (status, tuple(headers))
            found = HEAD_CACHE.get(key)
        except TypeError:  # an unhashable header: the full check says what is wrong
            return _check_response_head(status, headers)
        if found is None:
            found = _check_response_head(status, headers)
            if len(HEAD_CACHE) >= HEAD_CACHE_SIZE:
                HEAD_CACHE.clear()
            HEAD_CACHE[key] = found
        return found
    return _check_response_head(status, headers)


def _check_response_head(status, headers):
    if type(status) is not native_str:
        raise BadResponse('status must be a %s like "200 OK", got %s %r'
                          % (native_str.__name__, type(status).__name__, status))
    if not STATUS.match(status):
        raise BadResponse('status must be "NNN Reason" with a 3-digit code from 100 to 599, '
                          'got %r' % (status,))
    if type(headers) is not list:
        raise BadResponse('headers must be a list of (name, value) tuples, got %s'
                          % type(headers).__name__)
    fields = [status]
    length = None
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise BadResponse('each header must be a (name, value) tuple, got %r' % (item,))
        name, value = item
        if type(name) is not native_str or type(value) is not native_str:
            raise BadResponse('header name and value must be %s, got %r'
                              % (native_str.__name__, item))
        if not TOKEN.match(name):
            raise BadResponse('header name %r is not a valid HTTP token' % (name,))
        if BAD_VALUE.search(value):
            raise BadResponse('header %s has a CR, LF or NUL in its value %r: header injection?'
                              % (name, value))
        lname = name.lower()
        if lname in HOP_BY_HOP:
            raise BadResponse('header %s is hop-by-hop: the server manages the connection, a '
                              'WSGI app must not send it (PEP 3333)' % name)
        if lname == 'content-length':
            if not value.strip().isdigit():
                raise BadResponse('Content-Length must be a number of bytes, got %r' % (value,))
            length = int(value)
        fields.append(name)
        fields.append(value)
    try:
        payload = latin1('\0'.join(fields))
    except UnicodeError:
        bad = [f for f in fields if not _is_latin1(f)][0]
        raise BadResponse('%r cannot be sent in an HTTP header: it has characters beyond '
                          'latin-1; encode it (e.g. RFC 8187 or percent-encoding)' % (bad,))
    return frame(S, payload), length


def _is_latin1(text):
    try:
        latin1(text)
        return True
    except UnicodeError:
        return False


class FileWrapper(object):
    """wsgi.file_wrapper. A regular file is sent with os.sendfile by Response.send_file; anything
    else is read in blocks of `blksize`."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    next = __next__  # Python 2


class Aborted(Exception):
    """Internal: the front end sent A; stop producing the response."""


# What Response.stream() leaves to send_iterable(): the iterables it checks first or sends
# another way (None is checked there too).
NOT_STREAMED = (list, tuple, FileWrapper, bytes, text_type)
NOTHING = object()  # an iterable's end, told apart from any item it may yield


class Response(object):
    """Collects the status and headers from start_response and writes the body as frames.

    Output is gathered in `out` and flushed as one write: after each chunk of a streaming
    iterable, or once at the end for a list/tuple (so a one-piece body goes out with S and Z)."""

    # Each request starts from these; an instance sets only what changes (the bridge pays for
    # every line run per request, and most responses touch few of them).
    head = None          # the S frame, once start_response was called
    given = None         # (status, headers) as the app gave them, to rebuild the S frame
    length = None        # Content-Length the app declared
    sent = 0             # body bytes written
    headers_sent = False
    chunks = 0
    out_size = 0
    aborted = None       # the abort reason
    truncated = False
    started = False
    poll = True          # look for an abort between chunks (not inside a list)

    def __init__(self, channel, input_, environ):
        self.channel = channel
        self.input = input_
        self.environ = environ
        self.out = []

    # -- the two callables the app gets ---------------------------------------------------------

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:
                    reraise(exc_info)  # too late to change the response: let it fail as it was
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.started:
            raise BadResponse('start_response() called a second time without exc_info')
        self.head, self.length = check_response_head(status, headers)
        self.given = (status, headers)
        self.started = True
        return self.write

    def write(self, data):
        """The legacy write() callable: the data goes out before write() returns."""
        if not self.started:
            raise BadResponse('write() called before start_response()')
        self.send(data)
        self.flush()

    # -- body --------------------------------------------------------------------------------------

    def send(self, data):
        """Queue one body chunk (headers first if this is the first non-empty one)."""
        if type(data) is not bytes:
            raise BadResponse(body_type_error(data))
        if not data:
            return
        if self.aborted is not None:
            raise Aborted(self.aborted)  # the app caught the first one and went on
        if self.chunks and self.poll:
            self.check_abort()
        self.chunks += 1
        if not self.headers_sent:
            self.send_headers()
        if self.length is not None and self.sent + len(data) > self.length:
            data = data[:self.length - self.sent]
            self.truncated = True
            self.warn_truncated()
        if not data:
            return
        size = len(data)
        self.sent += size
        out = self.out
        if size <= MAX_PAYLOAD:
            out.append(HEADER.pack(B, size))
            out.append(data)
        else:
            for start in range(0, size, MAX_PAYLOAD):
                piece = data[start:start + MAX_PAYLOAD]
                out.append(HEADER.pack(B, len(piece)))
                out.append(piece)
        self.out_size += size

    def warn_truncated(self):
        warn('response to %s is longer than its Content-Length (%d bytes): the rest is dropped'
             % (request_line(self.environ), self.length))

    def send_headers(self):
        if self.head is None:
            raise BadResponse('the app returned a body without calling start_response()')
        self.out.append(self.head)
        self.headers_sent = True

    def check_abort(self):
        if self.input.state == ABORTED:
            reason = self.input.reason
        else:
            reason = self.channel.pending_abort()
        if reason is not None:
            self.aborted = reason
            raise Aborted(reason)

    def flush(self):
        if self.out:
            self.channel.write(self.out)
            self.out = []
            self.out_size = 0

    def send_iterable(self, result):
        """Write every chunk the app's iterable yields."""
        kind = type(result)
        buffered = kind is list or kind is tuple  # most apps: nothing else to check
        if not buffered:
            if kind is FileWrapper:
                if State.offload_files and self.offload_file(result):
                    return
                if HAVE_SENDFILE and self.send_file(result):
                    return
            elif result is None:
                raise BadResponse('the app returned None instead of an iterable of bytes; '
                                  'return a list such as [body]')
            elif isinstance(result, (bytes, text_type)):
                raise BadResponse('the app returned a %s instead of an iterable of bytes; return '
                                  '[body] instead of body' % type(result).__name__)
        self.poll = not buffered  # a list has no waits between its items to abort in
        self.send_items(result, buffered)

    def send_items(self, items, buffered):
        for chunk in items:
            self.send(chunk)
            if self.truncated:
                break
            if not buffered or self.out_size >= MAX_PAYLOAD:
                self.flush()

    def stream(self, result):
        """send_iterable() for an iterable that is not a list, a tuple or a FileWrapper (a
        framework's response object), with its usual body done at once: one bytes object within the
        Content-Length goes out with S before the next item is asked for (PEP 3333: no block may
        wait for the app), as send() and flush() would send it."""
        items = iter(result)
        chunk = next(items, NOTHING)
        if chunk is NOTHING:
            return
        size = len(chunk) if type(chunk) is bytes else 0
        if 0 < size <= MAX_PAYLOAD and self.head is not None and not self.headers_sent and \
                (self.length is None or size <= self.length):
            self.headers_sent = True
            self.chunks = 1
            self.sent = size
            self.channel.write([self.head, HEADER.pack(B, size), chunk])
        else:
            items = itertools.chain((chunk,), items)  # the general rules for this one too
        self.send_items(items, False)

    def offload_file(self, wrapper):
        """A whole regular file becomes an X-Sendfile header and an empty body: the web server sends
        it, once the front end has checked the path (it trusts nothing from this process). False:
        send the bytes instead (a pipe, a file read from the middle, a Content-Length that differs,
        a path that cannot be named)."""
        if self.headers_sent or self.given is None:
            return False
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            import stat
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return False
            offset = filelike.tell() if hasattr(filelike, 'tell') else os.lseek(fd, 0, os.SEEK_CUR)
        except (AttributeError, OSError, IOError, ValueError):
            return False
        if offset != 0 or (self.length is not None and self.length != st.st_size):
            return False
        path = file_path(fd, filelike, st)
        if path is None:
            return False
        status, headers = self.given
        kept = [h for h in headers if h[0].lower() not in ('content-length', 'x-sendfile')]
        try:
            self.head, self.length = check_response_head(status, kept + [('X-Sendfile', path)])
        except BadResponse:
            return False
        return True

    def send_file(self, wrapper):
        """os.sendfile for a regular file: B headers from us, the bytes straight from the page
        cache into fd 4. False if this file-like is not a regular file (iterate it instead)."""
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            import stat
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            offset = filelike.tell() if hasattr(filelike, 'tell') else os.lseek(fd, 0, os.SEEK_CUR)
        except (AttributeError, OSError, IOError, ValueError):
            return False
        remaining = max(os.fstat(fd).st_size - offset, 0)
        if self.length is not None and self.sent + remaining > self.length:
            remaining = self.length - self.sent
            self.truncated = True
            self.warn_truncated()
        if remaining <= 0:
            return True
        if not self.headers_sent:
            self.send_headers()
        while remaining > 0:
            if self.chunks:
                self.check_abort()
            self.chunks += 1
            size = min(remaining, MAX_PAYLOAD)
            self.out.append(HEADER.pack(B, size))
            self.flush()
            done = 0
            while done < size:
                n = _retry(os.sendfile, self.channel.wfd, fd, offset + done, size - done)
                if n == 0:  # the file shrank under us: keep the frame whole, then fail
                    self.channel.write([b'\0' * (size - done)])
                    self.sent += size
                    raise BadResponse('%s shrank while it was being sent' % getattr(
                        filelike, 'name', 'the file'))
                done += n
            offset += size
            remaining -= size
            self.sent += size
        return True


def file_path(fd, filelike, st):
    """The absolute path of an open file as a header value (latin-1 bytes), if it still names
    that very file; None otherwise."""
    candidates = []
    try:
        candidates.append(os.readlink('/proc/self/fd/%d' % fd))
    except (OSError, IOError):
        pass
    name = getattr(filelike, 'name', None)
    if isinstance(name, (bytes, text_type)):
        candidates.append(name)
    for path in candidates:
        if not os.path.isabs(path):
            continue
        try:
            other = os.stat(path)
        except (OSError, IOError):
            continue
        if (other.st_dev, other.st_ino) != (st.st_dev, st.st_ino):
            continue
        return native_from_latin1(fsencode(path))
    return None


def body_type_error(data):
    shown = repr(data)
    shown = shown if len(shown) <= 60 else shown[:57] + '...'
    if isinstance(data, text_type):
        return ('the response body must be bytes, the app gave %s %s: encode it, e.g. '
                'yield text.encode("utf-8")' % (type(data).__name__, shown))
    return 'the response body must be bytes, the app gave %s %s' % (type(data).__name__, shown)


def request_line(environ):
    return '%s %s%s' % (environ.get('REQUEST_METHOD', '?'), environ.get('SCRIPT_NAME', ''),
                        environ.get('PATH_INFO', ''))


def warn(message):
    sys.stderr.write('wsgikit: warning: %s\n' % message)


# ---------------------------------------------------------------------------------------------
# 7. One request
# ---------------------------------------------------------------------------------------------

class Server(object):
    def __init__(self, application, channel, oneshot):
        self.application = application
        self.channel = channel
        # What every request's environ starts as, copied at once: the wsgi.* keys that never
        # change, and defaults for the variables PEP 3333 requires. An R frame holds no wsgi.*
        # names (PROTOCOL.md), so the request's variables cannot override the former.
        self.template = {
            'wsgi.version': (1, 0),
            'wsgi.errors': sys.stderr,
            'wsgi.multithread': False,
            'wsgi.multiprocess': True,
            'wsgi.run_once': oneshot,
            'wsgi.input_terminated': True,
            'wsgi.file_wrapper': FileWrapper,
            'wsgi.url_scheme': 'http',
            'SCRIPT_NAME': '', 'PATH_INFO': '', 'QUERY_STRING': '',
            'REQUEST_METHOD': 'GET', 'SERVER_PROTOCOL': 'HTTP/1.0',
        }

    def make_environ(self, payload):
        # One decode, one split: every value stays a native string of bytes as latin-1.
        fields = native_from_latin1(payload).split('\0')
        if len(fields) % 2:
            raise ProtocolError('R frame has an odd number of fields')
        it = iter(fields)
        environ = self.template.copy()
        environ.update(zip(it, it))
        # PEP 3333 forbids these two: some servers (lighttpd) pass the headers along as well.
        if 'HTTP_CONTENT_LENGTH' in environ or 'HTTP_CONTENT_TYPE' in environ:
            for key in ('HTTP_CONTENT_LENGTH', 'HTTP_CONTENT_TYPE'):
                if key in environ:
                    value = environ.pop(key)
                    if key[5:] not in environ:
                        environ[key[5:]] = value
        if environ.get('REQUEST_SCHEME') == 'https' or \
                ('HTTPS' in environ and environ['HTTPS'].lower() in ('on', '1', 'yes')):
            environ['wsgi.url_scheme'] = 'https'
        return environ

    def handle(self, payload):
        """Run one request from its R payload to its Z. Returns the Input so that the caller can
        skip what the app left unread of the body (after the Z, so the response is not held up)."""
        environ = self.make_environ(payload)
        channel = self.channel
        body = Input(channel)
        environ['wsgi.input'] = body
        response = Response(channel, body, environ)
        try:
            result = self.application(environ, response.start_response)
        except Aborted:
            self.finish(response, None)
            return body
        except (Exception, SystemExit):
            self.finish(response, sys.exc_info())
            return body
        # Most answers are a list of one bytes object that matches its Content-Length: S, B and Z
        # go out in one write, with nothing to check between them (what send_iterable, the
        # closing and finish would do for it, done at once).
        if type(result) is list and len(result) == 1 and response.head is not None and \
                not response.headers_sent and not State.recycle:
            chunk = result[0]
            size = len(chunk) if type(chunk) is bytes else 0
            if 0 < size <= MAX_PAYLOAD and (response.length is None or response.length == size):
                channel.write([response.head, HEADER.pack(B, size), chunk, EMPTY_Z])
                return body
        self.respond(response, result)
        return body

    def respond(self, response, result):
        """Send what the app's iterable yields, close it, and end the request (finish)."""
        error = None
        try:
            if isinstance(result, NOT_STREAMED) or result is None:
                response.send_iterable(result)
            else:
                response.stream(result)
        except Aborted:
            pass
        except (Exception, SystemExit):
            error = sys.exc_info()
        finally:
            close = getattr(result, 'close', None)
            if close is not None:
                try:
                    close()
                except (Exception, SystemExit):
                    if error is None:
                        error = sys.exc_info()
                    else:
                        warn('close() of the response raised too:\n' +
                             format_exception(*sys.exc_info()))
        self.finish(response, error)

    def finish(self, response, error):
        """Append the request's last frames (S if still due, X if it failed, Z) and write."""
        if error is None and response.aborted is None:
            if response.headers_sent and not response.out and not State.recycle and \
                    (response.length is None or response.sent >= response.length):
                self.channel.write([EMPTY_Z])  # a streamed body that is complete: nothing to check
                return
            error = self.check_complete(response)
        if response.aborted is None and response.input.state == ABORTED and error is not None:
            response.aborted = response.input.reason  # the app failed because its body broke off
        if response.aborted is not None:
            response.out = []  # the front end discards it anyway
            if error is not None:
                warn('request %s was aborted (%s); the app then raised %s'
                     % (request_line(response.environ), response.aborted,
                        exception_line(error[1])))
        elif error is not None:
            code = 'bad-response' if isinstance(error[1], BadResponse) else 'exception'
            phase = 'after-start' if response.headers_sent else 'before-start'
            response.out.append(text_frame(X, [code, phase, exception_line(error[1]),
                                               self.details(error)]))
        elif not response.headers_sent:
            response.send_headers()
        response.out.append(frame(Z, State.recycle.encode('ascii')) if State.recycle
                            else EMPTY_Z)
        response.flush()

    def check_complete(self, response):
        """A response that ended cleanly must still have sent what its Content-Length said."""
        if not response.started:
            try:
                raise BadResponse('the app returned without calling start_response()')
            except BadResponse:
                return sys.exc_info()
        length = response.length
        if length is None or response.sent >= length or response.truncated:
            return None
        status = response.head[HEADER_SIZE:HEADER_SIZE + 3]
        if response.environ['REQUEST_METHOD'] == 'HEAD' or status.startswith(b'1') or \
                status in (b'204', b'304'):
            return None  # no body is expected with these, whatever Content-Length says
        try:
            raise BadResponse('the response body has %d bytes, fewer than its Content-Length '
                              '(%d)' % (response.sent, length))
        except BadResponse:
            return sys.exc_info()

    @staticmethod
    def details(error):
        traceback = stdlib('traceback')
        if isinstance(error[1], BadResponse) and error[2] is not None and \
                all(os.path.abspath(f[0]) == BRIDGE_FILE for f in traceback.extract_tb(error[2])):
            # Found by the bridge in what the app returned (a str chunk, a short body): there
            # is no app frame to show, so say what was checked instead of a bridge traceback.
            return ('wsgikit found this in the response the app returned:\n%s\n'
                    % exception_line(error[1]))
        return format_exception(*error)


# ---------------------------------------------------------------------------------------------
# 8. Main
# ---------------------------------------------------------------------------------------------

def main(argv):
    opts = parse_args(argv)
    if opts is None:
        print(USAGE, file=sys.stderr)
        return 2
    for fd in (FRAME_IN, FRAME_OUT) + ((opts.claim_fd,) if opts.claim_fd is not None else ()):
        try:
            os.fstat(fd)
        except OSError:
            print('wsgi_bridge.py: fd %d is not open; this program is started by wsgikit, which '
                  'passes frames on fds 3 and 4\n%s' % (fd, USAGE), file=sys.stderr)
            return 2
    setup_process(opts)
    State.offload_files = opts.offload_files
    channel = Channel(FRAME_IN, FRAME_OUT, opts.claim_fd)
    try:
        application, import_ms = load_app(opts.app)
    except LoadFailure as failure:
        channel.write([text_frame(F, [failure.kind, failure.summary, failure.details])])
        return 3
    # Y: text fields, UTF-8; the executable as the raw bytes of its path.
    ready = [b'pid', utf8(str(os.getpid())), b'version', utf8('%d.%d.%d' % sys.version_info[:3]),
             b'implementation', utf8(implementation()),
             b'executable', fsencode(sys.executable or ''), b'import_ms', utf8('%.1f' % import_ms)]
    channel.write([frame(Y, b'\0'.join(ready))])
    return serve(Server(application, channel, opts.mode == 'oneshot'), channel,
                 opts.mode == 'oneshot')


def implementation():
    # What platform.python_implementation() says, without importing platform where sys says it.
    name = getattr(getattr(sys, 'implementation', None), 'name', None)
    if name in ('cpython', 'pypy'):
        return {'cpython': 'CPython', 'pypy': 'PyPy'}[name]
    return stdlib('platform').python_implementation()


def serve(server, channel, oneshot):
    while True:
        got = channel.next_frame()
        if got is None:
            return 0  # EOF on fd 3: a clean stop
        kind, payload = got
        if kind == A:
            continue  # an abort that crossed our Z: that request is already over
        if kind != R and kind != Q:
            raise ProtocolError('expected a request (R or Q), got %r' % kind)
        channel.seq += 1
        if kind == Q and not channel.claim():
            # Taken back by the front end (it runs elsewhere): skip it, and say so, so that the
            # front end knows this process is past it before it queues another.
            Input(channel).finish()
            channel.write([EMPTY_FRAME[K]])
            continue
        body = server.handle(payload)
        if oneshot or State.recycle:
            return 0
        body.finish()


def run(argv):
    """main() with the exit status for a failure of the channel itself; the process's status."""
    try:
        status = main(argv)
    except ProtocolError as e:
        sys.stderr.write('wsgikit: protocol error on the bridge channel: %s\n' % e)
        status = 1
    except (IOError, OSError) as e:
        if e.errno != errno.EPIPE:
            raise
        sys.stderr.write('wsgikit: the front end closed the bridge channel; exiting\n')
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    return status


# The front ends start wsgi_bridge_start.py, which imports this file (so that its compiled code
# is cached) and calls run(); running this file itself works the same.
if __name__ == '__main__':
    sys.exit(run(sys.argv[1:]))
