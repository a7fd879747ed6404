"""stub"""

from simulator.ads.http import Response


def is_auth_endpoint(req):
    return False


def rate_limited(ctx, req):
    return Response(429, {})


def server_error(ctx, req):
    return Response(500, {})


def handle(ctx, req):
    return Response(404, {})
