"""A stand-in for the application pods kwok only pretends to run: answers every
request with a small JSON echo, so calls through Janus have a real upstream."""

from __future__ import annotations

import argparse

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({
        "ok": True, "method": request.method, "path": request.path, "bytes": len(body),
        "callerOrg": request.headers.get("X-Caller-Org"), "requestId": request.headers.get("X-Request-ID"),
    }, status=201 if request.method == "POST" else 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
