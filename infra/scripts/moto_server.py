"""moto's server with one lock around every request, for the tests.

Stock `moto_server` serves requests on parallel threads with no lock around its backends: two
conditional writes racing on one DynamoDB item can both pass their condition, and a cancelled
TransactWriteItems restores a snapshot of the whole table, undoing writes that landed meanwhile.
AWS makes each request atomic; this makes the emulator do the same, so the store's concurrency
tests test the store.

Usage: python moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
