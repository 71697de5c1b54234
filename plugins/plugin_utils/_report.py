# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report of the reset and health playbooks: one entry per host from its results, the fleet summary, and
its Markdown and table renderings. Plain data in, plain data out; the public filters in plugins/filter/report.py."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# HEALTH_ORDER: host classes, worst first (a host takes the worst class of its users); USER_CLASSES: a user's health.
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import (
    BOT_DOWN,
    EXPIRED,
    FAILED,
    FINAL_OK_STATUSES,
    FINAL_SCAN_STATUSES,
    HANDOFF_ERROR,
    NEEDS_SCAN,
    NO_RESULT,
    OK,
    STALE,
    UNKNOWN,
    WAITING_FOR_SCAN,
    WOULD_RESET,
)
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import HEALTH_CLASSES as USER_CLASSES
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import REPORT_ORDER as HEALTH_ORDER


def _as_dict(value):
    return dict(value) if isinstance(value, dict) else {}


def _results(registered):
    """Loop results of a registered task; an unrun or skipped task has none."""
    registered = _as_dict(registered)
    return [r for r in registered.get("results") or [] if isinstance(r, dict) and not r.get("skipped")]


def _sid(value):
    return None if value in (None, "") else str(value)


def _worst(classes):
    ranked = [c for c in HEALTH_ORDER if c in set(classes)]
    return ranked[0] if ranked else OK


def _error_text(result):
    msg = result.get("msg") or result.get("message") or ""
    return str(msg).strip() or None


def host_report(data):
    """Condense one host's registered results into its report entry (see host_report.yml)."""
    data = _as_dict(data)
    if not data.get("host"):
        raise AnsibleFilterError("host_report needs a dict with at least 'host'")
    playbook = data.get("playbook") or "reset"
    info = _as_dict(data.get("info"))
    check_mode = bool(data.get("check_mode"))
    error = data.get("error") or None
    bot = _as_dict(info.get("bot"))
    qr_files = {str(k): v for k, v in _as_dict(data.get("qr_files")).items()}

    users = {}
    for row in info.get("users") or []:
        row = _as_dict(row)
        key = str(row.get("user_id"))
        users[key] = {
            "email": row.get("email"),
            "user_id": row.get("user_id"),
            "health_before": row.get("health"),
            "reason": row.get("reason"),
            "previous_session_id": _sid(row.get("session_id")),
            "session_id": _sid(row.get("session_id")),
            "status": row.get("wasender_status") or row.get("bot_status"),
            "action": None,
            "qr_file": None,
            "error": None,
        }

    def entry(item):
        item = _as_dict(item)
        key = str(item.get("user_id"))
        if key not in users:
            users[key] = {
                "email": item.get("email"), "user_id": item.get("user_id"), "health_before": None, "reason": None,
                "previous_session_id": _sid(item.get("previous_session_id") or item.get("session_id")), "session_id": None,
                "status": None, "action": None, "qr_file": None, "error": None,
            }
        return users[key]

    reset_count = 0
    reset_db = _as_dict(data.get("reset_db"))
    if reset_db and not reset_db.get("skipped"):
        for row in reset_db.get("reset") or []:
            user = entry(row)
            user["action"] = "reset"
            user["previous_session_id"] = _sid(row.get("previous_session_id")) or user["previous_session_id"]
            user["session_id"] = None
        reset_count += int(reset_db.get("count") or 0)
    for result in _results(data.get("reset_api")):
        user = entry(result.get("item"))
        if result.get("failed"):
            user["error"] = _error_text(result)
            continue
        if result.get("changed"):
            user["action"] = "reset"
            user["previous_session_id"] = _sid(result.get("previous_session_id")) or user["previous_session_id"]
            user["session_id"] = None
            reset_count += 1
    for result in _results(data.get("ensure")):
        user = entry(result.get("item"))
        if result.get("failed"):
            user["error"] = _error_text(result)
            continue
        if result.get("replaced"):
            user["action"] = "reset"
            reset_count += 1
        elif result.get("changed") and user["action"] is None:
            user["action"] = "created"
        elif user["action"] is None:
            user["action"] = "ensured"
        user["session_id"] = _sid(result.get("session_id"))
        user["status"] = result.get("status")
        user["qr_file"] = qr_files.get(str(user["user_id"]))
    # wabot.wasender.qr_handoff: the users' status after the hand-off, their PNG files (no payload is in this result).
    handoff = _as_dict(data.get("handoff"))
    if handoff and not handoff.get("skipped"):
        for row in handoff.get("users") or []:
            row = _as_dict(row)
            user = entry(row)
            if row.get("session_id"):
                user["session_id"] = _sid(row.get("session_id"))
            if row.get("status") and row.get("status") != HANDOFF_ERROR:
                user["status"] = row.get("status")
            if row.get("qr_file"):
                user["qr_file"] = row.get("qr_file")
            user["qr_refreshes"] = int(row.get("qr_refreshes") or 0)
            if row.get("error"):
                user["error"] = str(row["error"])
    for result in _results(data.get("verify")):
        user = entry(result.get("item"))
        status = result.get("status")
        if status:
            user["status"] = status
        if result.get("session_id"):
            user["session_id"] = _sid(result.get("session_id"))
        if (result.get("failed") or result.get("msg")) and not status:
            user["error"] = _error_text(result)

    rows = sorted(users.values(), key=lambda u: (str(u.get("email") or ""), str(u.get("user_id"))))
    for user in rows:
        user.setdefault("qr_refreshes", 0)
        user["final"] = _user_final(user, playbook, check_mode)

    # session_info's verdict on the stored ids (judged against Wasender's list, or why not).
    judged = info.get("judged") if "judged" in info else (info.get("wasender_checked") if info else None)
    judge_error = None if judged or judged is None else str(info.get("judge_error") or info.get("wasender_error") or "not judged")

    orphans = _orphan_rows(info.get("orphans"))
    counts = {k: int(_as_dict(info.get("counts")).get(k, 0) or 0) for k in USER_CLASSES}
    counts["orphans"] = len(orphans) if orphans else int(_as_dict(info.get("counts")).get("orphans", 0) or 0)

    # session_orphans after the reset step: what it deleted (or would delete), and the orphans it left.
    prune = _as_dict(data.get("prune"))
    pruned = bool(prune) and not prune.get("skipped")
    orphans_deleted = _orphan_rows(prune.get("deleted"), ("already_gone",)) if pruned else []
    if pruned and prune.get("failed"):
        if not error:
            error = {"task": "Delete the orphaned Wasender sessions (reset_prune_orphans)", "message": _error_text(prune) or "failed"}
    elif pruned:
        orphans = _orphan_rows(prune.get("kept"), ("reason", "detail")) + (orphans_deleted if check_mode else [])
        counts["orphans"] = len(orphans)

    user_errors = [f"{u.get('email') or u.get('user_id')}: {u['error']}" for u in rows if u.get("error")]
    if not error and user_errors:
        error = {"task": None, "message": "; ".join(user_errors)}
    if error:
        status = FAILED
    elif info and bot and bot.get("reachable") is False and playbook == "health":
        status = BOT_DOWN
    else:
        status = _worst([u["final"] for u in rows]) if rows else OK

    report = {
        "host": data["host"],
        "playbook": playbook,
        "status": status,
        "check_mode": check_mode,
        "bot_url": bot.get("url") or data.get("bot_url"),
        "judged": judged,
        "judge_error": judge_error,
        "bot_reachable": bot.get("reachable"),
        "wasender_checked": info.get("wasender_checked"),
        "counts": counts,
        "orphans": orphans,
        "users": rows,
        "error": _error(error),
    }
    if playbook == "reset":
        report.update(
            method=data.get("method"),
            scope=data.get("scope"),
            users_reset=reset_count,
            restarted=bool(data.get("restarted")),
            backup_path=reset_db.get("backup_path") if reset_db else None,
            orphans_pruned=pruned and not prune.get("failed"),
            orphans_deleted=orphans_deleted,
        )
    return report


ORPHAN_KEYS = ("session_id", "name", "user_id", "user_known", "status", "phone_number")


def _orphan_rows(rows, extra=()):
    return [{k: o.get(k) for k in ORPHAN_KEYS + tuple(extra)} for o in (rows or []) if isinstance(o, dict)]


def _error(error):
    if not error:
        return None
    if isinstance(error, dict):
        return {"task": error.get("task"), "message": str(error.get("message") or error.get("msg") or "").strip()}
    return {"task": None, "message": str(error)}


def _user_final(user, playbook, check_mode):
    if user.get("error"):
        return FAILED
    before = user.get("health_before")
    if playbook == "health" or user.get("action") is None:
        return before or UNKNOWN
    if check_mode:
        return WOULD_RESET if user["action"] == "reset" else (before or UNKNOWN)
    status = (user.get("status") or "").lower()
    if status in FINAL_OK_STATUSES:
        return OK
    if status in FINAL_SCAN_STATUSES:
        return WAITING_FOR_SCAN
    return UNKNOWN


def fleet_report(host_reports, playbook="reset", hosts=None, generated_at=None, options=None):
    """Combine host reports into the fleet summary (see fleet_report.yml)."""
    if isinstance(host_reports, Mapping):
        host_reports = _from_hostvars(host_reports, hosts)
    if not isinstance(host_reports, (list, tuple)):
        raise AnsibleFilterError("fleet_report expects a list of host_report results, or hostvars with the hosts")
    by_host = {}
    for rep in host_reports:
        if isinstance(rep, dict) and rep.get("host"):
            by_host[rep["host"]] = rep
    names = list(hosts) if hosts else sorted(by_host)
    entries = []
    for name in names:
        rep = by_host.get(name)
        if rep is None:
            rep = {"host": name, "playbook": playbook, "status": NO_RESULT, "users": [], "orphans": [], "counts": {},
                   "error": {"task": None, "message": "no result: host unreachable, or not run (play aborted by max_fail_percentage)"}}
        entries.append(rep)
    by_status = {}
    for rep in entries:
        by_status[rep["status"]] = by_status.get(rep["status"], 0) + 1
    failed = [{"host": r["host"], "status": r["status"], "error": (r.get("error") or {}).get("message")}
              for r in entries if r["status"] in (FAILED, NO_RESULT)]
    summary = {
        "playbook": playbook,
        "generated_at": generated_at,
        "check_mode": any(r.get("check_mode") for r in entries),
        "options": dict(options or {}),
        "hosts_total": len(entries),
        "by_status": dict(sorted(by_status.items())),
        "users_total": sum(len(r.get("users") or []) for r in entries),
        "orphans_total": sum(len(r.get("orphans") or []) for r in entries),
        "failed_hosts": failed,
        "hosts": entries,
    }
    if playbook == "reset":
        summary["users_reset"] = sum(int(r.get("users_reset") or 0) for r in entries)
        summary["orphans_deleted_total"] = sum(len(r.get("orphans_deleted") or []) for r in entries)
        summary["waiting_for_scan"] = [
            {"host": r["host"], "email": u.get("email"), "qr_file": u.get("qr_file")}
            for r in entries for u in r.get("users") or [] if u.get("final") == WAITING_FOR_SCAN
        ]
    return summary


def _from_hostvars(mapping, hosts):
    """The wabot_host_report of each host in hosts (hostvars), or the values of a plain dict of reports."""
    reports = []
    for name in hosts if hosts else list(mapping):
        try:
            host_vars = mapping[name]
        except KeyError:
            continue
        if isinstance(host_vars, Mapping) and host_vars.get("host") and "status" in host_vars:
            reports.append(dict(host_vars))  # a plain dict of reports
        elif isinstance(host_vars, Mapping) and "wabot_host_report" in host_vars:
            reports.append(host_vars["wabot_host_report"])
    return reports


def _cell(value):
    text = "-" if value in (None, "", []) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def fleet_markdown(summary):
    """Render a fleet_report summary as Markdown (see fleet_markdown.yml)."""
    summary = _as_dict(summary)
    playbook = summary.get("playbook", "reset")
    lines = [f"# wabot.wasender {playbook} report", ""]
    lines.append(f"- Generated: {summary.get('generated_at') or '-'}")
    if summary.get("check_mode"):
        lines.append("- **Check mode**: nothing was changed; the report shows what would be done.")
    lines.append(f"- Hosts: {summary.get('hosts_total', 0)} ({', '.join(f'{k}: {v}' for k, v in summary.get('by_status', {}).items()) or 'none'})")
    prune = _prune_shown(summary)
    if playbook == "reset":
        lines.append(f"- Users reset: {summary.get('users_reset', 0)}")
    if prune:
        verb = "would be deleted" if summary.get("check_mode") else "deleted"
        lines.append(f"- Orphaned Wasender sessions {verb}: {summary.get('orphans_deleted_total', 0)}")
        lines.append(f"- Orphaned Wasender sessions left: {summary.get('orphans_total', 0)}")
    else:
        lines.append(f"- Orphaned Wasender sessions: {summary.get('orphans_total', 0)}")
    opts = summary.get("options") or {}
    if opts:
        lines.append("- Options: " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in opts.items()))
    lines.append("")
    failed = summary.get("failed_hosts") or []
    if failed:
        lines += ["## Failed hosts", "", "| host | status | error |", "| --- | --- | --- |"]
        lines += [f"| {_cell(f['host'])} | {_cell(f['status'])} | {_cell(f['error'])} |" for f in failed]
        lines.append("")
    waiting = summary.get("waiting_for_scan") or []
    if waiting:
        lines += ["## Waiting for a QR scan", "", "| host | user | QR file |", "| --- | --- | --- |"]
        lines += [f"| {_cell(w['host'])} | {_cell(w['email'])} | {_cell(w['qr_file'])} |" for w in waiting]
        lines.append("")
    lines += ["## Hosts", ""]
    if playbook == "reset":
        lines += ["| host | status | method | users reset | restarted | orphans |" + (" orphans deleted |" if prune else "") + " error |",
                  "| --- | --- | --- | --- | --- | --- |" + (" --- |" if prune else "") + " --- |"]
        for r in summary.get("hosts") or []:
            deleted = f" {len(r.get('orphans_deleted') or [])} |" if prune else ""
            lines.append(
                f"| {_cell(r['host'])} | {_cell(r['status'])} | {_cell(r.get('method'))} | {_cell(r.get('users_reset', 0))} "
                f"| {_cell('yes' if r.get('restarted') else 'no')} | {_cell(len(r.get('orphans') or []))} |{deleted}"
                f" {_cell(_host_problem(r))} |"
            )
    else:
        expired = _expired_shown(summary)
        lines += ["| host | status | ok | needs_scan | stale |" + (" expired |" if expired else "") + " unknown | orphans | error |",
                  "| --- | --- | --- | --- | --- |" + (" --- |" if expired else "") + " --- | --- | --- |"]
        for r in summary.get("hosts") or []:
            c = r.get("counts") or {}
            lines.append(
                f"| {_cell(r['host'])} | {_cell(r['status'])} | {c.get('ok', 0)} | {c.get('needs_scan', 0)} | {c.get('stale', 0)} "
                + (f"| {c.get('expired', 0)} " if expired else "")
                + f"| {c.get('unknown', 0)} | {c.get('orphans', 0)} | {_cell(_host_problem(r))} |"
            )
    lines.append("")
    for r in summary.get("hosts") or []:
        users = r.get("users") or []
        orphans = r.get("orphans") or []
        deleted = r.get("orphans_deleted") or []
        if not users and not orphans and not deleted:
            continue
        lines += [f"### {r['host']}", ""]
        if r.get("backup_path"):
            lines += [f"Database backup: `{r['backup_path']}`", ""]
        if users:
            if playbook == "reset":
                lines += ["| user | before | action | previous session | new session | final status | QR file | error |",
                          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
                lines += [
                    f"| {_cell(u.get('email'))} | {_cell(u.get('health_before'))} | {_cell(u.get('action'))} | {_cell(u.get('previous_session_id'))} "
                    f"| {_cell(u.get('session_id'))} | {_cell(u.get('final'))} | {_cell(u.get('qr_file'))} | {_cell(u.get('error'))} |"
                    for u in users
                ]
            else:
                lines += ["| user | session | health | Wasender status | reason |", "| --- | --- | --- | --- | --- |"]
                lines += [
                    f"| {_cell(u.get('email'))} | {_cell(u.get('session_id'))} | {_cell(u.get('final'))} "
                    f"| {_cell(u.get('status'))} | {_cell(u.get('reason'))} |"
                    for u in users
                ]
            lines.append("")
        if deleted:
            verb = "that would be deleted" if r.get("check_mode") else "deleted"
            lines += [f"Orphaned Wasender sessions {verb}:", ""]
            lines += [f"- {_cell(o.get('session_id'))} `{_cell(o.get('name'))}` status {_cell(o.get('status'))}"
                      f"{'' if o.get('user_known') else ' (user not in this database)'}"
                      f"{' (already gone)' if o.get('already_gone') else ''}" for o in deleted]
            lines.append("")
        if orphans:
            lines += ["Orphaned Wasender sessions (no user of this bot references them):", ""]
            lines += [f"- {_cell(o.get('session_id'))} `{_cell(o.get('name'))}` status {_cell(o.get('status'))}"
                      f"{'' if o.get('user_known') else ' (user not in this database)'}"
                      f"{(' - kept: ' + _cell(o.get('detail') or o.get('reason'))) if o.get('reason') else ''}" for o in orphans]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def fleet_table(summary):
    """Render a fleet_report summary as a compact fixed-width table for the terminal (see fleet_table.yml)."""
    summary = _as_dict(summary)
    playbook = summary.get("playbook", "reset")
    hosts = summary.get("hosts") or []
    if playbook == "reset":
        prune = _prune_shown(summary)
        header = ["HOST", "STATUS", "METHOD", "RESET", "OK", "SCAN", "ORPHANS"] + (["DELETED"] if prune else []) + ["NOTE"]
        rows = []
        for r in hosts:
            users = r.get("users") or []
            rows.append([
                r["host"], r["status"], r.get("method") or "-", str(r.get("users_reset", 0)),
                str(sum(1 for u in users if u.get("final") == OK)),
                str(sum(1 for u in users if u.get("final") in (WAITING_FOR_SCAN, NEEDS_SCAN))),
                str(len(r.get("orphans") or [])),
            ] + ([str(len(r.get("orphans_deleted") or []))] if prune else []) + [_note(r)])
    else:
        expired = _expired_shown(summary)
        header = ["HOST", "STATUS", "OK", "SCAN", "STALE"] + (["EXPIRED"] if expired else []) + ["UNKNOWN", "ORPHANS", "NOTE"]
        rows = []
        for r in hosts:
            c = r.get("counts") or {}
            rows.append([r["host"], r["status"], str(c.get(OK, 0)), str(c.get(NEEDS_SCAN, 0)), str(c.get(STALE, 0))]
                        + ([str(c.get(EXPIRED, 0))] if expired else [])
                        + [str(c.get(UNKNOWN, 0)), str(c.get("orphans", 0)), _note(r)])
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    out = []
    for row in [header] + rows:
        out.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + str(row[-1]))
    details = []
    for r in hosts:
        for u in r.get("users") or []:
            if u.get("final") not in (OK, None):
                extra = f" QR: {u['qr_file']}" if u.get("qr_file") and u.get("final") == WAITING_FOR_SCAN else ""
                sid = u.get("session_id") or u.get("previous_session_id") or "-"
                details.append(f"  {r['host']}: {u.get('email')} {u.get('final')} (session {sid}){extra}")
    if details:
        out += ["", "Users needing attention:"] + details
    problems = [f"  {r['host']}: {_host_problem(r)}" for r in hosts
                if r.get("status") in (FAILED, NO_RESULT) or r.get("judge_error")]
    problems = [line for line in problems if not line.endswith(": None")]
    if problems:
        out += ["", "Hosts failed or not judged:"] + [p.splitlines()[0] for p in problems]
    tail = f"{summary.get('hosts_total', 0)} host(s): " + ", ".join(f"{k} {v}" for k, v in (summary.get("by_status") or {}).items())
    if playbook == "reset":
        tail += f"; {summary.get('users_reset', 0)} user(s) reset"
        if _prune_shown(summary):
            verb = "would be deleted" if summary.get("check_mode") else "deleted"
            tail += f"; {summary.get('orphans_deleted_total', 0)} orphaned session(s) {verb}, {summary.get('orphans_total', 0)} left"
    return "\n".join(out + ["", tail.rstrip(": ")])


def _expired_shown(summary):
    """Whether the health tables show an EXPIRED column: only when a host has sessions Wasender lists as expired."""
    return any(int((r.get("counts") or {}).get(EXPIRED, 0) or 0) for r in summary.get("hosts") or [])


def _prune_shown(summary):
    """Whether the reset summary shows the orphans deleted: reset_prune_orphans was on, or something was deleted."""
    if summary.get("playbook", "reset") != "reset":
        return False
    return bool((summary.get("options") or {}).get("reset_prune_orphans")) or bool(summary.get("orphans_deleted_total"))


def _short(message, width=140):
    lines = str(message).strip().splitlines() or [""]
    msg = lines[0]
    return (msg[: width - 3] + "...") if len(msg) > width else msg


def _host_problem(report):
    """The host's error message, else why its sessions could not be judged (the markdown tables' error column)."""
    message = (report.get("error") or {}).get("message")
    if message:
        return message
    return f"not judged: {report['judge_error']}" if report.get("judge_error") else None


def _note(report):
    err = report.get("error") or {}
    if err.get("message"):
        return _short(err["message"])
    if report.get("judge_error"):
        return _short(f"not judged: {report['judge_error']}")
    if report.get("bot_reachable") is False:
        return "bot not answering /health"
    if report.get("check_mode") and report.get("playbook") == "reset":
        return "check mode: nothing changed"
    return ""
