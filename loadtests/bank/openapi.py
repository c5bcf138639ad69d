"""The OpenAPI 3.1 document of the bank API (served at ``GET /openapi.json`` by gateway and app servers).

Written out by hand from docs/live-api.md, which stays the human-readable contract; a test
checks that every route the services expose is documented here.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from loadtests.bank.routing import ACCOUNT_PATTERN, KEY_PATTERN

__all__ = ["OPENAPI", "openapi_response"]

_ID = {"type": "string", "pattern": ACCOUNT_PATTERN}
_KEY = {"type": "string", "pattern": KEY_PATTERN}
_CENTS = {"type": "integer", "minimum": 0, "maximum": 10**15}
_ERR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"},
                                                                   "detail": {"type": "string"}}}


def _r(desc, schema=None):
    out = {"description": desc}
    # an explicit {} (any JSON) must stay {}: only a missing schema means the Error shape
    out["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"} if schema is None
                                            else schema}}
    return out


# the deadline an app server gives its own retries (the gateway sends what is left of its own; the
# gateway itself ignores the header); absent, non-numeric or not finite: the configured deadline
_DEADLINE = {"name": "X-Hivesim-Deadline", "in": "header", "required": False,
             "schema": {"type": "number", "exclusiveMinimum": 0}}

_COMMON = {"400": _r("malformed JSON"), "413": _r("body too large"), "422": _r("invalid input"),
           "503": _r("no primary before the deadline; nothing changed (retry)"),
           "504": _r("unknown outcome: resolve with GET /transfers/{key}")}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "hivesim reference bank", "version": "1",
             "description": "Cell-based bank: accounts hashed to cells, transfers with idempotency keys, "
                            "cross-cell transfers through an outbox and a relay. Money in integer cents."},
    "paths": {
        "/accounts": {"post": {
            "parameters": [_DEADLINE],
            "summary": "Create accounts (bulk, <= 10,000 per call)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["accounts"], "additionalProperties": False,
                "properties": {"accounts": {"type": "array", "minItems": 1, "maxItems": 10000, "items": {
                    "type": "object", "required": ["id", "balance"], "additionalProperties": False,
                    "properties": {"id": _ID, "balance": _CENTS}}}}}}}},
            "responses": {"201": _r("created", {"type": "object", "properties": {"created": {"type": "integer"}}}),
                          "409": _r("some ids exist; nothing created in that cell"), **_COMMON}}},
        "/accounts/{id}": {"get": {
            "summary": "Balance of one account",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}, _DEADLINE],
            "responses": {"200": _r("balance", {"type": "object", "properties": {
                "id": _ID, "balance": _CENTS, "cell": {"type": "integer"}}}),
                "404": _r("unknown account"), **_COMMON}}},
        "/accounts/{id}/transfers": {"get": {
            "summary": "Transfers touching an account (newest first not guaranteed; at most 1,000)",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}, _DEADLINE],
            "responses": {"200": _r("transfers", {"type": "object", "properties": {
                "transfers": {"type": "array", "items": {"$ref": "#/components/schemas/Transfer"}}}}),
                "404": _r("unknown account"), **_COMMON}}},
        "/transfers": {"post": {
            "parameters": [_DEADLINE],
            "summary": "Move money; a repeated key returns the original outcome and never applies twice",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["key", "from", "to", "amount"], "additionalProperties": False,
                "properties": {"key": _KEY, "from": _ID, "to": _ID,
                               "amount": {"type": "integer", "minimum": 1, "maximum": 10**15}}}}}},
            "responses": {"200": _r("committed: applied, or pending (cross-cell, in the outbox)", {
                "type": "object", "properties": {"key": _KEY, "status": {"enum": ["applied", "pending"]},
                                                 "cross_cell": {"type": "boolean"}}}),
                "404": _r("unknown account"), "409": _r("key used for another transfer"),
                **_COMMON, "422": _r("invalid input, or insufficient_funds (recorded as rejected)")}}},
        "/transfers/{key}": {"get": {
            "summary": "Status of a transfer by idempotency key (?from=ACCOUNT routes to one cell)",
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": _KEY},
                           {"name": "from", "in": "query", "required": False, "schema": _ID}, _DEADLINE],
            "responses": {"200": _r("found", {"$ref": "#/components/schemas/Transfer"}),
                          "404": _r("never committed: safe to retry with the same key"), **_COMMON}}},
        "/audit": {"get": {
            "parameters": [_DEADLINE],
            "summary": "Money per cell plus money in flight between cells (exact when no transfer is running)",
            "responses": {"200": _r("audit", {"type": "object", "properties": {
                "cells": {"type": "array"}, "in_flight": {"type": "integer"}, "total": {"type": "integer"}}}),
                **_COMMON}}},
        "/health": {"get": {"summary": "Liveness (?db=1: also reach the primary)", "responses": {"200": _r("ok", {})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format"}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
        "/admin/fault": {"get": {"summary": "Injected fault state", "security": [{"bearer": []}],
                                 "responses": {"200": _r("state", {}), "401": _r("no or wrong token")}},
                         "post": {"summary": "Inject errors/latency (a bad change)", "security": [{"bearer": []}],
                                  "requestBody": {"content": {"application/json": {"schema": {
                                      "type": "object", "properties": {
                                          "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                                          "latency_ms": {"type": "number", "minimum": 0},
                                          "duration_s": {"type": ["number", "null"]}}}}}},
                                  "responses": {"200": _r("state", {}), "401": _r("no or wrong token")}}},
        "/admin/heal": {"post": {"summary": "Remove injected faults", "security": [{"bearer": []}],
                                 "responses": {"200": _r("state", {}), "401": _r("no or wrong token")}}},
    },
    "components": {
        "schemas": {
            "Error": _ERR,
            "Transfer": {"type": "object", "properties": {
                "key": _KEY, "status": {"enum": ["applied", "pending", "rejected"]}, "from": _ID, "to": _ID,
                "amount": {"type": "integer"}, "cross_cell": {"type": "boolean"}, "cell": {"type": "integer"}}},
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "the value of HIVESIM_ADMIN_TOKEN"}},
    },
}


async def openapi_response(request) -> JSONResponse:
    return JSONResponse(OPENAPI)
