/* Every default of the client, in one place: close.lua reads them through
 * close.core (core.defaults), the libcurl binding and the cosocket transport
 * use the same values when a request leaves one out. */
#ifndef CLOSE_DEFAULTS_H
#define CLOSE_DEFAULTS_H

#define CLOSE_DEFAULT_BASE_URL "https://api.close.com/api/v1"
#define CLOSE_DEFAULT_TIMEOUT 15.0        /* seconds per attempt */
#define CLOSE_DEFAULT_CONNECT_TIMEOUT 5.0 /* seconds to connect, per attempt */
#define CLOSE_DEFAULT_DEADLINE 60.0       /* seconds for a whole call, retries and waits included */
#define CLOSE_DEFAULT_MAX_RETRIES 3
#define CLOSE_DEFAULT_MAX_WAIT 30.0       /* no single wait between attempts is longer */
#define CLOSE_DEFAULT_BACKOFF_BASE 0.5    /* first backoff; doubles per attempt, with jitter */
#define CLOSE_DEFAULT_MAX_BODY 1048576    /* larger response bodies are a protocol error */
#define CLOSE_MAX_SECONDS 86400.0         /* no option in seconds, timeout or sleep is longer: a day */

#endif
