"""An in-memory bank speaking docs/live-api.md, with fault switches: a test double.

It lets the load, recovery and checker code be tested end to end over real HTTP and a real
Locust process in a few seconds, without PostgreSQL (the way Locust tests itself against a
tiny web app with ``/slow`` and ``/fail`` routes). It is *not* the reference bank
(that is the live-bank service); it has two "cells" (hash of the account id), a relay that
applies cross-cell transfers after a short delay, and switches set through
``POST /admin/fault`` (bearer token):

``{"mode": "unavailable", "seconds": 2}``   every request answers 503 (nothing changes)
``{"mode": "unknown", "seconds": 2}``       transfers are applied, then answered 504 (unknown outcome)
``{"mode": "unknown-dark", "seconds": 2}``  the same, and status lookups answer 503 meanwhile
``{"mode": "drop", "seconds": 2}``          transfers are *not* applied and answered 504
``{"bug": "duplicate"}``                    a planted bug: a retried key is applied again
``{"bug": "lose"}``                         a planted bug: every 50th acknowledged transfer is not kept

Run it: ``python -m loadtests.chaos.fakebank --port 8765`` (binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import time
import zlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["FakeBank", "make_app"]


class FakeBank:
    def __init__(self, cells: int = 2, relay_delay: float = 0.05):
        self.cells, self.relay_delay = cells, relay_delay
        self.balances: dict[str, int] = {}
        self.transfers: dict[str, dict] = {}
        self.fault_mode, self.fault_until = None, 0.0
        self.bug: str | None = None
        self.acks = 0

    def cell(self, acct: str) -> int:
        return zlib.crc32(acct.encode()) % self.cells

    def faulty(self) -> str | None:
        return self.fault_mode if time.monotonic() < self.fault_until else None


def make_app(bank: FakeBank, token: str) -> Starlette:
    def err(code, what, **kw):
        return JSONResponse({"error": what, **kw}, status_code=code)

    async def relay(key):
        await asyncio.sleep(bank.relay_delay)
        t = bank.transfers.get(key)
        if t and t["status"] == "pending":
            bank.balances[t["to"]] += t["amount"]
            t["status"] = "applied"

    async def create_accounts(req: Request):
        body = await req.json()
        accts = body.get("accounts", [])
        if any(a["id"] in bank.balances for a in accts):
            return err(409, "exists")
        for a in accts:
            bank.balances[a["id"]] = int(a["balance"])
        return JSONResponse({"created": len(accts)}, status_code=201)

    async def account(req: Request):
        if bank.faulty() == "unavailable":
            return err(503, "unavailable", retry=True)
        a = req.path_params["id"]
        if a not in bank.balances:
            return err(404, "unknown_account")
        return JSONResponse({"id": a, "balance": bank.balances[a], "cell": bank.cell(a)})

    async def account_transfers(req: Request):
        a = req.path_params["id"]
        out = [dict(t) for t in bank.transfers.values() if a in (t["from"], t["to"])]
        if bank.bug == "duplicate":  # a duplicated application shows as a second row
            out += [dict(t) for t in bank.transfers.values() if a in (t["from"], t["to"]) and t.get("dup")]
        return JSONResponse({"transfers": out})

    async def transfer(req: Request):
        mode = bank.faulty()
        if mode == "unavailable":
            return err(503, "unavailable", retry=True)
        b = await req.json()
        key, src, dst, amount = b.get("key"), b.get("from"), b.get("to"), b.get("amount")
        if not isinstance(amount, int) or amount <= 0 or not key:
            return err(422, "bad_request")
        if src not in bank.balances or dst not in bank.balances:
            return err(404, "unknown_account")
        cross = bank.cell(src) != bank.cell(dst)
        old = bank.transfers.get(key)
        if old is not None:
            if (old["from"], old["to"], old["amount"]) != (src, dst, amount):
                return err(409, "key_reused")
            if bank.bug == "duplicate" and not old.get("dup"):
                old["dup"] = True
                bank.balances[src] -= amount
                bank.balances[dst] += amount
            return JSONResponse({"key": key, "status": old["status"], "cross_cell": cross})
        if mode == "drop":
            return err(504, "unknown_outcome")
        if bank.balances[src] < amount:
            return err(422, "insufficient_funds")
        bank.balances[src] -= amount
        t = {"key": key, "from": src, "to": dst, "amount": amount, "status": "pending" if cross else "applied"}
        bank.transfers[key] = t
        if cross:
            asyncio.get_running_loop().create_task(relay(key))
        else:
            bank.balances[dst] += amount
        bank.acks += 1
        if bank.bug == "lose" and bank.acks % 50 == 0:  # acknowledged, then forgotten (undo it all)
            del bank.transfers[key]
            bank.balances[src] += amount
            if not cross:
                bank.balances[dst] -= amount
        if mode in ("unknown", "unknown-dark"):
            return err(504, "unknown_outcome")
        return JSONResponse({"key": key, "status": t["status"], "cross_cell": cross})

    async def transfer_status(req: Request):
        if bank.faulty() in ("unavailable", "unknown-dark"):
            return err(503, "unavailable", retry=True)
        t = bank.transfers.get(req.path_params["key"])
        if t is None:
            return err(404, "unknown_transfer")
        return JSONResponse(t)

    async def audit(req: Request):
        in_flight = sum(t["amount"] for t in bank.transfers.values() if t["status"] == "pending")
        total = sum(bank.balances.values())
        return JSONResponse({"cells": [], "in_flight": in_flight, "total": total + in_flight})

    async def health(req: Request):
        return JSONResponse({"ok": True})

    async def fault(req: Request):
        auth = req.headers.get("authorization", "")
        if not hmac.compare_digest(auth, f"Bearer {token}"):
            return err(401, "unauthorized")
        b = await req.json()
        if "mode" in b:
            bank.fault_mode, bank.fault_until = b["mode"], time.monotonic() + float(b.get("seconds", 1))
        if "bug" in b:
            bank.bug = b["bug"]
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/accounts", create_accounts, methods=["POST"]),
        Route("/accounts/{id}", account),
        Route("/accounts/{id}/transfers", account_transfers),
        Route("/transfers", transfer, methods=["POST"]),
        Route("/transfers/{key}", transfer_status),
        Route("/audit", audit),
        Route("/health", health),
        Route("/admin/fault", fault, methods=["POST"]),
    ])


def main() -> None:
    import uvicorn
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bug", default=None)
    a = p.parse_args()
    bank = FakeBank()
    bank.bug = a.bug
    uvicorn.run(make_app(bank, os.environ.get("HIVESIM_ADMIN_TOKEN", "test-token")), host="127.0.0.1",
                port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
