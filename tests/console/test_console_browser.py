"""The console in a real browser: Debian's chromium and chromedriver (`make browser`) driven by
Selenium, one browser for the module, explicit waits on elements (no sleeps).

Screenshots of each page go to $TAWA_CONSOLE_SCREENSHOTS when set (`make screenshots` sets
docs/console), else to the test's temporary directory."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tawa.defaults import INTRO_GRANT
from tawa.devcluster.processes import wait_until
from tests.console.conftest import World, make_org
from tests.console.test_console_components import ComponentsWorld, components_world  # noqa: F401 (a fixture)
from tests.console.test_console_usage import spend
from tests.fixtures.janus import TEST_ENV, RecordingUpstream, component_doc, start_janus

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DESKTOP, PHONE = (1280, 900), (390, 844)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    assert not missing, f"{' and '.join(missing)} missing: run `make browser` (Debian's chromium, chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("TAWA_CONSOLE_SCREENSHOTS") or tmp_path)


class Page:
    """The browser at the console, with the waits every step uses."""

    def __init__(self, driver: Any, world: World, shots: Path) -> None:
        self.d, self.world, self.shots = driver, world, shots
        # A form's answer replaces the page: an element read while it loads is stale, not wrong.
        self.wait = WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,))
        driver.set_window_size(*DESKTOP)
        driver.delete_all_cookies()

    def open(self, path: str, until_id: str) -> None:
        self.d.get(self.world.console.url + path)
        self.present(until_id)

    def present(self, element_id: str) -> Any:
        return self.wait.until(lambda d: d.find_element(By.ID, element_id))

    def text_is(self, css: str, text: str) -> None:
        self.wait.until(lambda d: any(e.text == text for e in d.find_elements(By.CSS_SELECTOR, css)))

    def login(self, key: str) -> None:
        self.open("/login", "key")
        self.d.find_element(By.ID, "key").send_keys(key)
        self.d.find_element(By.CSS_SELECTOR, "form button").click()
        self.present("purchased")

    def logout(self) -> None:
        self.d.find_element(By.CSS_SELECTOR, "nav form button").click()
        self.present("key")

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(self.shots / f"{name}.png"))


@pytest.fixture
def page(browser: Any, world: World, shots: Path) -> Page:
    return Page(browser, world, shots)


def test_log_in_and_read_the_balances(page: Page) -> None:
    page.open("/login", "key")
    page.shot("login")
    page.login(page.world.a.owner)
    page.text_is("#purchased strong", "12,345")
    page.text_is("#intro strong", f"{page.world.wallet.client.get_wallet(page.world.a.name).balances.intro:,}")
    page.shot("wallet")


def test_buy_a_preset_and_a_custom_amount_and_see_the_ledger(page: Page) -> None:
    page.login(page.world.b.owner)
    page.d.find_element(By.CSS_SELECTOR, 'button[value="10000"]').click()
    page.text_is("#purchased strong", "77,890")
    page.text_is('td[data-label="Amount"]', "10,000")
    page.d.find_element(By.ID, "custom").send_keys("1,234")
    page.d.find_element(By.CSS_SELECTOR, "#custom + button").click()
    page.text_is("#purchased strong", "79,124")
    page.text_is('td[data-label="Amount"]', "1,234")
    assert page.world.wallet.client.get_wallet(page.world.b.name).balances.purchased == 79_124
    page.shot("wallet-after-buying")
    page.d.set_window_size(*PHONE)
    page.present("purchased")
    page.shot("wallet-phone")


def test_a_viewer_sees_the_buy_buttons_disabled_with_the_reason(page: Page) -> None:
    page.login(page.world.a.viewer)
    reason = page.present("buy-reason")
    assert reason.text == "Only an owner key may buy tokens: you are signed in with a viewer key."
    buttons = page.d.find_elements(By.CSS_SELECTOR, "form.buy button")
    assert len(buttons) == 5 and not any(b.is_enabled() for b in buttons)
    page.shot("wallet-viewer")


def test_create_a_key_then_revoke_it_and_its_session_ends(page: Page) -> None:
    page.login(page.world.a.owner)
    page.open("/keys", "name")
    page.d.find_element(By.ID, "name").send_keys("browser test")
    page.d.find_element(By.CSS_SELECTOR, "#role option[value=owner]").click()
    page.d.find_element(By.CSS_SELECTOR, "form.card button").click()
    secret = page.present("new-key").text
    assert secret.startswith("twk_")
    page.shot("key-created")
    page.logout()
    page.login(secret)  # the new key's own session
    page.open("/grants", "grant")
    page.shot("grants")
    page.open("/keys", "name")
    page.shot("keys")
    page.d.find_element(By.CSS_SELECTOR, f'button[value="{secret.split("_")[1]}"]').click()
    page.present("key")  # back at the login form: the session of the revoked key ended
    page.open("/wallet", "key")  # and stays ended
    assert page.d.current_url.endswith("/login")


def test_usage_filtered_by_a_service_shows_its_total(page: Page) -> None:
    org = make_org(page.world.wallet, "usage", 10_000)
    spend(page.world, org, page.world.b.name)
    page.login(org.owner)
    page.open("/usage", "service")
    page.text_is("#total-tokens strong", "202")
    page.d.find_element(By.ID, "service").send_keys("quoting")
    page.d.find_element(By.CSS_SELECTOR, "form.filters button").click()
    page.text_is("#total-tokens strong", "155")  # 30 + 20 + 5 in calls, 100 in hosting
    page.text_is("#total-calls strong", "3")
    page.shot("usage")


def test_components_page_shows_the_blocked_gate_and_its_fix(browser: Any, components_world: ComponentsWorld,
                                                            shots: Path) -> None:
    page = Page(browser, components_world, shots)
    page.login(components_world.a.owner)
    page.d.find_element(By.LINK_TEXT, "Components").click()
    section = page.present("components")
    assert "closed: InsufficientReserve" in section.text
    assert components_world.blocked_message in section.text and "secret-sauce" not in section.text
    page.shot("components")


def test_a_bill_grant_added_in_the_browser_is_honoured_by_janus(page: Page, tmp_path: Path) -> None:
    """Org A lets org C's `app` bill it with X-Bill-Org: refused by Janus before, paid by A after."""
    world = page.world
    caller, provider = make_org(world.wallet, "caller", 1_000), f"provider-{uuid.uuid4().hex[:6]}"
    world.wallet.client.create_wallet(provider)  # earns what the call costs
    upstream = RecordingUpstream().start()
    priced = [{"path": "/quotes", "methods": ["POST"], "auth": "service", "gas": 7}]
    janus = start_janus(tmp_path / "janus", world.wallet.url, world.wallet.janus_token,
                        [component_doc("quoter", provider, upstream.url, priced, namespace="quoter-prod")],
                        TEST_ENV)
    try:
        headers = {**janus.auth(caller.name, "app"), "X-Bill-Org": world.a.name}
        refused = httpx.post(janus.proxy("quoter", "/quotes"), headers=headers, timeout=30)
        assert refused.status_code == 403 and refused.json()["error"] == "BILL_ORG_NOT_GRANTED"
        page.login(world.a.owner)
        page.open("/grants", "grant")
        page.d.find_element(By.ID, "grant").send_keys(f"{caller.name}/app")
        page.d.find_element(By.CSS_SELECTOR, "form.card button").click()
        page.text_is("td", f"{caller.name}/app")
        page.shot("grants")
        before = world.wallet.client.get_wallet(world.a.name).total
        assert httpx.post(janus.proxy("quoter", "/quotes"), headers=headers, timeout=30).status_code == 200
        assert upstream.last.header("X-Caller-Org") == world.a.name
        wait_until(lambda: world.wallet.client.get_wallet(world.a.name).total == before - 7, "A pays the call", 30)
        assert world.wallet.client.get_wallet(caller.name).total == 1_000 + INTRO_GRANT  # C pays nothing
    finally:
        janus.kill()
        upstream.stop()
