"""The district console end to end in headless Chromium, against the built epochfs.

Run by scripts/browser-test.sh, which creates the web user and passes, in the environment:
EPOCHFS (the binary, outside the checkout), EPOCHFS_CONFIG (naming the web user), STORE (a
store to create), WEB_USER and OUTPUT (where screenshots go).
"""
import base64
import http.client
import os
import pwd
import re
import socket
import stat
import subprocess
import sys
import time
import traceback
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

EPOCHFS = os.environ["EPOCHFS"]
STORE = os.environ["STORE"]
WEB_USER = os.environ["WEB_USER"]
OUTPUT = os.environ["OUTPUT"]
EMAIL = "admin@lincoln.example"
FIRST_PASSWORD = "first password 1234"
SECOND_PASSWORD = "second password 5678"

passed = []
failed = []


def check(name, condition, detail=""):
    (passed if condition else failed).append(name)
    print(f"{'ok  ' if condition else 'FAIL'} {name}{': ' + detail if detail and not condition else ''}", flush=True)
    return condition


def epochfs(*args):
    result = subprocess.run([EPOCHFS, *args, "--store", STORE], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"epochfs {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port):
    """`epochfs web serve` as the web user; returns (process, base URL)."""
    process = subprocess.Popen(
        ["setpriv", f"--reuid={WEB_USER}", f"--regid={WEB_USER}", "--clear-groups",
         EPOCHFS, "web", "serve", "--listen", f"127.0.0.1:{port}", "--store", STORE],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise RuntimeError("epochfs web serve did not say where it listens: " + process.stdout.read())


def request(base, method, path, cookies=None, form=None):
    """One request without following redirects: (status, headers, body)."""
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    result = (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode())
    connection.close()
    return result


def owned_by_web_user(directory):
    uid = pwd.getpwnam(WEB_USER).pw_uid
    problems = []
    for name in [""] + os.listdir(directory):
        path = os.path.join(directory, name)
        st = os.lstat(path)
        wanted = 0o700 if name == "" else 0o600
        if st.st_uid != uid or stat.S_IMODE(st.st_mode) != wanted:
            problems.append(f"{path}: uid {st.st_uid} mode {oct(stat.S_IMODE(st.st_mode))}")
    return problems


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    as_phone(driver)
    return driver


def as_phone(driver, phone=True):
    """A phone's screen (412 px wide, as a mid-size Android phone) or a desktop's."""
    width, height = (412, 915) if phone else (1280, 900)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone})


def screenshot(driver, name):
    """The whole page, not only what a phone's screen shows at once."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    with open(os.path.join(OUTPUT, name + ".png"), "wb") as file:
        file.write(base64.b64decode(shot["data"]))


def fill(driver, **fields):
    for name, value in fields.items():
        element = driver.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
            continue
        element.clear()
        element.send_keys(value)


def submit(driver, action):
    """Sends the form and waits for the page it leads to."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))


def labelled(driver):
    """Every visible input and select has a <label for> naming it."""
    labels = {label.get_attribute("for") for label in driver.find_elements(By.TAG_NAME, "label")}
    fields = [e for e in driver.find_elements(By.CSS_SELECTOR, "input, select") if e.get_attribute("type") != "hidden"]
    return all(field.get_attribute("id") in labels for field in fields)


def main():
    epochfs("district", "add", "lincoln", "--uid", "23456", "--gid", "23456")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The operator invites, as root, before the console ever ran: the last line is the link.
    output = epochfs("web", "invite", "lincoln", EMAIL, "--base-url", base)
    link = output.strip().splitlines()[-1]
    check("invite prints the link last", link.startswith(base + "/invitation/"), output)
    problems = owned_by_web_user(os.path.join(STORE, "web"))
    check("invite made the console's directory and database the web user's alone", not problems, "; ".join(problems))
    try:
        epochfs("web", "invite", "adams", "someone@adams.example")
        check("an invitation for a district that does not exist is refused", False)
    except RuntimeError as error:
        check("an invitation for a district that does not exist is refused", "no district 'adams'" in str(error), str(error))
    as_root = subprocess.run([EPOCHFS, "web", "serve", "--listen", f"127.0.0.1:{port}", "--store", STORE],
                             capture_output=True, text=True, timeout=30)
    check("web serve refuses to run as root", as_root.returncode != 0 and "never runs as root" in as_root.stderr, as_root.stderr)
    server, base = start_server(port)
    driver = None
    try:
        # Invited while the console has the database open: the WAL and shared-memory files
        # exist, and root must not have made or taken any of them.
        epochfs("web", "invite", "--staff", "staff@example.org")
        problems = owned_by_web_user(os.path.join(STORE, "web"))
        check("the console's files are the web user's alone after a root invite, WAL and SHM too", not problems, "; ".join(problems))
        check("the WAL and SHM are among them", all(os.path.exists(os.path.join(STORE, "web", "accounts.db" + suffix)) for suffix in ("-wal", "-shm")))

        status, headers, body = request(base, "GET", "/sign-in")
        policy = headers.get("content-security-policy", "")
        check("pages carry a strict content-security policy",
              "default-src 'none'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy, policy)
        status, _, missing = request(base, "GET", "/no/such/page")
        check("an unknown page is a 404 page", status == 404 and "Not found" in missing, str(status))
        check("pages have no script and load nothing from elsewhere",
              "<script" not in body and not re.search(r'(src|href)="(https?:)?//', body))

        driver = browser()
        driver.get(link)
        check("the invitation page names the account", EMAIL in driver.page_source and "district lincoln" in driver.page_source)
        check("the invitation page's fields are labelled", labelled(driver))
        screenshot(driver, "1-set-password")
        fill(driver, password=FIRST_PASSWORD, confirmation=FIRST_PASSWORD)
        submit(driver, urllib.parse.urlparse(link).path)
        check("setting the password leads to sign-in", driver.current_url.startswith(base + "/sign-in")
              and "Your password is set" in driver.page_source)

        driver.get(link)
        check("an invitation works once", "This link no longer works" in driver.page_source)
        screenshot(driver, "2-invitation-used")

        # A session id planted before sign-in must not become the session.
        driver.get(base + "/sign-in")
        driver.add_cookie({"name": "epochfs_session", "value": "planted-by-someone-else", "path": "/"})
        fill(driver, email=EMAIL, password="not the password")
        submit(driver, "/sign-in")
        check("a wrong password is refused", "not right" in driver.page_source)
        check("the sign-in page's fields are labelled", labelled(driver))
        screenshot(driver, "3-sign-in-refused")
        fill(driver, email=EMAIL, password=FIRST_PASSWORD)
        submit(driver, "/sign-in")
        check("signing in leads to the district's home", "District lincoln" in driver.page_source)
        screenshot(driver, "4-home")
        session = driver.get_cookie("epochfs_session")
        check("the session id is a new one, not the planted one", session and session["value"] != "planted-by-someone-else")
        check("the session cookie is HttpOnly and SameSite=Strict", session and session.get("httpOnly") and session.get("sameSite") == "Strict")
        first_session = session["value"]

        driver.get(driver.find_element(By.LINK_TEXT, "Your account").get_attribute("href"))
        rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
        check("the account page shows the sign-in and the refused one",
              len(rows) == 2 and "signed in" in rows[0] and "127.0.0.1" in rows[0] and "wrong password" in rows[1], repr(rows))
        check("sign-in times are shown in UTC", all(" UTC" in row for row in rows), repr(rows))
        check("the account page's fields are labelled", labelled(driver))
        fill(driver, zone="America/Chicago")
        submit(driver, "/account/time-zone")
        rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
        check("and in the account's time zone", "Time (America/Chicago)" in driver.page_source
              and all(re.search(r" C[SD]T\b", row) for row in rows), repr(rows))
        screenshot(driver, "5-account")
        as_phone(driver, False)
        screenshot(driver, "5-account-wide")
        as_phone(driver)

        fill(driver, current=FIRST_PASSWORD, password=SECOND_PASSWORD, confirmation=SECOND_PASSWORD)
        submit(driver, "/account/password")
        check("the password is changed", "Your password is changed" in driver.page_source)
        second_session = driver.get_cookie("epochfs_session")["value"]
        check("changing the password gives a new session id", second_session != first_session)
        status, headers, _ = request(base, "GET", "/account", cookies={"epochfs_session": first_session})
        check("the session from before the change no longer works", status == 302 and headers.get("location") == "/sign-in", str(status))

        submit(driver, "/sign-out")
        check("signing out leads to sign-in", "You have signed out" in driver.page_source)
        screenshot(driver, "6-signed-out")
        status, headers, _ = request(base, "GET", "/account", cookies={"epochfs_session": second_session})
        check("the old session cookie no longer works after sign-out", status == 302 and headers.get("location") == "/sign-in", str(status))
        status, _, _ = request(base, "POST", "/account/sign-out-everywhere", cookies={"epochfs_session": second_session},
                               form={"csrf": "anything"})
        check("nor for a POST", status in (302, 403), str(status))

        # A signed-in browser's session, and POSTs that do not carry its page's token.
        driver.get(base + "/sign-in")
        fill(driver, email=EMAIL, password=SECOND_PASSWORD)
        submit(driver, "/sign-in")
        live = driver.get_cookie("epochfs_session")["value"]
        status, _, body = request(base, "POST", "/account/sign-out-everywhere", cookies={"epochfs_session": live}, form={})
        check("a POST without a CSRF token is refused", status == 403 and "refused" in body, str(status))
        status, _, _ = request(base, "POST", "/account/password", cookies={"epochfs_session": live},
                               form={"csrf": "0" * 64, "current": SECOND_PASSWORD, "password": "x" * 20, "confirmation": "x" * 20})
        check("a POST with a wrong CSRF token is refused", status == 403, str(status))
        status, _, _ = request(base, "POST", "/sign-in", form={"email": EMAIL, "password": SECOND_PASSWORD})
        check("a sign-in POST without the form's token is refused", status == 403, str(status))
        status, _, _ = request(base, "GET", "/account", cookies={"epochfs_session": live})
        check("and the refused POSTs changed nothing", status == 200, str(status))
        driver.get(base + "/account")
        check("the browser is still signed in", "Sign out everywhere" in driver.page_source)

        problems = owned_by_web_user(os.path.join(STORE, "web"))
        check("the console's files are still the web user's alone", not problems, "; ".join(problems))
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    check("the server stops on SIGTERM", server.returncode == 0, f"exit {server.returncode}")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a step that could not run is a failure, said as such
        failed.append("the test ran to its end")
        print(f"FAIL the test ran to its end: {error!r}", flush=True)
        traceback.print_exc()
    print(f"browser: {len(passed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)
