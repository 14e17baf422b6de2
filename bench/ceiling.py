"""The ceiling of Baryon's HTTP stack: a bare Starlette endpoint answering constant JSON on
uvicorn with httptools and uvloop, one process. No signature check, no database: what the
stack alone costs per request, for bench/api_latency.py to measure beside Baryon.

    .venv/bin/python -m bench.ceiling --port 8399
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# About the size of a GetServiceInstance answer.
ANSWER = b'{"serviceInstance":{"name":"ceiling","serviceName":"bench","arn":"' + b"x" * 400 + b'"}}'


async def answer(_request: Request) -> Response:
    return Response(ANSWER, media_type="application/x-amz-json-1.0")


app = Starlette(routes=[Route("/", answer, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
