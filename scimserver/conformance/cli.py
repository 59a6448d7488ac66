"""``scimserver check URL --token T``: run the conformance suite against any SCIM server."""

from __future__ import annotations

import sys

import click

from . import report as reports
from .runner import run


@click.command(
    "check",
    help=(
        "Run the SCIM 2.0 conformance suite against the service at URL (its SCIM base URL, "
        "e.g. https://host/scim/v2). Creates uniquely named users and groups and deletes "
        "them at the end. Exit code 0 only when no check failed."
    ),
)
@click.argument("url")
@click.option("--token", required=True, envvar="SCIM_TOKEN", help="Bearer token (or $SCIM_TOKEN).")
@click.option(
    "--profile",
    type=click.Choice(["all", "rfc", "okta", "entra"]),
    default="all",
    show_default=True,
    help="rfc: RFC checks only; okta/entra: RFC checks plus that IdP's lifecycle.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write JUnit XML.")
@click.option(
    "--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write a Markdown table."
)
@click.option("--only", multiple=True, help="Run only checks with this id or id prefix.")
@click.option("--timeout", default=20.0, show_default=True, help="Per-request timeout (s).")
@click.option("-v", "--verbose", is_flag=True, help="Also list the reasons of skipped checks.")
def check(
    url: str,
    token: str,
    profile: str,
    json_path: str | None,
    junit_path: str | None,
    markdown_path: str | None,
    only: tuple[str, ...],
    timeout: float,
    verbose: bool,
) -> None:
    try:
        result = run(url, token, profile, timeout=timeout, only=list(only) or None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(reports.console(result, verbose=verbose))
    if json_path:
        reports.write(json_path, reports.to_json(result))
    if junit_path:
        reports.write(junit_path, reports.to_junit(result))
    if markdown_path:
        reports.write(markdown_path, reports.to_markdown(result))
    sys.exit(0 if result.ok else 1)
