"""The wallet's routes, one router per resource, in the order the OpenAPI document lists them.
Who may call each is decided before it runs by THE policy table (`tawa.wallet.policy`)."""

from __future__ import annotations

from fastapi import APIRouter

from tawa.wallet.routes import admin, gas, grants, health, holds, hosting, keys, transactions, wallets, whoami

ROUTERS: tuple[APIRouter, ...] = (health.router, wallets.router, hosting.router, grants.router, keys.router,
                                  holds.router, gas.router, transactions.router, admin.router,
                                  whoami.router)
