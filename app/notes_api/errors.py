"""Error reporting: unhandled errors go to Sentry (or a service speaking its protocol) when
SENTRY_DSN is set, and nowhere when it is not."""

import os

import sentry_sdk


def start_error_reporting() -> bool:
    """Start the Sentry SDK from the environment the stack writes: SENTRY_DSN (the secret
    `sentryDsn` key), SENTRY_RELEASE (the app's version) and SENTRY_ENVIRONMENT (the stack's
    name), which the SDK reads by those names. Returns whether reporting is on."""
    if not os.environ.get("SENTRY_DSN"):
        return False
    # The FastAPI and Starlette integrations switch on by themselves: an exception a request
    # handler does not catch is reported with the route, then answered 500 as before.
    # Personal data stays off, the SDK's default (client addresses, cookie values); frame
    # variables are off too: the framework's frames hold the raw request headers, cookies
    # included, which the SDK would otherwise send with each error.
    sentry_sdk.init(
        include_local_variables=False,
        # Request bodies (a note's text) are the users' data: never sent.
        max_request_body_size="never",
        # Errors only; tracing would send a transaction per request.
        traces_sample_rate=None,
    )
    return True
