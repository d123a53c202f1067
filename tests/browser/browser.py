"""What the browser tests do with a page: open it, read it, fill forms, check it with axe-core, keep a screenshot."""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium.common.exceptions import WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    mobile: bool


VIEWPORTS = {"desktop": Viewport(1280, 900, mobile=False), "phone": Viewport(390, 844, mobile=True)}

#: axe-core impacts that fail a page.
FAILING_IMPACTS = ("serious", "critical")


def missing_tools() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return (
            "Debian's chromium and chromium-driver are not installed "
            "(scripts/test.sh installs them: apt-get install chromium chromium-driver)"
        )
    if not AXE.exists():
        return "axe-core is not installed (scripts/test.sh installs it: cd tests/browser && npm ci)"
    return ""


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def literal(text: str) -> str:
    """`text` as an XPath string literal (XPath 1.0 has no escapes: quotes are joined with concat())."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation and the elements it was found on."""
    lines = []
    for violation in violations:
        targets = "; ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} -- at {targets}")
    return "\n".join(lines)


class Browser:
    """The module's chromium at one viewport, for one test: screenshots are named after the test."""

    def __init__(self, driver: Chrome, base_url: str, viewport_name: str, artifacts: Path, test_name: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self.viewport_name = viewport_name
        self.artifacts = artifacts
        self.test_name = test_name
        self.shot_count = 0
        viewport = VIEWPORTS[viewport_name]
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": viewport.width,
                "height": viewport.height,
                "deviceScaleFactor": 1,
                "mobile": viewport.mobile,
            },
        )
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": viewport.mobile})

    # Getting around

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def wait_for_next_page(self, action: Any) -> None:
        """Do something that loads a new page (a click, a submit) and wait until it has."""
        # A mark on the old page's window, gone once another page has loaded. (Waiting for the old
        # <html> to go stale instead can meet chromedriver mid-navigation with an "unknown error".)
        self.driver.execute_script("window.oldPage = true")
        action()

        def loaded(driver: Chrome) -> bool:
            try:
                return driver.execute_script("return !window.oldPage && document.readyState === 'complete'")
            except WebDriverException:  # the page is being replaced
                return False

        WebDriverWait(self.driver, 15, poll_frequency=0.05).until(loaded, f"no new page loaded on {self.path}")

    def click(self, element: WebElement) -> None:
        """Click a link or button that opens another page."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        self.wait_for_next_page(element.click)

    def follow(self, link_text: str, within: WebElement | None = None) -> None:
        """Follow the (first visible) link with exactly this text."""
        scope = within or self.main
        links = [a for a in scope.find_elements(By.LINK_TEXT, link_text) if a.is_displayed()]
        assert links, f"no visible link {link_text!r} on {self.path}"
        self.click(links[0])

    def press(self, button_text: str, within: WebElement | None = None) -> None:
        """Press the (first visible) button with this text, which submits its form."""
        scope = within or self.driver
        buttons = [
            b
            for b in scope.find_elements(By.XPATH, f".//button[normalize-space()={literal(button_text)}]")
            if b.is_displayed()
        ]
        assert buttons, f"no visible button {button_text!r} on {self.path}"
        self.click(buttons[0])

    # Reading

    @property
    def main(self) -> WebElement:
        return self.driver.find_element(By.ID, "main")

    @property
    def nav(self) -> WebElement:
        """The site's navigation in the page header."""
        return self.driver.find_element(By.CSS_SELECTOR, "header nav")

    @property
    def text(self) -> str:
        """The visible text of the page's main content, whitespace collapsed."""
        return re.sub(r"\s+", " ", self.main.text)

    @property
    def heading(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "h1").text

    def fact(self, term: str, within: WebElement | None = None) -> str:
        """The visible value beside a <dt> term in a facts list."""
        found = (within or self.main).find_elements(By.XPATH, f".//dt[normalize-space()={literal(term)}]")
        assert found, f"no fact {term!r} on {self.path}"
        return found[0].find_element(By.XPATH, "following-sibling::dd[1]").text.strip()

    def table_rows(self, caption_heading: str) -> list[list[str]]:
        """The cells of the first table after the <h2> with this text."""
        table = self.main.find_element(
            By.XPATH, f".//h2[normalize-space()={literal(caption_heading)}]/following::table[1]"
        )
        return [
            [cell.text.strip() for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        ]

    # Forms

    def field(self, label: str, within: WebElement | None = None) -> WebElement:
        """The form control labelled (exactly) with this text."""
        found = self._labels(label, within)
        assert found, f"no field labelled {label!r} on {self.path}"
        return self.driver.find_element(By.ID, found[0].get_attribute("for"))

    def _labels(self, text: str, within: WebElement | None) -> list[WebElement]:
        return (within or self.main).find_elements(By.XPATH, f".//label[normalize-space()={literal(text)}]")

    def field_group(self, legend: str) -> WebElement:
        """The fieldset with this legend (a group of radio buttons or checkboxes)."""
        found = self.main.find_elements(By.XPATH, f".//fieldset[legend[normalize-space()={literal(legend)}]]")
        assert found, f"no group {legend!r} on {self.path}"
        return found[0]

    def fill(self, label: str, value: str, within: WebElement | None = None) -> None:
        element = self.field(label, within)
        element.clear()
        element.send_keys(value)

    def set_value(self, label: str, value: str) -> None:
        """Set a date or date-time input (typing into them depends on the browser's locale)."""
        element = self.field(label)
        assert element.get_attribute("type") in ("date", "datetime-local"), element.get_attribute("type")
        self.driver.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
            "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
            element,
            value,
        )
        assert element.get_attribute("value") == value

    def choose(self, label: str, option_text: str) -> None:
        Select(self.field(label)).select_by_visible_text(option_text)

    def tick(self, label: str, within: WebElement | None = None) -> None:
        """Tick a checkbox or radio button by clicking its label, as a person would."""
        for element in self._labels(label, within):
            if element.is_displayed():
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
                element.click()
                control = self.driver.find_element(By.ID, element.get_attribute("for"))
                assert control.is_selected(), f"{label!r} did not get ticked"
                return
        raise AssertionError(f"no visible checkbox or radio labelled {label!r} on {self.path}")

    def sign_in(self, email: str, password: str = PASSWORD, check_page: str | None = None) -> None:
        """Sign in through the real form, from the header link (checking the form page if named)."""
        self.follow("Sign in", within=self.nav)
        if check_page:
            self.check(check_page)
        self.fill("Email address", email)
        self.fill("Password", password)
        self.press("Sign in", within=self.main)
        assert "Sign in" not in self.heading, self.text

    def sign_out(self) -> None:
        self.press("Sign out", within=self.nav)
        assert self.driver.find_elements(By.LINK_TEXT, "Sign in"), "still signed in"

    # Checks and artifacts

    def check(self, page_name: str) -> None:
        """Keep a screenshot of the page, then check it with axe-core: no serious or critical violations."""
        self.screenshot(page_name)
        violations = self.axe()
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        if violations:
            report = self.artifacts / f"{self._shot_stem(page_name)}.axe.json"
            report.write_text(json.dumps(violations, indent=2), encoding="utf-8")
        width, overflow = self.driver.execute_script(
            "const root = document.documentElement; return [window.innerWidth, root.scrollWidth - root.clientWidth];"
        )
        assert width == VIEWPORTS[self.viewport_name].width, f"the page is laid out {width}px wide"
        assert overflow <= 0, f"{page_name} ({self.path}) is {overflow}px wider than the {self.viewport_name} screen"
        assert not failing, (
            f"axe-core found serious or critical accessibility problems on {page_name} ({self.path}, "
            f"{self.viewport_name}):\n{describe_violations(failing)}"
        )

    def inline_script_runs(self) -> bool:
        """Whether the page lets an inline <script> run (its Content-Security-Policy should not)."""
        self.driver.execute_script(
            "const script = document.createElement('script');"
            "script.textContent = 'window.inlineScriptRan = true';"
            "document.head.append(script);"
        )
        return self.driver.execute_script("return window.inlineScriptRan === true")

    def axe(self) -> list[dict[str, Any]]:
        """Run axe-core in the page (injected through WebDriver, which the page's CSP does not govern)."""
        if not self.driver.execute_script("return typeof window.axe === 'object'"):
            self.driver.execute_script(axe_source())
        outcome = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            "  .then(results => done({violations: results.violations}))"
            "  .catch(error => done({error: String(error)}));"
        )
        assert "error" not in outcome, f"axe-core failed on {self.path}: {outcome['error']}"
        return [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "helpUrl": v["helpUrl"],
                "nodes": [{"target": n["target"], "html": n["html"]} for n in v["nodes"]],
            }
            for v in outcome["violations"]
        ]

    def _shot_stem(self, page_name: str) -> str:
        return f"{self.test_name}-{self.viewport_name}-{self.shot_count:02d}-{page_name}"

    def screenshot(self, page_name: str) -> Path:
        """Save the whole page (not just the viewport) as a PNG."""
        self.shot_count += 1
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        width = VIEWPORTS[self.viewport_name].width
        clip = {"x": 0, "y": 0, "width": width, "height": max(size["height"], 1), "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}
        )
        path = self.artifacts / f"{self._shot_stem(page_name)}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
