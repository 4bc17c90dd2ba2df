"""One replica of a service: `python -m dossierbus_devstack.serve <module:app> --port P --own-port Q`.

uvicorn serves the app on the service's port, which every replica of the service binds with SO_REUSEPORT
(the kernel spreads new connections over the replicas that listen, as a load balancer would, and a killed
replica's share goes to the others), and on a port of its own, by which the stack tells this replica's
readiness from its siblings'. Neither listens before the app has started (uvicorn listens after the
lifespan's start-up), so no connection waits on a replica that is not ready.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn

HOST = "127.0.0.1"


def bound_socket(port: int, *, shared: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dossierbus_devstack.serve", description=__doc__)
    parser.add_argument("app", help="the ASGI app, as module:attribute")
    parser.add_argument("--port", type=int, required=True, help="the service's port, shared by its replicas")
    parser.add_argument("--own-port", type=int, required=True, help="this replica's own port")
    args = parser.parse_args()
    sockets = [bound_socket(args.port, shared=True), bound_socket(args.own_port, shared=False)]
    uvicorn.Server(uvicorn.Config(args.app, access_log=False)).run(sockets=sockets)


if __name__ == "__main__":
    main()
