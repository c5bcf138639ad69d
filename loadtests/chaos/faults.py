"""What each fault kind does to a resolved target, and how it is lifted.

What a kind *means* (what stops, which targets it applies to, how long it is held, ``duration:
0``) is ``sim.scenario.chaos.FAULT_KINDS``, shared with the simulator; validation has already
refused a kind that does not apply to its target. This module carries each kind out live:

| kind            | database member                          | process (app, gateway, relay, etcd) |
|-----------------|------------------------------------------|-------------------------------------|
| kill-postmaster | SIGKILL its postmaster (Patroni fails over) | -                                |
| kill-patroni    | SIGKILL its Patroni (the leader key expires after ttl; an emulated watchdog resets a leader's PostgreSQL safety_margin before, ``loadtests.chaos.fence``) | - |
| crash / down    | SIGKILL Patroni and PostgreSQL (a host crash); restarted when lifted | SIGKILL (gateway, app and relay are restarted by the cluster's supervisor; etcd when lifted) |
| pause           | SIGSTOP Patroni and PostgreSQL, SIGCONT when lifted | SIGSTOP / SIGCONT           |
| latency         | delay + jitter on the app -> member path (TCP fault proxy) | app: delay per request (admin hook) |
| partition       | drop every connection on the app -> member path and refuse new ones | -          |
| bad-change      | -                                        | app server answers 500 (its admin fault hook) |

Signals go to PIDs the cluster manager started, with their process group (every process the
manager starts gets a session of its own) -- never to our own group, never by name. A database
member is frozen or crashed *whole*: Patroni, the postmaster and every process the postmaster
forked (PostgreSQL backends call setsid(), so its process group alone would leave the backends
serving their open connections); the tree is found from the known PIDs through /proc parent links. A fault with ``duration: 0`` is
held until the run ends: it is lifted when the load stops, before the checker runs, so every
member can converge.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Callable

from loadtests.chaos.fence import Fence
from loadtests.chaos.targets import ClusterView, DbMember, Proc, Resolved

__all__ = ["Held", "apply_fault", "FaultError", "signal_target", "process_tree"]


class FaultError(RuntimeError):
    """The fault could not be applied (e.g. the process is already gone)."""


def signal_target(pid: int | None, sig: int, group: bool = True) -> str:
    """Send ``sig`` to ``pid`` (or to the process group it leads); a short note of what was hit."""
    if not pid:
        raise FaultError("no PID known")
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        raise FaultError(f"pid {pid} is not running") from None
    try:
        # Patroni starts the postmaster from a helper that called setsid() and exited, so the
        # postmaster and its backends form a group of their own that the postmaster does not lead
        if group and pgid > 1 and pgid != os.getpgid(0):
            os.killpg(pgid, sig)
            return f"pid {pid} with its group {pgid}"
        os.kill(pid, sig)
        return f"pid {pid}"
    except ProcessLookupError:
        raise FaultError(f"pid {pid} is not running") from None


@dataclass
class Held:
    """A fault in force: ``lift()`` ends it (idempotent)."""

    detail: str
    lifters: list[Callable[[], None]] = field(default_factory=list)
    # what was hit, as data for the fault's record: {"name", "kind" (db | app | gateway | relay |
    # etcd), "cell" (db members and app servers), "role" (db: leader | sync_standby | replica;
    # etcd: leader | follower; None: not known), and "port_held": true for a service whose
    # supervisor holds its port}; ``detail`` says the same for people
    hit: list[dict] = field(default_factory=list)
    lifted: bool = False

    def lift(self) -> list[str]:
        """Undo the fault; returns the errors met (lifting goes on past one failure)."""
        if self.lifted:
            return []
        self.lifted = True
        errors = []
        for fn in self.lifters:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - keep lifting the rest, report every failure
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors


def process_tree(pid: int | None) -> list[int]:
    """``pid`` and all its descendants (parents first), from the parent links in /proc."""
    if not pid:
        return []
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(sorted(children.get(p, [])))
    return out


def _member_tree(m: DbMember) -> list[int]:
    """Every process of a member: the postmaster and its children first, then Patroni's tree."""
    seen: list[int] = []
    for root in (m.postmaster_pid, m.patroni_pid):
        for p in process_tree(root):
            if p not in seen:
                seen.append(p)
    return seen


def _member_hit(m: DbMember) -> dict:
    return {"name": m.name, "kind": "db", "cell": m.cell, "role": m.role}


def _proc_hit(p: Proc) -> dict:
    hit = {"name": p.name, "kind": p.kind, "cell": p.cell, "role": p.role}
    if p.port_held:  # a crash then refuses no connection: the replay models it as a hold
        hit["port_held"] = True
    return hit


def _signal_member(m: DbMember, sig: signal.Signals, notes: list[str]) -> list[int]:
    """Signal every process of member ``m`` (crash: SIGKILL, pause: SIGSTOP), note what was hit,
    and return those PIDs."""
    tree = _member_tree(m)
    if not tree:
        raise FaultError(f"{m.name}: no running process")
    hit = _signal_all(tree, sig)
    # the role it had when hit goes into the record: an IDC loss costs a cell a failover only where
    # it took the leader (sim.calibration.effects reads "c0-m2 [replica]: ...")
    notes.append(f"{m.name} [{m.role or 'unknown'}]: {sig.name} {len(hit)} processes (patroni {m.patroni_pid}, "
                 f"postmaster {m.postmaster_pid} and its children)")
    return hit


def _signal_all(pids: list[int], sig: int) -> list[int]:
    """Signal each PID alone (the tree is explicit); the ones that were still there."""
    hit = []
    for p in pids:
        try:
            os.kill(p, sig)
            hit.append(p)
        except ProcessLookupError:
            pass
    return hit


def _proxy(cluster: ClusterView, m: DbMember, path: str, body: dict | None = None) -> None:
    import httpx
    if not m.proxy_control:
        raise FaultError(f"{m.name} has no fault proxy")
    r = httpx.post(m.proxy_control.rstrip("/") + path, json=body or {}, timeout=5.0,
                   headers={"Authorization": f"Bearer {cluster.admin_token}"})
    if r.status_code != 200:
        raise FaultError(f"proxy of {m.name}: {path} answered {r.status_code} {r.text[:200]}")


def apply_fault(kind: str, res: Resolved, cluster: ClusterView, *, latency: float = 0.0,
                jitter: float = 0.0) -> Held:
    """Apply ``kind`` to everything in ``res`` now; return how to lift it."""
    held = Held(detail="")
    notes: list[str] = []
    # validation matched kind and target (FAULT_KINDS); this guards a target resolving oddly now,
    # before anything is signalled, so a fault is never half applied
    wrong = [p.name for p in res.procs if kind in ("partition", "kill-postmaster", "kill-patroni")
             or kind in ("latency", "bad-change") and p.kind != "app"]
    if wrong or (kind == "bad-change" and res.members) or not (res.members or res.procs):
        raise FaultError(f"fault {kind!r} does not apply to {', '.join(wrong) or 'these targets'}")

    held.hit = [_member_hit(m) for m in res.members] + [_proc_hit(p) for p in res.procs]
    for m in res.members:
        if kind == "kill-postmaster":
            notes.append(f"{m.name}: SIGKILL postmaster {signal_target(m.postmaster_pid, signal.SIGKILL, group=False)}")
        elif kind == "kill-patroni":
            key = cluster.leader_key(m.cell) if cluster.fence_margin is not None else None
            notes.append(f"{m.name}: SIGKILL patroni {signal_target(m.patroni_pid, signal.SIGKILL, group=False)}")
            if key is not None and key[0] == m.name:  # only a leader's Patroni arms the watchdog
                fence = Fence(key[1] - cluster.fence_margin,  # the host's reset: its PostgreSQL tree
                              lambda pm=m.postmaster_pid: _signal_all(process_tree(pm), signal.SIGKILL)).start()
                notes.append(f"{m.name}: watchdog resets its PostgreSQL in {fence.at - time.time():.2f} s "
                             f"(leader key expires in {key[1] - time.time():.2f} s)")
                held.lifters.append(fence.cancel)  # Patroni back first: the watchdog is pinged again
            held.lifters.append(lambda m=m: cluster.restart(m, "patroni"))
        elif kind in ("crash", "down"):
            _signal_member(m, signal.SIGKILL, notes)
            held.lifters.append(lambda m=m: cluster.restart(m, "all"))
        elif kind == "pause":
            stopped = _signal_member(m, signal.SIGSTOP, notes)
            # resume exactly what was stopped (a new child cannot appear while its parent is stopped)
            held.lifters.append(lambda stopped=stopped: _signal_all(stopped, signal.SIGCONT))
        elif kind == "latency":
            _proxy(cluster, m, "/latency", {"latency_ms": latency * 1000, "jitter_ms": jitter * 1000})
            notes.append(f"{m.name}: +{latency * 1000:g} ms +- {jitter * 1000:g} ms")
            held.lifters.append(lambda m=m: _proxy(cluster, m, "/heal"))
        elif kind == "partition":
            _proxy(cluster, m, "/partition", {"mode": "reset"})
            notes.append(f"{m.name}: partitioned from the app servers")
            held.lifters.append(lambda m=m: _proxy(cluster, m, "/heal"))
        else:
            raise FaultError(f"fault {kind!r} does not apply to database member {m.name}")

    for p in res.procs:
        if kind in ("crash", "down"):
            notes.append(f"{p.name}{f' [{p.role}]' if p.role else ''}: SIGKILL {signal_target(p.pid, signal.SIGKILL)}")
            held.lifters.append(lambda p=p: cluster.restart(p, "all"))
        elif kind == "pause":
            notes.append(f"{p.name}: SIGSTOP {signal_target(p.pid, signal.SIGSTOP)}")
            held.lifters.append(lambda p=p: signal_target(p.pid, signal.SIGCONT))
        elif kind == "bad-change":
            _app_fault(cluster, p, {"error_rate": 1.0})
            notes.append(f"{p.name}: answering 500")
            held.lifters.append(lambda p=p: _app_fault(cluster, p, None))
        elif kind == "latency":
            _app_fault(cluster, p, {"latency_ms": latency * 1000})
            notes.append(f"{p.name}: +{latency * 1000:g} ms per request (app hook; no jitter)")
            held.lifters.append(lambda p=p: _app_fault(cluster, p, None))
        else:
            raise FaultError(f"fault {kind!r} does not apply to {p.kind} {p.name}")
    held.detail = "; ".join(notes)
    return held


def _app_fault(cluster: ClusterView, p: Proc, body: dict | None) -> None:
    import httpx
    url = p.url
    if not url:
        raise FaultError(f"{p.name}: no admin URL known")
    path, payload = ("/admin/fault", body) if body else ("/admin/heal", {})
    r = httpx.post(url.rstrip("/") + path, json=payload, timeout=5.0,
                   headers={"Authorization": f"Bearer {cluster.admin_token}"})
    if r.status_code != 200:
        raise FaultError(f"{p.name}: {path} answered {r.status_code} {r.text[:200]}")


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
