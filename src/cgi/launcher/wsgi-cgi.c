/*
 * wsgi-cgi, the native launcher: what the web server runs for each CGI request when a C compiler
 * was there at `npm install` (scripts/build.mjs builds it as dist/wsgi-cgi; without one,
 * dist/wsgi-cgi is the Node entry itself). Starting Node costs tens of milliseconds per request;
 * this program costs about one, and hands the request to the user's wsgikit daemon, which has
 * Node, Python and the app warm.
 *
 * It decides nothing. It connects to the one daemon of the user it runs as
 * (~/.wsgikit/run/cgi.sock, or one per host settings file named with --host-settings: daemonPaths()
 * in src/cgi/daemon.ts), relays the CGI request as one
 * FastCGI request (every variable of its environment as PARAMS, plus its arguments and working
 * folder under names no environment variable can have, because they start with "="), streams the
 * body as STDIN and the answer's STDOUT to stdout and STDERR to stderr, and exits. The daemon
 * finds the app and makes every CGI decision with the same TypeScript code as the Node entry
 * (src/request/decide-request.ts). Anything else is the Node entry's to do: whenever this program
 * is not sure, it execs node + dist/wsgi-cgi.cjs with the environment, arguments and stdin it was
 * given, and that entry does all it does without the launcher (starts the daemon, falls back to
 * one-shot, renders the pages, logs why). So it execs that entry when:
 *   - there is no CGI request (no GATEWAY_INTERFACE);
 *   - CONTENT_LENGTH is anything but absent, empty or plain decimal digits (the entry answers
 *     400 before any app runs);
 *   - the user's run folder or socket is not this uid's, is open to anyone else (group or other
 *     permission bits), or is a symlink (every component from the home folder down is opened
 *     with O_NOFOLLOW), or the peer on the socket is not this uid (SO_PEERCRED);
 *   - no daemon answers, or it declines the request before reading its body (END_REQUEST with
 *     appStatus DECLINE: the app runs one-shot, or its host settings are not the daemon's).
 * A request body is sent only once the daemon said PROCEED (a record of a type FastCGI does not
 * define, sent only to this launcher), so a declined request still has its stdin untouched.
 *
 * After that point the request cannot be given to the entry as it came. If the daemon fails
 * before anything was written to stdout, the entry is exec'ed with WSGIKIT_CGI_RELAY_FAILED
 * naming the failure, and renders wsgikit's 502 page (owner or stranger, incident id in the
 * app's log). Once the head is out there is nothing honest to add: the output ends.
 * A client that goes away (EPIPE on stdout) ends the request: ABORT_REQUEST, close, exit.
 *
 * Every answer, relayed or the Node entry's, ends with this process gone before its stdout closes
 * (keep_output_past_exit): Apache checks that the program it ran has exited as soon as the output
 * ends, and waits a while whenever it has not.
 *
 * Memory is fixed: one 64 KiB buffer each way, whatever the size of the body or the answer.
 * libc only; built with -Wall -Wextra -Werror, and under ASan + UBSan by the tests.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "fcgi-reply.h"

#ifndef WSGIKIT_NODE
#define WSGIKIT_NODE "/usr/bin/node"
#endif
#ifndef WSGIKIT_ENTRY
#define WSGIKIT_ENTRY "wsgi-cgi.cjs"
#endif

#define REQUEST_ID 1
#define CHUNK 65535
/* The largest body a CONTENT_LENGTH may announce here: 18 digits cannot overflow int64. */
#define MAX_LENGTH_DIGITS 18

extern char **environ;

static char **saved_argv;
static int stdin_flags = -1, stdout_flags = -1;
static struct sigaction saved_sigpipe;

/* ---------------------------------------------------------------------------------------------
 * Handing over to the Node entry
 * ------------------------------------------------------------------------------------------- */

/* The Node entry beside this program (its real path), else where the build put it. */
static void entry_path(char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
      *slash = '\0';
      int written = snprintf(out, size, "%s/wsgi-cgi.cjs", self);
      if (written > 0 && (size_t)written < size && access(out, R_OK) == 0) return;
    }
  }
  snprintf(out, size, "%s", WSGIKIT_ENTRY);
}

/* ---------------------------------------------------------------------------------------------
 * The end of the answer comes after this process's exit
 * ------------------------------------------------------------------------------------------- */

#ifdef __linux__
static pid_t keeper_parent;
static int keeper_pidfd = -1;
static char keeper_stack[16384] __attribute__((aligned(16)));

/* Raw system calls only: it shares the launcher's memory and runs on its own small stack. */
__attribute__((no_sanitize("address", "undefined"))) static int keeper(void *unused) {
  (void)unused;
  if (keeper_pidfd >= 0) {
    /* Readable once every thread of this process, or of the Node entry it became, is gone. */
    struct pollfd gone = {.fd = keeper_pidfd, .events = POLLIN};
    while (syscall(SYS_ppoll, &gone, 1, NULL, NULL, 0) != 1) {
    }
  } else {
    /* Before pidfds (Linux 5.3): killed when the launcher's thread ends, which for the launcher
       itself (one thread) is its exit. */
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) == keeper_parent)
      for (;;) syscall(SYS_ppoll, NULL, 0, NULL, NULL, 0);
  }
  syscall(SYS_exit, 0);
  return 0;
}
#endif

/*
 * When the output of the program it ran ends, mod_cgid (and mod_cgi) look whether that program
 * has exited, and when it has not they sleep (10 ms, then longer) before looking again; the
 * visitor's next request on the same connection waits for that. Our stdout closes inside our own
 * exit, a moment before the kernel records the exit, so that look often comes too early. A
 * keeper process that shares our file table holds stdout (and stdin, stderr) open until we are
 * gone: the output then ends only after the exit is recorded. The keeper is a clone sharing our
 * memory (nothing is copied), has no work of its own, and is reaped by init.
 */
static void keep_output_past_exit(void) {
#ifdef __linux__
  keeper_parent = getpid();
#ifdef SYS_pidfd_open
  keeper_pidfd = (int)syscall(SYS_pidfd_open, keeper_parent, 0);
#endif
  /* A failed clone costs only the wait this avoids. */
  (void)clone(keeper, keeper_stack + sizeof keeper_stack, CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
#endif
}

/*
 * Execs the Node entry with what this program was given: the same environment (plus
 * WSGIKIT_CGI_RELAY_FAILED when `failure` is set), arguments, stdin, fd flags and SIGPIPE.
 */
__attribute__((noreturn)) static void hand_over(const char *failure) {
  if (stdin_flags != -1) fcntl(0, F_SETFL, stdin_flags);
  if (stdout_flags != -1) fcntl(1, F_SETFL, stdout_flags);
  sigaction(SIGPIPE, &saved_sigpipe, NULL);
  if (failure != NULL) setenv("WSGIKIT_CGI_RELAY_FAILED", failure, 1);

  /* The Node entry's exit would race Apache's look as ours does: its output, too, ends after. */
  if (getenv("GATEWAY_INTERFACE") != NULL) keep_output_past_exit();

  char entry[PATH_MAX];
  entry_path(entry, sizeof entry);
  int argc = 0;
  while (saved_argv[argc] != NULL) argc++;
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args != NULL) {
    args[0] = (char *)WSGIKIT_NODE;
    args[1] = entry;
    for (int i = 1; i < argc; i++) args[i + 1] = saved_argv[i];
    execv(WSGIKIT_NODE, args);
    /* Node moved since the build: the entry's own #! line finds it on PATH. */
    execv(entry, args + 1);
  }
  int error = errno;
  fprintf(stderr, "wsgi-cgi: cannot run the Node entry %s (%s): reinstall wsgikit (npm install)\n", entry,
          strerror(error));
  static const char page[] = "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n"
                             "wsgikit is not installed correctly on this server.\n";
  ssize_t ignored = write(1, page, sizeof page - 1);
  (void)ignored;
  _exit(1);
}

/* ---------------------------------------------------------------------------------------------
 * The request
 * ------------------------------------------------------------------------------------------- */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_TO_EOF };

/* CONTENT_LENGTH: absent or empty is no body (or one to EOF when chunked); 0 if not usable. */
static int read_content_length(enum body_mode *mode, long long *length) {
  const char *text = getenv("CONTENT_LENGTH");
  *length = 0;
  if (text == NULL || *text == '\0') {
    *mode = getenv("HTTP_TRANSFER_ENCODING") != NULL ? BODY_TO_EOF : BODY_NONE;
    return 1;
  }
  size_t digits = 0;
  long long value = 0;
  for (const char *p = text; *p != '\0'; p++, digits++) {
    if (*p < '0' || *p > '9' || digits >= MAX_LENGTH_DIGITS) return 0;
    value = value * 10 + (*p - '0');
  }
  *length = value;
  *mode = value > 0 ? BODY_LENGTH : BODY_NONE;
  return 1;
}

/* A folder opened without following a symlink, owned by `uid` and closed to everyone else. */
static int private_dir(int parent, const char *name, uid_t uid) {
  int fd = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_uid != uid || (st.st_mode & 077) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/*
 * The socket's name in the run folder: cgi.sock, or cgi-<hash>.sock for a host settings file
 * named on the command line (daemonPaths() in src/cgi/daemon.ts; the hash is shortHash() in
 * src/short-hash.ts, over the name as given). 0 when it cannot be named here (a name that is not
 * ASCII is hashed over UTF-16 there): the Node entry serves that request.
 */
static int socket_name(char **argv, char *out, size_t size) {
  const char *host = NULL;
  for (int i = 1; argv[i] != NULL; i++) {
    if (strcmp(argv[i], "--host-settings") == 0 && argv[i + 1] != NULL) host = argv[++i];
  }
  if (host == NULL) return snprintf(out, size, "cgi.sock") > 0;
  uint32_t a = 0x811c9dc5u, b = 0x050c5d1fu;
  for (const unsigned char *p = (const unsigned char *)host; *p != '\0'; p++) {
    if (*p >= 0x80) return 0;
    a = (a ^ *p) * 0x01000193u;
    b = (b ^ *p) * 0x01000193u;
  }
  int n = snprintf(out, size, "cgi-%08x%08x.sock", (unsigned)a, (unsigned)b);
  return n > 0 && (size_t)n < size;
}

/*
 * Connects to the user's daemon after checking the run folder and the socket; -1 when anything is
 * not as it must be. connect() takes a path, so the path is made relative to the checked folder
 * through /proc/self/fd, which names that very folder (no symlink in between to swap); the peer's
 * uid is checked once connected.
 */
static int connect_daemon(const char *name) {
  uid_t uid = getuid();
  struct passwd *pw = getpwuid(uid);
  if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/') return -1;
  int home = open(pw->pw_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (home < 0) return -1;
  int kit = openat(home, ".wsgikit", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  close(home);
  if (kit < 0) return -1;
  int run = private_dir(kit, "run", uid);
  close(kit);
  if (run < 0) return -1;

  int sock = -1;
  struct stat st;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (fstatat(run, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == uid &&
      (st.st_mode & 077) == 0) {
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", run, name);
    if (n > 0 && (size_t)n < sizeof addr.sun_path) sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  if (sock >= 0 && connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(sock);
    sock = -1;
  }
  close(run);
  if (sock < 0) return -1;
  struct ucred peer;
  socklen_t size = sizeof peer;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 || peer.uid != uid) {
    close(sock);
    return -1;
  }
  return sock;
}

/* ---------------------------------------------------------------------------------------------
 * Writing FastCGI
 * ------------------------------------------------------------------------------------------- */

static void put_header(unsigned char *at, int type, size_t length, int padding) {
  at[0] = 1;
  at[1] = (unsigned char)type;
  at[2] = REQUEST_ID >> 8;
  at[3] = REQUEST_ID & 0xff;
  at[4] = (unsigned char)(length >> 8);
  at[5] = (unsigned char)(length & 0xff);
  at[6] = (unsigned char)padding;
  at[7] = 0;
}

/* A growing buffer for the PARAMS stream, written once before the loop starts. */
struct out {
  unsigned char *data;
  size_t length, capacity;
  int failed;
};

static void out_add(struct out *o, const void *bytes, size_t n) {
  if (o->failed) return;
  if (o->length + n > o->capacity) {
    size_t capacity = o->capacity ? o->capacity : 16384;
    while (capacity < o->length + n) capacity *= 2;
    unsigned char *data = realloc(o->data, capacity);
    if (data == NULL) {
      o->failed = 1;
      return;
    }
    o->data = data;
    o->capacity = capacity;
  }
  memcpy(o->data + o->length, bytes, n);
  o->length += n;
}

static void put_length(struct out *o, size_t n) {
  unsigned char b[4];
  if (n < 128) {
    b[0] = (unsigned char)n;
    out_add(o, b, 1);
  } else {
    b[0] = (unsigned char)(0x80 | ((n >> 24) & 0x7f));
    b[1] = (unsigned char)(n >> 16);
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    out_add(o, b, 4);
  }
}

static void put_pair(struct out *pairs, const char *name, size_t name_length, const char *value) {
  size_t value_length = strlen(value);
  if (name_length > 0x7fffffff || value_length > 0x7fffffff) return;
  put_length(pairs, name_length);
  put_length(pairs, value_length);
  out_add(pairs, name, name_length);
  out_add(pairs, value, value_length);
}

/* Frames `pairs` as PARAMS records (a pair may span records) and ends the stream. */
static void frame_stream(struct out *records, int type, const struct out *body) {
  static const unsigned char zeros[8];
  for (size_t at = 0; at < body->length; at += CHUNK) {
    size_t n = body->length - at < CHUNK ? body->length - at : CHUNK;
    int padding = (int)((8 - n % 8) % 8);
    unsigned char header[8];
    put_header(header, type, n, padding);
    out_add(records, header, 8);
    out_add(records, body->data + at, n);
    out_add(records, zeros, (size_t)padding);
  }
  unsigned char end[8];
  put_header(end, type, 0, 0);
  out_add(records, end, 8);
}

/* BEGIN_REQUEST, every variable of the environment, the arguments and the working folder. */
static int request_head(struct out *records, char **argv, int body) {
  unsigned char begin[16] = {0};
  put_header(begin, FCGI_BEGIN_REQUEST, 8, 0);
  begin[9] = FCGI_RESPONDER; /* role, u16; flags 0: the daemon closes the connection at the end */
  out_add(records, begin, sizeof begin);

  struct out pairs = {0};
  for (char **e = environ; *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    if (eq != NULL && eq != *e) put_pair(&pairs, *e, (size_t)(eq - *e), eq + 1);
  }
  put_pair(&pairs, "=wsgikit.launcher", strlen("=wsgikit.launcher"), "1");
  char name[32];
  for (int i = 1; argv[i] != NULL; i++) {
    int n = snprintf(name, sizeof name, "=wsgikit.arg.%d", i);
    put_pair(&pairs, name, (size_t)n, argv[i]);
  }
  char *cwd = getcwd(NULL, 0);
  if (cwd != NULL) put_pair(&pairs, "=wsgikit.cwd", strlen("=wsgikit.cwd"), cwd);
  free(cwd);
  frame_stream(records, FCGI_PARAMS, &pairs);
  free(pairs.data);
  if (!body) {
    unsigned char end[8];
    put_header(end, FCGI_STDIN, 0, 0);
    out_add(records, end, 8);
  }
  return !records->failed && !pairs.failed;
}

static int write_all(int fd, const unsigned char *data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The relay
 * ------------------------------------------------------------------------------------------- */

struct relay {
  int sock;
  enum body_mode mode;
  long long body_left;
  int proceed;         /* the daemon asked for the body */
  int stdin_ended;     /* the empty STDIN record is queued or sent */
  int upload_dead;     /* the daemon stopped reading: the rest of the body is not sent */
  int body_consumed;   /* stdin was read: this request can no longer be handed over */
  int committed;       /* the daemon took the request (PROCEED or any output) */
  int wrote_stdout;    /* part of the answer is out */
  unsigned char up[8 + CHUNK + 8 + 8];
  size_t up_length, up_sent;
  unsigned char down[65536];
  size_t down_length, down_parsed;
  const unsigned char *out;
  size_t out_length;
  struct fcgi_reply parser;
};

/* The client went away: tell the daemon, then stop. */
__attribute__((noreturn)) static void client_gone(struct relay *r) {
  unsigned char abort_record[8];
  put_header(abort_record, FCGI_ABORT_REQUEST, 0, 0);
  ssize_t ignored = send(r->sock, abort_record, sizeof abort_record, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  close(r->sock);
  _exit(0);
}

/* The daemon failed: hand over if nothing is committed, else the 502 page, else end the output. */
__attribute__((noreturn)) static void daemon_failed(struct relay *r, const char *why) {
  close(r->sock);
  if (!r->committed && !r->body_consumed) hand_over(NULL);
  if (!r->wrote_stdout) hand_over(why);
  fprintf(stderr, "wsgi-cgi: the daemon failed during the answer (%s); the answer is cut short\n", why);
  _exit(1);
}

/* Reads the next piece of the body into `up` as one STDIN record (and the end record after the last). */
static void read_body(struct relay *r) {
  size_t want = CHUNK;
  if (r->mode == BODY_LENGTH && (long long)want > r->body_left) want = (size_t)r->body_left;
  ssize_t n = read(0, r->up + 8, want);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    n = 0; /* an unreadable stdin ends the body where it is: the daemon judges a short body */
  }
  r->body_consumed = 1;
  size_t length = 0;
  if (n > 0) {
    int padding = (int)((8 - (size_t)n % 8) % 8);
    put_header(r->up, FCGI_STDIN, (size_t)n, padding);
    memset(r->up + 8 + n, 0, (size_t)padding);
    length = 8 + (size_t)n + (size_t)padding;
    if (r->mode == BODY_LENGTH) r->body_left -= n;
  }
  if (n == 0 || (r->mode == BODY_LENGTH && r->body_left == 0)) {
    put_header(r->up + length, FCGI_STDIN, 0, 0);
    length += 8;
    r->stdin_ended = 1;
  }
  r->up_length = length;
  r->up_sent = 0;
}

/* Parses what was read from the daemon until an answer chunk waits for stdout; 1 at END_REQUEST. */
static int parse_down(struct relay *r) {
  while (r->out_length == 0 && r->down_parsed < r->down_length) {
    struct fcgi_event event;
    size_t used = fcgi_reply_feed(&r->parser, r->down + r->down_parsed, r->down_length - r->down_parsed, &event);
    r->down_parsed += used;
    switch (event.kind) {
    case FCGI_EVENT_NONE:
      break;
    case FCGI_EVENT_STDOUT:
      r->committed = 1;
      r->out = event.data;
      r->out_length = event.length;
      break;
    case FCGI_EVENT_STDERR:
      r->committed = 1;
      if (write_all(2, event.data, event.length) != 0) {
        /* no error log to write to: nothing to do about it */
      }
      break;
    case FCGI_EVENT_PROCEED:
      r->committed = 1;
      r->proceed = 1;
      break;
    case FCGI_EVENT_END:
      if (!r->wrote_stdout && !r->body_consumed &&
          (event.app_status == WSGIKIT_DECLINE || event.protocol_status != FCGI_REQUEST_COMPLETE)) {
        close(r->sock);
        hand_over(NULL);
      }
      if (event.protocol_status != FCGI_REQUEST_COMPLETE) daemon_failed(r, "the daemon refused the request");
      return 1;
    case FCGI_EVENT_ERROR:
      daemon_failed(r, "the daemon's answer is not valid FastCGI");
    }
  }
  if (r->down_parsed == r->down_length) r->down_parsed = r->down_length = 0;
  return 0;
}

static int relay(struct relay *r) {
  for (;;) {
    if (parse_down(r)) return 0;
    int wants_body = r->mode != BODY_NONE && r->proceed && !r->stdin_ended && !r->upload_dead;
    struct pollfd fds[3];
    int n = 0, at_sock = -1, at_in = -1, at_out = -1;
    short sock_events = 0;
    if (r->out_length == 0 && r->down_length < sizeof r->down) sock_events |= POLLIN;
    if (r->up_sent < r->up_length && !r->upload_dead) sock_events |= POLLOUT;
    if (sock_events) {
      at_sock = n;
      fds[n++] = (struct pollfd){.fd = r->sock, .events = sock_events};
    }
    if (wants_body && r->up_length == r->up_sent) {
      at_in = n;
      fds[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    }
    if (r->out_length > 0) {
      at_out = n;
      fds[n++] = (struct pollfd){.fd = 1, .events = POLLOUT};
    }
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      daemon_failed(r, "poll failed");
    }

    if (at_out >= 0 && fds[at_out].revents) {
      ssize_t w = write(1, r->out, r->out_length);
      if (w < 0 && errno != EAGAIN && errno != EINTR) client_gone(r);
      if (w > 0) {
        r->wrote_stdout = 1;
        r->out += w;
        r->out_length -= (size_t)w;
      }
    }
    if (at_in >= 0 && fds[at_in].revents) read_body(r);
    if (at_sock >= 0 && (fds[at_sock].revents & POLLOUT)) {
      ssize_t w = send(r->sock, r->up + r->up_sent, r->up_length - r->up_sent, MSG_NOSIGNAL);
      if (w > 0) r->up_sent += (size_t)w;
      /* The daemon stopped reading (it answered without the rest of the body): its answer may
         still be there to read, so only the upload stops. */
      else if (w < 0 && errno != EAGAIN && errno != EINTR) r->upload_dead = 1;
    }
    if (at_sock >= 0 && (fds[at_sock].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = recv(r->sock, r->down + r->down_length, sizeof r->down - r->down_length, 0);
      if (got == 0) daemon_failed(r, "the daemon closed the connection before the end of its answer");
      if (got < 0 && errno != EAGAIN && errno != EINTR) daemon_failed(r, strerror(errno));
      if (got > 0) r->down_length += (size_t)got;
    }
  }
}

int main(int argc, char **argv) {
  (void)argc;
  saved_argv = argv;
  sigaction(SIGPIPE, NULL, &saved_sigpipe);
  if (getenv("GATEWAY_INTERFACE") == NULL) hand_over(NULL);
  /* A launcher-exec'ed entry that failed must not come back here and loop: it is Node's from now. */
  if (getenv("WSGIKIT_CGI_RELAY_FAILED") != NULL) hand_over(NULL);

  static struct relay r;
  if (!read_content_length(&r.mode, &r.body_left)) hand_over(NULL);
  char name[64];
  if (!socket_name(argv, name, sizeof name)) hand_over(NULL);
  r.sock = connect_daemon(name);
  if (r.sock < 0) hand_over(NULL);

  struct out head = {0};
  if (!request_head(&head, argv, r.mode != BODY_NONE)) hand_over(NULL);
  signal(SIGPIPE, SIG_IGN);
  int sent = write_all(r.sock, head.data, head.length);
  free(head.data);
  if (sent != 0) {
    close(r.sock);
    hand_over(NULL);
  }
  r.stdin_ended = r.mode == BODY_NONE;

  fcntl(r.sock, F_SETFL, O_NONBLOCK);
  stdin_flags = fcntl(0, F_GETFL);
  stdout_flags = fcntl(1, F_GETFL);
  if (stdin_flags != -1) fcntl(0, F_SETFL, stdin_flags | O_NONBLOCK);
  if (stdout_flags != -1) fcntl(1, F_SETFL, stdout_flags | O_NONBLOCK);
  fcgi_reply_init(&r.parser, REQUEST_ID);

  int status = relay(&r);
  close(r.sock);
  keep_output_past_exit();
  return status;
}
