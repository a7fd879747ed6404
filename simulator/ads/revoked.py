"""What each platform answers while a ``revoked_token`` incident holds (see :mod:`simulator.incidents`).

Every request of the platform is refused with the platform's own auth error, so a connector
sees exactly what it would see after a customer revoked its access (shapes and sources in
docs/simulated_apis.md, "Incidents"):

- Google: the OAuth token endpoint answers 400 ``invalid_grant`` "Token has been expired or
  revoked."; the API refuses the access tokens it issued with 401 UNAUTHENTICATED.
- Meta: ``OAuthException`` code 190, subcode 460 (the session was invalidated).
- TikTok: code 40105 "Access token is incorrect or has been revoked." inside HTTP 200.
- Apple: the OAuth token endpoint answers 400 ``invalid_client``; the API 401 UNAUTHORIZED.
"""

from __future__ import annotations

from simulator.ads import api_apple, api_apple_v5, api_google
from simulator.ads.http import Context, Request, Response, request_id

META_REVOKED = (
    "Error validating access token: The session has been invalidated because the user changed their "
    "password or Facebook has changed the session for security reasons."
)


def revoked(platform: str, ctx: Context, req: Request) -> Response:
    """The auth error ``platform`` answers ``req`` with while its token is revoked."""
    if platform == "google_ads":
        if api_google.is_auth_endpoint(req):
            return Response(
                400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            )
        return Response(401, api_google.UNAUTHENTICATED)
    if platform == "meta_ads":
        err = {
            "message": META_REVOKED,
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 460,
            "fbtrace_id": request_id(),
        }
        return Response(400, {"error": err})
    if platform == "tiktok_ads":
        return Response(
            200,
            {
                "code": 40105,
                "message": "Access token is incorrect or has been revoked.",
                "request_id": request_id(),
                "data": {},
            },
        )
    if platform == "apple_search_ads":
        if api_apple.is_auth_endpoint(req):
            return Response(400, {"error": "invalid_client"})
        if req.path.startswith(api_apple_v5.PREFIX):
            return api_apple_v5.error(401, "UNAUTHORIZED", "Invalid or expired token")
        return api_apple.error(401, "UNAUTHORIZED", "Invalid or expired access token.")
    raise ValueError(f"no revoked-token answer for platform {platform!r}")
