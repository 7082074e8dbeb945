"""The console in a real browser: Debian's chromium, headless, driven by Selenium through
Debian's chromedriver (no browser download). Run by Tests/APITests/ConsoleBrowserTests.swift,
which starts `certfleet api` and a worker and writes the configuration (argv[1]):
  base, keys {writer, reader, exporter}, bundles {web, xss} (chain, key), other_certificate,
  screenshots (directory), work (scratch directory).
Prints one JSON object: {"checks": [{"name", "ok", "detail"}], "screenshots": [...]}.
Each check states one behaviour; the Swift test fails on any that is not ok."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

config = json.load(open(sys.argv[1]))
base = config["base"]
shots_dir = config["screenshots"]
work = config["work"]
os.makedirs(shots_dir, exist_ok=True)
checks, shots = [], []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:600]})
    return ok


def mask_secret():
    """Screenshots go into docs/: they show where a new secret appears, never the secret."""
    driver.execute_script("const e = document.getElementById('new-secret'); e.textContent = e.textContent.slice(0, 10) + '…'")


def shot(name):
    path = os.path.join(shots_dir, name + ".png")
    driver.save_screenshot(path)
    shots.append(path)


def http(method, path, key=None, body=None, cookie=None, headers=None, form=None):
    """A plain HTTP request (not the browser): (status, body text)."""
    request = urllib.request.Request(base + path, method=method)
    data = None
    if key:
        request.add_header("Authorization", "Bearer " + key)
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if form is not None:
        data = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in form.items()).encode()
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if cookie:
        request.add_header("Cookie", cookie)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, data=data, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def text(selector):
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return elements[0].text if elements else None


def wait_text(selector, wanted, timeout=60):
    """Waits until SELECTOR's text is one of WANTED (the page reloads itself meanwhile)."""
    def ready(_):
        try:
            return text(selector) in wanted
        except WebDriverException:
            return False
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(ready)
    except Exception:
        pass
    return text(selector)


def session_cookie():
    cookie = driver.get_cookie("cf_console")
    return "cf_console=" + cookie["value"] if cookie else ""


def submit(element):
    """Clicks a form's button and waits until the next page replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        # chromedriver reports a node that left the document either as stale or, mid-navigation,
        # as "Node with given id does not belong to the document": both mean the page was replaced.
        try:
            page.is_enabled()
            return False
        except WebDriverException:
            return True
    WebDriverWait(driver, 30, poll_frequency=0.1).until(replaced)


def sign_in(key):
    driver.get(base + "/console/login")
    driver.find_element(By.ID, "key").send_keys(key)
    submit(driver.find_element(By.ID, "signin"))


def sign_out():
    submit(driver.find_element(By.CSS_SELECTOR, ".signout button"))


def write(name, content):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(content)
    return path


def upload(name, bundle):
    """Through the upload page: the chain pasted, the key chosen as a file. Returns the job page's final state."""
    driver.get(base + "/console/upload")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "chain").send_keys(bundle["chain"])
    driver.find_element(By.ID, "pkey_file").send_keys(write(name + ".key.pem", bundle["key"]))
    submit(driver.find_element(By.ID, "upload"))
    return wait_text("#certificate-state", ["valid", "error"])


options = Options()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,900",
                 f"--user-data-dir={work}/chromium-profile"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def console_flow():
    keys, bundles = config["keys"], config["bundles"]

    # Sign-in: a wrong key is an error on the sign-in page, never a stack trace.
    driver.get(base + "/console/certificates")
    check("signed-out pages redirect to the sign-in page", driver.current_url.endswith("/console/login"), driver.current_url)
    shot("login")
    sign_in("cf_not_a_key_at_all")
    flash = text("#flash") or ""
    check("a wrong key gives a sign-in error", "not valid" in flash and "invalid_api_key" in flash, flash)
    check("the sign-in error shows no stack trace", "Fatal" not in driver.page_source and "Traceback" not in driver.page_source)
    shot("login-error")
    sign_in(keys["writer"])
    check("a valid key signs in to the certificates page", driver.current_url.endswith("/console/certificates"), driver.current_url)
    cookie = driver.get_cookie("cf_console") or {}
    check("the session cookie is HttpOnly and SameSite=Strict", cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", cookie)
    check("the browser holds no API key", all(keys["writer"] not in c["value"] for c in driver.get_cookies()))

    # Upload a bundle and watch the job make it valid.
    state = upload("console-web", bundles["web"])
    check("an uploaded bundle becomes valid on the job page", state == "valid", state)
    shot("job")
    web_url = driver.find_element(By.ID, "certificate-link").get_attribute("href")
    web_id = web_url.rsplit("/", 1)[1]
    state = upload("xss-cert", bundles["xss"])
    check("the <script> certificate becomes valid too", state == "valid", state)
    xss_url = driver.find_element(By.ID, "certificate-link").get_attribute("href")
    # A few more through the API, so that search and filters have something to tell apart.
    for index in range(3):
        status, _ = http("POST", "/v1/certificates", key=keys["writer"], body={
            "name": f"extra-{index}", "chain": bundles["web"]["chain"], "pkey": bundles["web"]["key"]})
        check(f"API upload extra-{index} accepted", status == 202, status)

    # Search and filter.
    driver.get(base + "/console/certificates")
    rows = driver.find_elements(By.CSS_SELECTOR, "#certificates tbody a.certificate-link")
    check("the table lists every certificate", len(rows) == 5, [r.text for r in rows])
    shot("certificates")

    def search(q="", state="", source="", sort=None):
        driver.get(base + "/console/certificates")
        box = driver.find_element(By.ID, "q")
        box.clear()
        box.send_keys(q)
        Select(driver.find_element(By.ID, "state")).select_by_value(state)
        Select(driver.find_element(By.ID, "source")).select_by_value(source)
        if sort:
            Select(driver.find_element(By.ID, "sort")).select_by_value(sort)
        submit(driver.find_element(By.ID, "search"))
        return [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#certificates tbody a.certificate-link")]

    found = search("console")
    check("search by name prefix", found == ["console-web"], found)
    found = search("shop.api.example.com")
    check("search by host finds the wildcard certificates", "console-web" in found and "xss-cert" not in found, found)
    found = search("api.example.com")
    check("search by exact SAN", "console-web" in found and "extra-0" in found, found)
    found = search("nothing-here.test")
    check("a search without matches says so", found == [] and text("#no-rows") == "No certificates match.", found)
    found = search(state="valid")
    check("filter by state", "console-web" in found and "xss-cert" in found, found)
    found = search(source="acme")
    check("filter by source", found == [], found)
    found = search(sort="expires")
    check("sort by expiry lists issued certificates", len(found) >= 2, found)
    search("api.example.com", state="valid")
    shot("certificates-search")

    # The certificate page and its downloads.
    driver.get(web_url)
    check("the detail page shows the subject", "api.example.com" in (text("#subject") or ""), text("#subject"))
    check("the detail page lists the SANs", "*.api.example.com" in (text("#sans") or ""), text("#sans"))
    check("no key download without keys:export", not driver.find_elements(By.ID, "download-key"))
    check("the versions list the current one", "1 (current)" in (text("#versions") or ""), text("#versions"))
    shot("certificate")
    fullchain_href = driver.find_element(By.ID, "download-fullchain").get_attribute("href")
    status, pem = http("GET", fullchain_href[len(base):], cookie=session_cookie())
    path = write("fullchain.pem", pem)
    verify = subprocess.run(["openssl", "verify", "-CAfile", path, path], capture_output=True, text=True)
    check("the downloaded fullchain verifies with openssl", status == 200 and verify.returncode == 0 and "OK" in verify.stdout,
          f"{status} {verify.stdout} {verify.stderr}")
    same = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", path], capture_output=True, text=True).stdout
    original = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=bundles["web"]["chain"],
                              capture_output=True, text=True).stdout
    check("the fullchain is the uploaded certificate", same and same == original, f"{same} / {original}")

    # Delete refused while bound, naming the consumer.
    status, _ = http("PUT", f"/v1/certificates/{web_id}/bindings/edge-gateway-1", key=keys["writer"])
    check("bound through the API", status in (200, 201), status)
    driver.get(web_url)
    submit(driver.find_element(By.ID, "delete"))
    flash = text("#flash") or ""
    check("delete is refused while bound and says by whom", "edge-gateway-1" in flash and "certificate_in_use" in flash, flash)
    shot("certificate-delete-refused")

    # A certificate whose subject is markup renders as text; no script runs.
    driver.get(xss_url)
    subject = text("#subject") or ""
    check("the <script> subject is shown as text", "<script>" in subject, subject)
    check("no script element reached the page", not driver.find_elements(By.TAG_NAME, "script"))
    check("the markup is escaped in the HTML", "&lt;script&gt;" in driver.page_source)
    try:
        driver.switch_to.alert
        check("no alert opened", False, "an alert is open")
    except NoAlertPresentException:
        check("no alert opened", True)
    check("the page title was not changed by a script", driver.title.startswith("xss-cert"), driver.title)
    shot("certificate-escaped")

    # Jobs, timeline, issue pages.
    driver.get(base + "/console/jobs")
    check("the jobs page lists the validate jobs", "validate" in (text("#recent-jobs") or ""))
    check("the installation's dead-letter count is not shown to a non-admin", text("#dead-letters") is None, text("#dead-letters"))
    shot("jobs")
    driver.get(base + "/console/timeline")
    check("the timeline draws its chart", driver.find_elements(By.CSS_SELECTOR, "#timeline-chart svg"))
    shot("timeline")
    driver.get(base + "/console/issue")
    check("the issue form offers the key types", "ec-p256" in driver.page_source)
    shot("issue")
    driver.get(base + "/console/upload")
    shot("upload")

    # Another project's certificate is not reachable by URL; unknown pages are the console's 404.
    driver.get(base + "/console/certificates/" + config["other_certificate"])
    check("another project's certificate is the console's 404", text("#error-code") == "certificate_not_found", text("#error-code"))
    shot("not-found")
    status, _ = http("GET", f"/console/certificates/{config['other_certificate']}/pem?type=fullchain", cookie=session_cookie())
    check("another project's PEM is 404", status == 404, status)
    driver.get(base + "/console/no/such/page")
    check("an unknown page is the console's 404", text("#error-code") == "page_not_found", text("#error-code"))

    # Forged posts: no CSRF token → 403; a foreign Origin → 403; nothing deleted.
    status, body = http("POST", f"/console/certificates/{web_id}/delete", cookie=session_cookie(), form={"x": "1"})
    check("a form without the CSRF token is refused with 403", status == 403 and "csrf_invalid" in body, status)
    token = driver.find_element(By.CSS_SELECTOR, ".signout input[name=csrf]").get_attribute("value")
    status, body = http("POST", f"/console/certificates/{web_id}/renew", cookie=session_cookie(), form={"csrf": token},
                        headers={"Origin": "https://evil.example"})
    check("a form from another origin is refused with 403", status == 403 and "origin_mismatch" in body, status)
    status, body = http("POST", "/console/upload", form={"csrf": token})
    check("a form without a session is refused with 403", status == 403, status)
    status, _ = http("GET", f"/v1/certificates/{web_id}", key=keys["writer"])
    check("the forged posts changed nothing", status == 200, status)

    # Sign out ends the session on the server.
    old_cookie = session_cookie()
    sign_out()
    check("sign-out returns to the sign-in page", driver.current_url.endswith("/console/login"), driver.current_url)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(base + "/console/certificates", headers={"Cookie": old_cookie}))
        check("the old session cookie no longer works", False, "page served")
    except urllib.error.HTTPError as error:
        check("the old session cookie no longer works", error.code == 303 and error.headers["Location"] == "/console/login", error.code)

    # A read-only key: no write buttons, and a forged POST with its valid token is still 403.
    sign_in(keys["reader"])
    nav = text("header.top nav") or ""
    check("a read-only key sees no Upload or Issue", "Upload" not in nav and "Issue" not in nav, nav)
    driver.get(web_url)
    check("a read-only key sees no write buttons",
          not driver.find_elements(By.ID, "delete") and not driver.find_elements(By.ID, "renew") and text("#read-only"))
    shot("certificate-read-only")
    token = driver.find_element(By.CSS_SELECTOR, ".signout input[name=csrf]").get_attribute("value")
    status, body = http("POST", f"/console/certificates/{web_id}/delete", cookie=session_cookie(), form={"csrf": token})
    check("a read-only key's forged delete is refused with 403", status == 403 and "missing_scope" in body, status)
    driver.get(base + "/console/upload")
    check("a read-only key gets 403 on the upload page", text("#error-code") == "missing_scope", text("#error-code"))

    # API keys (admin): create one (the secret shown once), sign in with it, revoke it.
    sign_out()
    sign_in(keys["admin"])
    driver.get(base + "/console/keys")
    driver.get(base + "/console/jobs")
    check("an admin sees the dead-letter count", text("#dead-letters") == "0", text("#dead-letters"))
    driver.get(base + "/console/keys")
    check("an admin cannot grant keys:export it does not hold", not driver.find_elements(By.ID, "scope-keys:export"))
    driver.find_element(By.ID, "key-name").send_keys("console-made")
    driver.find_element(By.ID, "scope-certificates:read").click()
    submit(driver.find_element(By.ID, "create-key"))
    secret = text("#new-secret") or ""
    check("a new key's secret is shown once", secret.startswith("cf_"), secret)
    # The screenshot goes into docs/: it shows where the secret appears, never a secret.
    mask_secret()
    shot("keys")
    driver.get(base + "/console/keys")
    check("the secret is not shown again", secret not in driver.page_source and not driver.find_elements(By.ID, "new-secret"))
    sign_out()
    sign_in(secret)
    check("the console-made key signs in", driver.current_url.endswith("/console/certificates"), driver.current_url)
    sign_out()
    sign_in(keys["admin"])
    driver.get(base + "/console/keys")
    row = [r for r in driver.find_elements(By.CSS_SELECTOR, "#keys tbody tr") if "console-made" in r.text][0]
    submit(row.find_element(By.CSS_SELECTOR, "button.revoke-key"))
    check("the key is revoked", "revoked" in (text("#flash") or ""), text("#flash"))
    sign_out()
    sign_in(secret)
    check("a revoked key cannot sign in", "invalid_api_key" in (text("#flash") or ""), text("#flash"))

    # Projects (system): a new project and its first admin key, shown once.
    sign_in(keys["system"])
    check("a system key starts on the projects page", driver.current_url.endswith("/console/projects"), driver.current_url)
    driver.find_element(By.ID, "project-name").send_keys("console-tenant")
    submit(driver.find_element(By.ID, "create-project"))
    check("a new project shows its admin key once", (text("#new-secret") or "").startswith("cf_"), text("#created-project"))
    mask_secret()
    shot("projects")

    # An exporter key sees the key download.
    sign_out()
    sign_in(keys["exporter"])
    driver.get(web_url)
    check("keys:export offers the key download", driver.find_elements(By.ID, "download-key"))


def issue_flow():
    """Issue through the issue page (Pebble behind the worker) and watch the job page until valid."""
    sign_in(config["keys"]["writer"])
    driver.get(base + "/console/issue")
    driver.find_element(By.ID, "domains").send_keys(config["domain"])
    driver.find_element(By.ID, "name").send_keys("console-issued")
    Select(driver.find_element(By.ID, "challenge")).select_by_value("http-01")
    submit(driver.find_element(By.ID, "issue"))
    seen, deadline, captured = [], time.time() + 120, False
    while time.time() < deadline:
        try:
            job, certificate = text("#job-state"), text("#certificate-state")
        except WebDriverException:
            continue
        if (job, certificate) not in seen:
            seen.append((job, certificate))
        if not captured and job in ("queued", "running") and text("#live"):
            shot("job-live")
            captured = True
        if job in ("succeeded", "failed", "cancelled") and certificate not in ("pending", "renewing"):
            break
        time.sleep(0.2)
    check("the issue job succeeds and the certificate is valid", seen and seen[-1] == ("succeeded", "valid"), seen)
    check("the job page showed the job in progress before it ended", any(j in ("queued", "running") for j, _ in seen), seen)
    check("the finished job page stops refreshing", not driver.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]"))
    shot("job-issued")
    submit(driver.find_element(By.ID, "certificate-link"))
    check("the issued certificate names its domain", config["domain"] in (text("#sans") or ""), text("#sans"))
    check("the issued certificate comes from Pebble", "Pebble" in driver.page_source, text("#subject"))
    shot("certificate-issued")


def timeline_flow():
    """The timeline and a fuller table, over rows the test seeded with known counts."""
    sign_in(config["keys"]["writer"])
    driver.get(base + "/console/timeline")
    bars = driver.find_elements(By.CSS_SELECTOR, "#timeline-chart svg rect.expiry")
    check("the chart has a bar for each day a seeded certificate expires", len(bars) >= 80, len(bars))
    for name, wanted in config["expected"].items():
        check(f"the timeline counts {name}", text("#" + name) == str(wanted), f"{text('#' + name)} != {wanted}")
    shot("timeline")
    driver.get(base + "/console/certificates?sort=expires")
    shot("certificates")
    driver.get(base + "/console/jobs")
    shot("jobs")


flows = {"issue": issue_flow, "timeline": timeline_flow}
try:
    flows.get(config.get("mode"), console_flow)()
finally:
    driver.quit()

print(json.dumps({"checks": checks, "screenshots": shots}))
