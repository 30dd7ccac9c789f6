"""The ASGI application: health endpoints now; webmail, admin console and JSON API later."""
