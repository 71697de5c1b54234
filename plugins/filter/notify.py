# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side filters that turn a fleet summary (or an Event-Driven Ansible alert) into a webhook message."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import (
    BOT_DOWN,
    EXPIRED,
    FAILED,
    MISSING,
    NEEDS_SCAN,
    NO_RESULT,
    OK,
    STALE,
    WAITING_FOR_SCAN,
)

FORMATS = ("generic", "slack", "teams")
SCAN_HINT = "WhatsApp > Linked devices > Link a device"
# What a reset cannot repair, by event kind of the event sources (extensions/eda/plugins/event_source).
ALERTS = {
    "wasender_unreachable": (
        "Wasender cannot be reached from the bot",
        "A reset cannot help while Wasender is unreachable or failing: check Wasender's status and the bot host's network;"
        " the sessions are judged again once Wasender answers.",
    ),
    "wasender_auth": (
        "Wasender refuses the bot's credentials",
        "A reset cannot help with wrong credentials: fix WASENDER_API_TOKEN (and WASENDER_API_BASE_URL) in the bot's"
        " backend/.env, then restart the bot.",
    ),
    "not_judged": (
        "The sessions cannot be judged against Wasender",
        "A reset would refuse to act: see the error, fix the Wasender token or URL, or run health by hand.",
    ),
    BOT_DOWN: ("The bot does not answer /health", "Start the bot (role wabot.wasender.bot_service) and check its log."),
}
MAX_ERROR = 300


def _as_dict(value):
    return dict(value) if isinstance(value, Mapping) else {}


def _short(text, width=MAX_ERROR):
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _web_url(host_report, web_urls):
    return web_urls.get(host_report.get("host")) or host_report.get("bot_url")


def users_to_scan(summary, web_urls=None):
    """The users who must scan a new QR code, with the host and the bot's web UI where they do it.

    reset: the users whose new session waits for a scan. health: the users whose session waits for a scan, and the
    stale and expired ones (a reset gives them a new session, which they scan)."""
    summary = _as_dict(summary)
    web_urls = _as_dict(web_urls)
    playbook = summary.get("playbook", "reset")
    wanted = (WAITING_FOR_SCAN,) if playbook == "reset" else (NEEDS_SCAN, STALE, EXPIRED)
    rows = []
    for rep in summary.get("hosts") or []:
        rep = _as_dict(rep)
        for user in rep.get("users") or []:
            user = _as_dict(user)
            if user.get("final") in wanted:
                rows.append({"host": rep.get("host"), "email": user.get("email"), "user_id": user.get("user_id"),
                             "status": user.get("final"), "web_url": _web_url(rep, web_urls)})
    return rows


def _trigger_text(event):
    event = _as_dict(event)
    wabot = _as_dict(event.get("wabot"))
    if not wabot:
        return None
    what = {"stale_session": f"session {wabot.get('session_id')} failed with HTTP {wabot.get('http_status')}"}.get(
        wabot.get("kind"), wabot.get("kind"))
    return f"Triggered by Event-Driven Ansible ({wabot.get('source')}): {wabot.get('host')}: {what}"


def _trigger(event):
    wabot = _as_dict(_as_dict(event).get("wabot"))
    keys = ("kind", "host", "session_id", "user_id", "email", "http_status", "source")
    return {k: wabot.get(k) for k in keys if wabot.get(k) is not None} or None


def _shape(payload, text, title, fmt, attention):
    if fmt == "slack":
        return {"text": text}
    if fmt == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": "D9534F" if attention else "5CB85C",
            "title": title,
            "text": text.replace("\n", "\n\n"),
        }
    return dict(payload, text=text)


def _check_format(fmt):
    if fmt not in FORMATS:
        raise AnsibleFilterError(f"webhook format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def webhook_payload(summary, fmt="generic", web_urls=None, event=None):
    """The webhook message for a fleet summary of the reset or health playbook (see webhook_payload.yml)."""
    _check_format(fmt)
    summary = _as_dict(summary)
    if "hosts" not in summary:
        raise AnsibleFilterError("webhook_payload expects the summary of wabot.wasender.fleet_report")
    playbook = summary.get("playbook", "reset")
    scan = users_to_scan(summary, web_urls)
    failed = [{"host": f.get("host"), "status": f.get("status"), "error": _short(f.get("error"))}
              for f in (_as_dict(x) for x in summary.get("failed_hosts") or [])]
    not_judged = [{"host": r.get("host"), "error": _short(r.get("judge_error"))}
                  for r in (_as_dict(x) for x in summary.get("hosts") or [])
                  if r.get("judge_error") and r.get("status") not in (FAILED, NO_RESULT)]
    by_status = _as_dict(summary.get("by_status"))
    attention = bool(scan or failed or not_judged or set(by_status) - {OK, MISSING})
    counts = ", ".join(f"{k} {v}" for k, v in by_status.items()) or "no hosts"
    head = f"wabot.wasender {playbook}{' (check mode)' if summary.get('check_mode') else ''}: {summary.get('hosts_total', 0)} host(s): {counts}"
    if playbook == "reset":
        head += f"; {summary.get('users_reset', 0)} user(s) reset"
    lines = [head]
    trigger = _trigger_text(event)
    if trigger:
        lines.append(trigger)
    if scan:
        lines.append(f"Users who must scan a new QR code in the bot's web UI ({SCAN_HINT}):")
        for row in scan:
            extra = "" if row["status"] in (WAITING_FOR_SCAN, NEEDS_SCAN) else f" (session {row['status']}: run wabot.wasender.reset first)"
            lines.append(f"- {row['host']}: {row['email'] or row['user_id']} at {row['web_url'] or 'the bot web UI'}{extra}")
    if failed:
        lines.append("Failed hosts:")
        lines += [f"- {f['host']} ({f['status']}): {f['error']}" for f in failed]
    if not_judged:
        lines.append("Hosts whose sessions could not be judged:")
        lines += [f"- {n['host']}: {n['error']}" for n in not_judged]
    if not attention:
        lines.append("Nothing to do.")
    payload = {
        "source": "wabot.wasender",
        "playbook": playbook,
        "generated_at": summary.get("generated_at"),
        "check_mode": bool(summary.get("check_mode")),
        "attention": attention,
        "hosts_total": summary.get("hosts_total", 0),
        "by_status": by_status,
        "users_to_scan": scan,
        "failed_hosts": failed,
        "not_judged": not_judged,
        "trigger": _trigger(event),
    }
    if playbook == "reset":
        payload["users_reset"] = summary.get("users_reset", 0)
    title = f"wabot.wasender {playbook}: {'action needed' if attention else 'all good'}"
    return _shape(payload, "\n".join(lines), title, fmt, attention)


def webhook_alert(event, fmt="generic"):
    """The webhook message for an event that a reset cannot repair (see webhook_alert.yml)."""
    _check_format(fmt)
    wabot = _as_dict(_as_dict(event).get("wabot"))
    kind = wabot.get("kind")
    if kind not in ALERTS:
        raise AnsibleFilterError(f"webhook_alert expects an event of the wabot.wasender sources with kind {', '.join(ALERTS)}, got {kind!r}")
    title, advice = ALERTS[kind]
    detail = _short(wabot.get("error"))
    status = f" (HTTP {wabot['http_status']})" if wabot.get("http_status") else ""
    text = f"wabot.wasender: {wabot.get('host')}: {title}{status}" + (f": {detail}" if detail else "") + f"\n{advice}"
    payload = {"source": "wabot.wasender", "playbook": None, "attention": True, "alert": kind, "host": wabot.get("host"),
               "http_status": wabot.get("http_status"), "error": detail or None, "advice": advice, "trigger": _trigger(event)}
    return _shape(payload, text, f"wabot.wasender: {title}", fmt, True)


class FilterModule:
    """Webhook message filters of wabot.wasender."""

    def filters(self):
        return {"webhook_payload": webhook_payload, "webhook_alert": webhook_alert, "users_to_scan": users_to_scan}
