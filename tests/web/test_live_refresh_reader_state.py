"""Live refresh in Chromium, what the reader is doing: a log read at its bottom follows the
lines that arrive, one scrolled up stays put, a field being typed in keeps its value, caret
and focus while the content round it changes, and focus on something that really goes away
lands on the region and is said out loud. The updater is the portal's own
(static/live_refresh.js), served by a real Baryon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import browser_page, create_user, require_browser, sign_in
from tests.support.bundles import Registry, env_bundle, tar_gz
from tests.support.processes import BaryonProcess, start_baryon
from tests.web.conftest import ROLE

USER, PASSWORD = "kim", "a long and tested passphrase"
SPEC = "proton: EnvironmentSpec\nspec:\n  size: small\n"
DEPLOYED_MS = 120_000  # a 40 s stack, on a machine shared with other tests


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaryonProcess]:
    require_browser()
    # Stacks take long enough that a deployment is still running while the page is read.
    process = start_baryon(
        Path(tmp_path_factory.mktemp("live-refresh-reader")),
        env={"BARYON_LOCAL_CLOUD_STACK_SECONDS": "40"},
    )
    try:
        create_user(process, USER, PASSWORD)
        proton = process.client("proton")
        registry = Registry(proton, process.client("s3"))
        proton.create_environment_template(name="network")
        version = registry.register("environment", "network", tar_gz(env_bundle()))
        registry.publish("environment", "network", version)
        yield process
    finally:
        process.stop()


def _deploy(server: BaryonProcess, name: str) -> str:
    """Starts creating environment `name`; the id of its deployment."""
    proton = server.client("proton")
    proton.create_environment(
        name=name,
        templateName="network",
        templateMajorVersion="1",
        protonServiceRoleArn=ROLE,
        spec=SPEC,
    )
    environment = proton.get_environment(name=name)["environment"]
    return str(environment["lastAttemptedDeploymentId"])


def _at_bottom(page: Any, selector: str) -> bool:
    return bool(
        page.evaluate(
            "s => { const e = document.querySelector(s);"
            " return e.scrollHeight - e.clientHeight - e.scrollTop <= 1; }",
            selector,
        )
    )


def test_a_log_read_at_its_bottom_follows_the_lines_that_arrive(server: BaryonProcess) -> None:
    deployment = _deploy(server, "follow")
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(f"{server.endpoint}/portal/deployments/{deployment}")
        assert page.get_attribute("#live", "data-active") == "true"
        page.wait_for_selector("#events li")
        # A log box a line high, so that every line that arrives would push the bottom out of
        # sight. (Through the stylesheet: the portal's CSP refuses inline styles.)
        page.evaluate(
            "document.styleSheets[0].insertRule("
            "'#events { max-height: 1.6em; padding: 0; margin: 0; }', 0)"
        )
        page.evaluate("document.querySelector('#events').__marked = 'yes'")
        page.evaluate("() => { const e = document.querySelector('#events'); e.scrollTop = 1e6; }")
        assert _at_bottom(page, "#events")
        lines = page.locator("#events li").count()

        page.wait_for_function(
            "n => document.querySelectorAll('#events li').length > n",
            arg=lines,
            timeout=DEPLOYED_MS,
        )
        page.wait_for_function(
            "document.querySelector('#live').dataset.active === 'false'", timeout=DEPLOYED_MS
        )

        assert page.evaluate("document.querySelector('#events').__marked") == "yes", "replaced"
        assert page.evaluate("document.querySelector('#events').scrollTop") > 0, "did not scroll"
        assert _at_bottom(page, "#events"), "the newest line is out of sight"


def test_focus_on_what_the_refresh_removes_goes_to_the_region_and_is_said(
    server: BaryonProcess,
) -> None:
    _deploy(server, "gone")
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.goto(server.endpoint + "/portal/environments/gone")
        assert page.get_attribute("#live", "data-active") == "true"
        page.focus("#cancel-deployment")  # only there while the deployment can be cancelled

        server.client("proton").cancel_environment_deployment(environmentName="gone")
        page.wait_for_selector("#cancel-deployment", state="detached", timeout=DEPLOYED_MS)

        assert page.evaluate("document.activeElement.id") == "live"
        assert page.get_attribute("#live", "tabindex") == "-1"
        said = page.text_content("#live-announcer") or ""
        assert "gone" in said, said
        # The next Tab goes on inside the region, not from the top of the page.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#live') !== null")


# The updater on its own, in a region of the test's making (with no data-live, so no refresh
# of the server's replaces it while the test works).
SANDBOX_JS = """
document.querySelector('main').insertAdjacentHTML('afterbegin', '<section id="sandbox"></section>');
"""


def _morph(page: Any, html: str) -> str:
    result = page.evaluate(
        "html => window.BaryonLiveRefresh.morph(document.getElementById('sandbox'), html)", html
    )
    return str(result)


def _form(round_: int, value: str) -> str:
    """The region as a server might render it, round `round_`: rows come before the fields
    (one more each round), and the fields' defaults change (the size among its choices)."""
    size = ("small", "large")[round_ % 2]
    rows = "".join(f"<p>Row {n} of round {round_}</p>" for n in range(round_))
    options = "".join(
        f'<option value="{v}"{" selected" if v == size else ""}>{v}</option>'
        for v in ("small", "large", "huge")
    )
    return (
        f'<section id="sandbox" data-round="{round_}"><h2>Round {round_}</h2>{rows}'
        f'<form><label>Note <input name="note" value="{value}"></label>'
        f'<label>Why <textarea name="why">{value}</textarea></label>'
        f'<label>Size <select name="size">{options}</select></label>'
        f'<label><input type="checkbox" name="skip"{" checked" if round_ % 2 else ""}> Skip</label>'
        "</form></section>"
    )


def test_a_field_being_typed_in_keeps_its_value_caret_and_focus(server: BaryonProcess) -> None:
    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.evaluate(SANDBOX_JS)
        assert _morph(page, _form(0, "small")) == "none"
        page.evaluate(
            "document.querySelectorAll('#sandbox input, #sandbox textarea, #sandbox select')"
            ".forEach((e, i) => { e.__marked = i; })"
        )
        page.select_option("#sandbox select", "huge")
        page.check("#sandbox input[type=checkbox]")
        page.fill("#sandbox textarea", "because")
        page.focus("#sandbox input[name=note]")
        page.keyboard.press("End")
        typed = "small"  # the value the page gave it
        for round_, word in enumerate(["one ", "two ", "three ", "four"], start=1):
            page.keyboard.type(word)
            typed += word
            assert _morph(page, _form(round_, f"server {round_}")) == "kept"
            assert page.text_content("#sandbox h2") == f"Round {round_}"  # the rest updated
            assert page.locator("#sandbox p").count() == round_
        page.keyboard.type("!")  # where the caret was: at the end of what was typed

        fields = page.evaluate(
            "[...document.querySelectorAll('#sandbox input, #sandbox textarea, #sandbox select')]"
            ".map(e => [e.__marked, e.type === 'checkbox' ? e.checked : e.value])"
        )
        assert fields == [[0, typed + "!"], [1, "because"], [2, "huge"], [3, True]]
        assert page.evaluate("document.activeElement.name") == "note"


def test_a_log_scrolled_up_stays_where_the_reader_left_it(server: BaryonProcess) -> None:
    def log(count: int) -> str:
        items = "".join(f"<li>line {n}</li>" for n in range(count))
        return f'<section id="sandbox"><ol class="log" id="log">{items}</ol></section>'

    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.evaluate(SANDBOX_JS)
        _morph(page, log(60))
        page.evaluate("document.getElementById('log').scrollTop = 40")
        for count in (61, 62, 80):
            _morph(page, log(count))
            assert page.evaluate("document.getElementById('log').scrollTop") == 40
        assert not _at_bottom(page, "#log")
        assert page.text_content("#log li:last-child") == "line 79"


def test_rows_reordered_round_the_focused_one_leave_it_focused(server: BaryonProcess) -> None:
    def rows(order: str) -> str:
        items = "".join(f'<li id="row-{n}"><button type="button">{n}</button></li>' for n in order)
        return f'<section id="sandbox"><ul id="rows">{items}</ul></section>'

    with browser_page() as page:
        sign_in(page, server, USER, PASSWORD)
        page.evaluate(SANDBOX_JS)
        _morph(page, rows("abcde"))
        page.focus("#row-c button")
        page.evaluate("document.activeElement.__marked = 'yes'")
        for order in ("edcba", "cabde", "bdeac", "abcde"):
            assert _morph(page, rows(order)) == "kept"
            shown = page.evaluate("[...document.querySelectorAll('#rows li')].map(e => e.id)")
            assert shown == [f"row-{n}" for n in order]
            assert page.evaluate("document.activeElement.__marked") == "yes"
