/*
 * The launcher's FastCGI reply parser: the records a daemon sends back for one request, fed in
 * pieces of any size (one byte at a time as well as 64 KiB), never copying an answer's bytes: an
 * STDOUT or STDERR event points into the caller's buffer. Strict: anything a wsgikit daemon would
 * not send (another version, another request id, a record type it does not answer with, an
 * END_REQUEST of the wrong size) is an error, and the caller treats the daemon as failed.
 * A header of its own so that the fuzz test (test/fixtures/launcher/fuzz-reply.c) runs the very
 * code the launcher runs.
 */
#ifndef WSGIKIT_FCGI_REPLY_H
#define WSGIKIT_FCGI_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FCGI_BEGIN_REQUEST 1
#define FCGI_ABORT_REQUEST 2
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
/* Not FastCGI's: the daemon asks this launcher for the request body (src/fastcgi/protocol.ts). */
#define WSGIKIT_PROCEED 12
#define FCGI_RESPONDER 1
#define FCGI_REQUEST_COMPLETE 0
/* END_REQUEST's appStatus for "not in the daemon: run the Node entry" ('WSGI'). */
#define WSGIKIT_DECLINE 0x57534749u

enum fcgi_event_kind {
  FCGI_EVENT_NONE,
  FCGI_EVENT_STDOUT,
  FCGI_EVENT_STDERR,
  FCGI_EVENT_PROCEED,
  FCGI_EVENT_END,
  FCGI_EVENT_ERROR
};

struct fcgi_event {
  enum fcgi_event_kind kind;
  const unsigned char *data;
  size_t length;
  uint32_t app_status;
  int protocol_status;
};

struct fcgi_reply {
  unsigned id;
  unsigned char header[8];
  size_t header_have;
  int type;
  size_t content_left, padding_left;
  unsigned char end[8];
  size_t end_have;
  int done;   /* END_REQUEST seen: nothing more is read */
  int failed; /* an error was reported: so it stays */
};

static inline void fcgi_reply_init(struct fcgi_reply *p, unsigned id) {
  memset(p, 0, sizeof *p);
  p->id = id;
}

/*
 * Consumes bytes from `data` (at most `length`) up to the next event, which it stores in `event`
 * (FCGI_EVENT_NONE when it consumed everything without one). Returns how many bytes it consumed.
 */
static inline size_t fcgi_reply_feed(struct fcgi_reply *p, const unsigned char *data, size_t length,
                                     struct fcgi_event *event) {
  size_t used = 0;
  event->kind = FCGI_EVENT_NONE;
  event->data = NULL;
  event->length = 0;
  if (p->failed) {
    event->kind = FCGI_EVENT_ERROR;
    return 0;
  }
  if (p->done) return length;
  while (used < length) {
    if (p->content_left == 0 && p->padding_left == 0 && p->header_have < 8) {
      size_t n = 8 - p->header_have;
      if (n > length - used) n = length - used;
      memcpy(p->header + p->header_have, data + used, n);
      p->header_have += n;
      used += n;
      if (p->header_have < 8) break;
      unsigned id = ((unsigned)p->header[2] << 8) | p->header[3];
      p->type = p->header[1];
      p->content_left = ((size_t)p->header[4] << 8) | p->header[5];
      p->padding_left = p->header[6];
      p->end_have = 0;
      int known = p->type == FCGI_STDOUT || p->type == FCGI_STDERR || p->type == FCGI_END_REQUEST ||
                  p->type == WSGIKIT_PROCEED;
      if (p->header[0] != 1 || id != p->id || !known || (p->type == FCGI_END_REQUEST && p->content_left != 8) ||
          (p->type == WSGIKIT_PROCEED && p->content_left != 0)) {
        p->failed = 1;
        event->kind = FCGI_EVENT_ERROR;
        return used;
      }
      if (p->type == WSGIKIT_PROCEED) {
        p->header_have = p->padding_left == 0 ? 0 : 8;
        event->kind = FCGI_EVENT_PROCEED;
        return used;
      }
      if (p->content_left == 0 && p->padding_left == 0) p->header_have = 0; /* an empty record ends a stream */
      continue;
    }
    if (p->content_left > 0) {
      size_t n = p->content_left;
      if (n > length - used) n = length - used;
      const unsigned char *at = data + used;
      used += n;
      p->content_left -= n;
      if (p->type == FCGI_END_REQUEST) {
        memcpy(p->end + p->end_have, at, n);
        p->end_have += n;
        if (p->content_left > 0) continue;
        p->done = 1;
        event->kind = FCGI_EVENT_END;
        event->app_status = ((uint32_t)p->end[0] << 24) | ((uint32_t)p->end[1] << 16) | ((uint32_t)p->end[2] << 8) |
                            (uint32_t)p->end[3];
        event->protocol_status = p->end[4];
        return length; /* what follows END_REQUEST is not for this request */
      }
      if (p->content_left == 0 && p->padding_left == 0) p->header_have = 0;
      event->kind = p->type == FCGI_STDOUT ? FCGI_EVENT_STDOUT : FCGI_EVENT_STDERR;
      event->data = at;
      event->length = n;
      return used;
    }
    /* padding */
    size_t n = p->padding_left;
    if (n > length - used) n = length - used;
    used += n;
    p->padding_left -= n;
    if (p->padding_left == 0) p->header_have = 0;
  }
  return used;
}

#endif
