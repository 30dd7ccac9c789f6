"""Webmail: server-rendered pages over the services, with small hand-written enhancement."""

from fastapi import APIRouter

from securemail.web.webmail import (
    actions,
    compose,
    folders,
    live,
    login,
    mail,
    search,
    settings,
    tokens,
)

# Specific paths before the generic /mail/{mailbox}/{folder}/... ones.
ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    live.router,
    settings.router,
    tokens.router,
    compose.router,
    search.router,
    folders.router,
    actions.router,
    mail.router,
)
