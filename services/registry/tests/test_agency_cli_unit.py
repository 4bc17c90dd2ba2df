"""`dossierbus-registry agency`: the result domains an operator gives reach the registry's request."""

from __future__ import annotations

import argparse

from dossierbus_registry import agency_cli


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    agency_cli.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_onboarding_carries_the_result_domains() -> None:
    args = parsed(
        "agency", "add", "--code", "justice-hue", "--identifier", "000.00.03.H46", "--name-vi", "Sở Tư pháp",
        "--sector", "justice", "--result-domain", "ketqua.tuphap.hue.gov.vn",
        "--result-domain", "b.hue.gov.vn",
    )  # fmt: skip

    assert agency_cli._onboarding(args)["result_domains"] == ["ketqua.tuphap.hue.gov.vn", "b.hue.gov.vn"]


def test_the_domains_command_names_the_agency_and_its_hosts() -> None:
    args = parsed("agency", "domains", "--code", "justice-hue", "--result-domain", "a.hue.gov.vn")

    assert (args.action, args.code, args.result_domain) == ("domains", "justice-hue", ["a.hue.gov.vn"])
    assert parsed("agency", "domains", "--code", "justice-hue").result_domain == []  # clears the list
