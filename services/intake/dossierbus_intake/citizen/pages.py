"""The citizen page's HTML: plain server-rendered pages, no script, one local style sheet (no CDN).

Accessible by construction: the page's language in `<html lang>`, a skip link, landmarks (header, nav,
main), one h1 and ordered headings, tables with captions and header cells, labelled form fields, alerts
in `role="alert"`, the current language marked `aria-current`. Everything another service or the citizen
wrote passes through `_e` (HTML escaping, quotes included) before it reaches the page.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from dossierbus_intake.citizen.i18n import LANGUAGE_NAMES, LANGUAGES, Translator
from dossierbus_intake.citizen.session import masked_personal_id
from dossierbus_intake.citizen.view import DossierDetail, DossierSummary, Names, PaymentView

BASE = "/citizen"
"""Where intake serves the page; behind a proxy, publish it at the same path."""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _name(t: Translator, names: Names, fallback: str) -> str:
    return _e(t.name(dict(names), fallback))


class Chrome:
    """What every page carries: its language, the language switch, and who is signed in."""

    def __init__(
        self,
        t: Translator,
        *,
        path: str,
        personal_id: str | None = None,
        csrf_token: str | None = None,
    ) -> None:
        self.t = t
        self.path = path
        """The page's own path: the language switch links back to it."""
        self.personal_id = personal_id
        self.csrf_token = csrf_token


def page(chrome: Chrome, title: str, content: str) -> str:
    t = chrome.t
    switch = " ".join(
        f'<li><a href="{_e(chrome.path)}?lang={language}" lang="{language}" hreflang="{language}"'
        + (' aria-current="true"' if language == t.language else "")
        + f">{_e(LANGUAGE_NAMES[language])}</a></li>"
        for language in LANGUAGES
    )
    account = ""
    if chrome.personal_id is not None and chrome.csrf_token is not None:
        account = (
            f'<p class="account">{_e(t("signed_in_as", personal_id=masked_personal_id(chrome.personal_id)))}'
            f'</p><form id="sign-out" method="post" action="{BASE}/signout">'
            f'<input type="hidden" name="csrf_token" value="{_e(chrome.csrf_token)}">'
            f'<button type="submit">{_e(t("sign_out"))}</button></form>'
        )
    return f"""<!doctype html>
<html lang="{t.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} · {_e(t("site"))}</title>
<link rel="stylesheet" href="{BASE}/citizen.css">
</head>
<body>
<a class="skip" href="#main">{_e(t("skip"))}</a>
<header>
<p class="site"><a href="{BASE}">{_e(t("site"))}</a></p>
<nav aria-label="{_e(t("language"))}"><ul class="languages">{switch}</ul></nav>
{account}
</header>
<main id="main">
{content}
</main>
</body>
</html>
"""


def _alert(message: str | None) -> str:
    return f'<p class="alert" role="alert">{_e(message)}</p>' if message else ""


def sign_in_page(chrome: Chrome, *, message: str | None = None, sign_in_enabled: bool = True) -> str:
    t = chrome.t
    action = (
        f'<p><a class="button" id="sign-in" href="{BASE}/signin">{_e(t("sign_in"))}</a></p>'
        if sign_in_enabled
        else f"<p>{_e(t('sign_in_unavailable'))}</p>"
    )
    content = f"""<h1>{_e(t("sign_in_title"))}</h1>
{_alert(message)}
<p>{_e(t("sign_in_intro"))}</p>
{action}
<section aria-labelledby="no-eid">
<h2 id="no-eid">{_e(t("no_eid_title"))}</h2>
<p>{_e(t("no_eid_intro"))}</p>
{_track_form(t)}
</section>"""
    return page(chrome, t("sign_in_title"), content)


def _track_form(t: Translator, code: str = "") -> str:
    return f"""<form id="track" method="post" action="{BASE}/track">
<p><label for="track-code">{_e(t("dossier_code"))}</label>
<input id="track-code" name="code" required maxlength="40" autocomplete="off" value="{_e(code)}"></p>
<p><label for="track-secret">{_e(t("tracking_secret"))}</label>
<input id="track-secret" name="tracking_secret" type="password" required maxlength="200"
 autocomplete="off"></p>
<p><button type="submit">{_e(t("track"))}</button></p>
</form>"""


def tracked_page(chrome: Chrome, found: DossierSummary | None, code: str) -> str:
    """What a tracking code shows: status and appointment date, as intake's API shows it."""
    t = chrome.t
    if found is None:
        content = f"""<h1>{_e(t("no_eid_title"))}</h1>
{_alert(t("track_not_found"))}
{_track_form(t, code)}"""
        return page(chrome, t("no_eid_title"), content)
    title = t("track_title", code=found.code)
    content = f"""<h1>{_e(title)}</h1>
{_summary_list(t, found)}
<p>{_e(t("track_hint"))}</p>
<p><a class="button" href="{BASE}/signin">{_e(t("sign_in"))}</a></p>"""
    return page(chrome, title, content)


def _summary_list(t: Translator, dossier: DossierSummary) -> str:
    return f"""<dl class="facts">
<dt>{_e(t("procedure"))}</dt><dd>{_name(t, dossier.procedure_name, dossier.procedure_code)}</dd>
<dt>{_e(t("status"))}</dt><dd class="status">{_e(t.status(dossier.status))}</dd>
<dt>{_e(t("submitted_at"))}</dt><dd>{_e(t.datetime(dossier.submitted_at))}</dd>
<dt>{_e(t("appointment_date"))}</dt><dd>{_e(t.date(dossier.appointment_date))}</dd>
</dl>"""


def list_page(chrome: Chrome, dossiers: list[DossierSummary], *, limit: int) -> str:
    t = chrome.t
    if not dossiers:
        table = f'<p id="no-dossiers">{_e(t("no_dossiers"))}</p>'
    else:
        rows = "\n".join(
            f"""<tr data-code="{_e(d.code)}">
<th scope="row"><a href="{BASE}/dossiers/{_e(d.code)}">{_e(d.code)}</a></th>
<td>{_name(t, d.procedure_name, d.procedure_code)}</td>
<td>{_e(t.datetime(d.submitted_at))}</td>
<td>{_e(t.date(d.appointment_date))}</td>
<td>{_e(t.status(d.status))}</td>
</tr>"""
            for d in dossiers
        )
        more = f"<p>{_e(t('more_dossiers', count=limit))}</p>" if len(dossiers) >= limit else ""
        table = f"""<table id="dossiers">
<caption>{_e(t("my_dossiers_caption"))}</caption>
<thead><tr><th scope="col">{_e(t("dossier_code"))}</th><th scope="col">{_e(t("procedure"))}</th>
<th scope="col">{_e(t("submitted_at"))}</th><th scope="col">{_e(t("appointment_date"))}</th>
<th scope="col">{_e(t("status"))}</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
{more}"""
    return page(chrome, t("my_dossiers"), f"<h1>{_e(t('my_dossiers'))}</h1>\n{table}")


def not_found_page(chrome: Chrome, code: str) -> str:
    t = chrome.t
    content = f"""<h1>{_e(t("not_found_title"))}</h1>
<p>{_e(t("not_found", code=code))}</p>
<p><a href="{BASE}">{_e(t("all_dossiers"))}</a></p>"""
    return page(chrome, t("not_found_title"), content)


def forbidden_page(chrome: Chrome) -> str:
    t = chrome.t
    content = f"""<h1>{_e(t("site"))}</h1>
{_alert(t("forbidden"))}
<p><a href="{BASE}">{_e(t("all_dossiers"))}</a></p>"""
    return page(chrome, t("site"), content)


def dossier_page(chrome: Chrome, dossier: DossierDetail, *, message: str | None = None) -> str:
    t = chrome.t
    own = dossier.summary
    title = t("dossier_title", code=own.code)
    sections = [
        f'<p><a href="{BASE}">{_e(t("all_dossiers"))}</a></p>',
        f"<h1>{_e(title)}</h1>",
        _alert(message),
        _facts(t, dossier),
        _steps(t, dossier),
        _fees(chrome, dossier),
        _results(t, dossier),
        _notifications(t, dossier),
        _history(t, dossier),
    ]
    return page(chrome, title, "\n".join(section for section in sections if section))


def _facts(t: Translator, dossier: DossierDetail) -> str:
    own = dossier.summary
    due = _e(t.date(dossier.due_date))
    if dossier.deadline_provisional:
        due += f" <small>{_e(t('provisional'))}</small>"
    if dossier.original_due_date is not None:
        due += f" <small>{_e(t('original_due_date', date=t.date(dossier.original_due_date)))}</small>"
    facts = [
        (t("procedure"), _name(t, own.procedure_name, own.procedure_code)),
        (t("status"), f'<span class="status">{_e(t.status(dossier.status))}</span>'),
        (t("submitted_at"), _e(t.datetime(own.submitted_at))),
        (t("appointment_date"), _e(t.date(own.appointment_date))),
        (t("due_date"), due),
    ]
    if dossier.agency_name:
        facts.append((t("agency"), _name(t, dossier.agency_name, "")))
    items = "\n".join(f"<dt>{_e(term)}</dt><dd>{value}</dd>" for term, value in facts)
    notes = []
    if dossier.processing == "not_yet":
        notes.append(f'<p class="note">{_e(t("not_routed"))}</p>')
    elif dossier.processing == "unavailable":
        notes.append(f'<p class="notice" role="status">{_e(t("routing_unavailable"))}</p>')
    if dossier.overdue:
        notes.append(f'<p class="notice">{_e(t("overdue"))}</p>')
    if dossier.paused_since is not None:
        notes.append(f'<p class="note">{_e(t("paused", date=t.datetime(dossier.paused_since)))}</p>')
    if dossier.rejection_reasons:
        reasons = "".join(f"<li>{_e(reason)}</li>" for reason in dossier.rejection_reasons)
        notes.append(
            f'<section aria-labelledby="reasons"><h2 id="reasons">{_e(t("rejection_reasons"))}</h2>'
            f"<ul>{reasons}</ul></section>"
        )
    return f'<dl class="facts" id="facts">\n{items}\n</dl>\n' + "\n".join(notes)


def _section(key: str, t: Translator, body: str) -> str:
    heading = f'<h2 id="{key}-title">{_e(t(key))}</h2>'
    return f'<section id="{key}" aria-labelledby="{key}-title">\n{heading}\n{body}\n</section>'


def _table(caption: str, headers: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f'<th scope="col">{_e(header)}</th>' for header in headers)
    return (
        f'<table><caption class="visually-hidden">{_e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def _steps(t: Translator, dossier: DossierDetail) -> str:
    if dossier.processing != "ok":
        return ""
    if not dossier.steps:
        return _section("steps", t, f"<p>{_e(t('no_steps'))}</p>")
    rows = (
        f'<tr><th scope="row">{_name(t, step.name, step.step)}</th>'
        f"<td>{_name(t, step.agency_name, t('none'))}</td>"
        f'<td class="status">{_e(t.step_status(step.status))}</td>'
        f"<td>{_e(t.date(step.supplement_due_date))}</td>"
        f"<td>{_e(t.datetime(step.updated_at))}</td></tr>"
        for step in dossier.steps
    )
    headers = (t("step"), t("agency"), t("step_status"), t("supplement_due"), t("updated_at"))
    return _section("steps", t, _table(t("steps"), headers, rows))


def _fees(chrome: Chrome, dossier: DossierDetail) -> str:
    t = chrome.t
    if dossier.fees == "none":
        return _section("fees", t, f"<p>{_e(t('no_fees'))}</p>")
    if dossier.fees == "unavailable" or dossier.payment is None:
        return _section("fees", t, f'<p class="notice" role="status">{_e(t("fees_unavailable"))}</p>')
    return _section("fees", t, _payment(chrome, dossier.summary.code, dossier.payment))


def _payment(chrome: Chrome, code: str, payment: PaymentView) -> str:
    t = chrome.t
    rows = [
        f'<tr><th scope="row">{_name(t, line.step_name, line.step)}'
        f" <small>({_name(t, line.agency_name, line.agency_code)})</small></th>"
        f'<td class="amount">{_e(t.vnd(line.fee_vnd))}</td></tr>'
        for line in payment.fees
    ]
    rows.append(
        f'<tr class="total"><th scope="row">{_e(t("fee_total"))}</th>'
        f'<td class="amount">{_e(t.vnd(payment.amount_vnd))}</td></tr>'
    )
    parts = [
        _table(t("fees"), (t("fee_item"), t("fee_amount")), rows),
        f'<p>{_e(t("payment_state"))}: <strong class="payment-state">{_e(t.payment_state(payment.state))}'
        "</strong></p>",
    ]
    if payment.pay_url is not None and payment.state in {"awaiting_payment", "pending"}:
        parts.append(
            f'<p><a class="button" id="pay-link" href="{_e(payment.pay_url)}" rel="noopener noreferrer">'
            f"{_e(t('pay'))}</a></p>"
        )
    elif payment.payable and chrome.csrf_token is not None:
        # Opening the payment is a change (intake asks the payment platform): a form with the CSRF token.
        parts.append(
            f'<form id="pay" method="post" action="{BASE}/dossiers/{_e(code)}/pay">'
            f'<input type="hidden" name="csrf_token" value="{_e(chrome.csrf_token)}">'
            f'<button type="submit">{_e(t("pay"))}</button></form>'
        )
    if payment.receipt is not None:
        receipt = payment.receipt
        parts.append(
            '<p class="receipt">'
            + _e(
                t(
                    "receipt",
                    number=receipt.number,
                    amount=t.vnd(receipt.amount_vnd),
                    at=t.datetime(receipt.issued_at),
                )
            )
            + "</p>"
        )
    if payment.refund is not None:
        refund = payment.refund
        parts.append(
            '<p class="refund">'
            + _e(
                t(
                    "refund",
                    amount=t.vnd(refund.amount_vnd),
                    reference=refund.reference,
                    at=t.datetime(refund.refunded_at),
                    reason=refund.reason,
                )
            )
            + "</p>"
        )
    return "\n".join(parts)


def _results(t: Translator, dossier: DossierDetail) -> str:
    if dossier.processing != "ok":
        return ""
    results = dossier.results
    if not results:
        return _section("results", t, f"<p>{_e(t('no_results'))}</p>")
    items = "\n".join(
        f'<li><a href="{_e(link.url)}" rel="noopener noreferrer">{_e(link.name)}</a>'
        f" <small>({_name(t, step.name, step.step)})</small>"
        + (
            f'<br><small class="checksum">{_e(t("checksum", sha256=link.sha256))}</small>'
            if link.sha256
            else ""
        )
        + "</li>"
        for step, link in results
    )
    return _section("results", t, f'<ul class="results">\n{items}\n</ul>')


def _notifications(t: Translator, dossier: DossierDetail) -> str:
    if dossier.notifications is None:
        return _section(
            "notifications", t, f'<p class="notice" role="status">{_e(t("notifications_unavailable"))}</p>'
        )
    if not dossier.notifications:
        return _section("notifications", t, f"<p>{_e(t('no_notifications'))}</p>")
    rows = (
        f'<tr><th scope="row">{_e(item.subject)}</th><td>{_e(t.channel(item.channel))}</td>'
        f"<td>{_e(item.recipient)}</td><td>{_e(t.delivery(item.status))}</td>"
        f"<td>{_e(t.datetime(item.at))}</td></tr>"
        for item in dossier.notifications
    )
    headers = (t("subject"), t("channel"), t("recipient"), t("delivery"), t("sent_at"))
    return _section("notifications", t, _table(t("notifications"), headers, rows))


def _history(t: Translator, dossier: DossierDetail) -> str:
    if dossier.processing != "ok" or not dossier.history:
        return ""
    rows = (
        f"<tr><td>{_e(t.datetime(entry.at))}</td>"
        f"<td>{_e(t.status(entry.status) if entry.event == 'status-changed' else t.event(entry.event))}</td>"
        f"<td>{_name(t, entry.agency_name, t('none'))}</td><td>{_e(entry.note or t('none'))}</td></tr>"
        for entry in dossier.history
    )
    headers = (t("at"), t("status"), t("agency"), t("note"))
    return _section("history", t, _table(t("history"), headers, rows))
