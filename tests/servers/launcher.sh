#!/bin/sh
# A launcher that execs the real server: the harness must follow the exec to the server's pid.
exec "$@"
