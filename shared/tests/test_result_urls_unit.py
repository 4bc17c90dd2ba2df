"""Result links: https only, on a host name the agency registered, exactly."""

from __future__ import annotations

import pytest

from dossierbus_shared.result_urls import checked_domain, https_host, result_url_problem

DOMAINS = {"tuphap.hanoi.gov.vn"}
IDNA = "xn--tphp-7na35j.vn"  # tưpháp.vn


def test_an_https_url_on_a_registered_host_is_allowed() -> None:
    assert result_url_problem("https://tuphap.hanoi.gov.vn/kq/1.pdf", DOMAINS) is None
    assert result_url_problem("HTTPS://TuPhap.Hanoi.gov.vn:443/kq/1.pdf", DOMAINS) is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript://tuphap.hanoi.gov.vn/%0aalert(1)",
        "http://tuphap.hanoi.gov.vn/kq/1.pdf",
        "data:text/html,<script>alert(1)</script>",
        "//tuphap.hanoi.gov.vn/kq/1.pdf",
        "https://tuphap.hanoi.gov.vn\n.evil.example/kq",
        " https://tuphap.hanoi.gov.vn/kq/1.pdf",
        "https://tuphap.hanoi.gov.vn:8443/kq/1.pdf",
        "https://tuphap.hanoi.gov.vn:99999/kq/1.pdf",
        "https://[::1/",
    ],
)
def test_anything_but_a_plain_https_url_is_refused(url: str) -> None:
    problem = result_url_problem(url, DOMAINS)

    assert problem is not None and "is not an https URL" in problem


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/kq/1.pdf",
        "https://tuphap.hanoi.gov.vn.evil.example/kq/1.pdf",
        "https://x.tuphap.hanoi.gov.vn/kq/1.pdf",  # no wildcard: a sub-domain is another host
    ],
)
def test_an_https_url_on_another_host_is_refused(url: str) -> None:
    problem = result_url_problem(url, DOMAINS)

    assert problem is not None and "is not on a domain the agency registered (tuphap.hanoi.gov.vn)" in problem


@pytest.mark.parametrize(
    "url", ["https://user:pw@tuphap.hanoi.gov.vn/kq", "https://tuphap.hanoi.gov.vn@evil.example/kq/1.pdf"]
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    assert https_host(url) is None


def test_an_agency_with_no_registered_domain_may_link_to_nothing() -> None:
    problem = result_url_problem("https://tuphap.hanoi.gov.vn/kq/1.pdf", set())

    assert problem is not None and "(none)" in problem


def test_host_names_are_kept_in_lower_case_ascii() -> None:
    assert checked_domain("TuPhap.HaNoi.gov.vn.") == "tuphap.hanoi.gov.vn"
    assert checked_domain("tưpháp.vn") == IDNA


@pytest.mark.parametrize(
    "domain", ["https://tuphap.hanoi.gov.vn", "tuphap.hanoi.gov.vn/kq", "localhost", "a b.vn", "*.gov.vn", ""]
)
def test_what_is_not_a_host_name_is_refused(domain: str) -> None:
    with pytest.raises(ValueError, match="host name"):
        checked_domain(domain)
