"""End to end: examples/draw.py in a real browser, headless Chromium driven by Selenium.

The test starts ``python examples/draw.py --model M --port 0`` on 127.0.0.1, opens the page in
Debian's ``chromium`` through ``chromedriver``, draws a 1, a 7 and a 0 on the pad as a person
would (pointer strokes of a mouse, a pen and a finger, through many small moves) and reads
``#digit``. It also checks that the answer comes while the pen is still down, the Clear button
by keyboard, a chosen photo, and the layout at phone width, and saves a screenshot of the page
in use (to $SCRATCHNET_SCREENSHOT as well, when set: that is how docs/draw.png is made).

The model M is trained once, in 10-30 seconds: a [784, 100, 10] ReLU and
softmax perceptron, 6 epochs on freshly distorted MNIST images (``scratchnet.augment``), fully
seeded, so the drawn digits are read the same way on every run.

Skipped, with the reason shown, without selenium, chromium or chromedriver, or without MNIST
in $SCRATCHNET_DATA. Everything runs in tmp folders (the browser's profile, cache and home).
"""
import math
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import scratchnet as sn
from scratchnet.files import atomic_write

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    pytest.skip("needs selenium: pip install -e '.[browser]'", allow_module_level=True)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import draw  # noqa: E402

WAIT = 30                      # seconds: the longest wait for the page or an answer
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1000,800"]


@pytest.fixture(scope="module")
def binaries():
    """(chromium, chromedriver), or skip saying which is missing."""
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver))
               if path is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} on PATH "
                    "(Debian: apt-get install chromium chromium-driver)")
    return chromium, driver


# ---------------------------------------------------------------- the model and the server

@pytest.fixture(scope="module")
def mnist_model(tmp_path_factory):
    """A [784, 100, 10] perceptron trained on distorted MNIST, saved in a tmp folder."""
    if not os.environ.get("SCRATCHNET_DATA"):
        pytest.skip("needs MNIST in $SCRATCHNET_DATA")
    from scratchnet.augment import distort
    data = sn.load_mnist()
    net = sn.Network([sn.Dense(784, 100, init="he"), sn.ReLU(),
                      sn.Dense(100, 10, init="glorot"), sn.Softmax()],
                     loss=sn.CategoricalCrossEntropy(), seed=0)
    net.fit(data.train, 6, 32, sn.SGD(lr=0.03, momentum=0.9), seed=0, augment=distort)
    assert net.evaluate(data.test)["accuracy"] > 0.96
    path = tmp_path_factory.mktemp("model") / "drawn.npz"
    sn.save(net, path)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home, a cache and a browser profile of the test's own."""
    root = tmp_path_factory.mktemp("browser")
    for name in ("home", "cache", "profile"):
        (root / name).mkdir()
    return root


@pytest.fixture(scope="module")
def url(binaries, mnist_model, home):
    """The page's address, from ``draw.py --port 0``; the server is stopped at the end.
    (``binaries`` first: without a browser, skip before training anything.)"""
    env = {**os.environ, "XDG_CACHE_HOME": str(home / "cache")}
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "draw.py"), "--model",
                             str(mnist_model), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("Draw a digit at http://127.0.0.1:"), \
            (line, proc.stderr.read() if proc.poll() is not None else "")
        yield line.split()[4]
    finally:
        proc.terminate()
        proc.communicate(timeout=WAIT)


@pytest.fixture(scope="module")
def driver(binaries, url, home):
    chromium, chromedriver = binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS + [f"--user-data-dir={home / 'profile'}",
                         f"--disk-cache-dir={home / 'cache'}"]:
        options.add_argument(flag)
    env = {**os.environ, "HOME": str(home / "home"), "XDG_CACHE_HOME": str(home / "cache"),
           "XDG_CONFIG_HOME": str(home / "home")}
    service = webdriver.ChromeService(executable_path=chromedriver, env=env,
                                      log_output=str(home / "chromedriver.log"))
    try:
        browser = webdriver.Chrome(options=options, service=service)
    except WebDriverException as e:
        pytest.skip(f"chromium did not start: {' '.join(str(e).split())[:300]}")
    try:
        browser.set_page_load_timeout(WAIT)
        browser.set_script_timeout(WAIT)
        browser.get(url)
        yield browser
    finally:
        browser.quit()


# ---------------------------------------------------------------- drawing as a person would

def path_through(points, step=0.015):
    """Points every ``step`` of the pad along the polyline, with a slow, slight waver."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
    out.append(points[-1])
    return [(x + 0.004 * math.sin(0.3 * k), y + 0.004 * math.cos(0.4 * k))
            for k, (x, y) in enumerate(out)]


def ellipse(cx, cy, rx, ry, start=-100, stop=275, step=12):
    """An oval drawn anticlockwise from the top, as most people draw a 0, overlapping a bit."""
    return [(cx + rx * math.cos(math.radians(-a)), cy - ry * math.sin(math.radians(-a)))
            for a in range(start, stop + 1, step)][::-1]


ONE = [(0.53, 0.17), (0.51, 0.50), (0.48, 0.84)]
SEVEN = [(0.26, 0.22), (0.50, 0.21), (0.75, 0.20), (0.63, 0.44), (0.52, 0.64), (0.43, 0.86)]
ZERO = ellipse(0.5, 0.52, 0.21, 0.31)
KINDS = {"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
         "finger": interaction.POINTER_TOUCH}


def stroke(driver, points, kind="mouse", down=True, up=True, step=0.015):
    """Move a pointer of ``kind`` through ``points`` (fractions of the pad's width and height),
    a move every ``step``, pressing it at the first point if ``down`` and lifting it at the
    last if ``up``."""
    pad = driver.find_element(By.ID, "pad")
    w, h = pad.size["width"], pad.size["height"]
    actions = ActionBuilder(driver, mouse=PointerInput(KINDS[kind], kind), duration=10)
    moves = path_through(points, step)
    for i, (x, y) in enumerate(moves):       # offsets from the pad's centre (WebDriver's rule)
        actions.pointer_action.move_to(pad, round((x - 0.5) * w), round((y - 0.5) * h))
        if i == 0 and down:
            actions.pointer_action.pointer_down()
    if up:
        actions.pointer_action.pointer_up()
    actions.perform()


def settled(driver):
    """Wait until no answer is pending (#result aria-busy="false"); return #digit's text."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "result").get_attribute("aria-busy") == "false")
    return driver.find_element(By.ID, "digit").text


def state(driver):
    return driver.find_element(By.ID, "result").get_attribute("class").split()


def clear(driver):
    driver.find_element(By.ID, "clear").click()
    assert settled(driver) == ""


# ---------------------------------------------------------------- the tests

def test_the_page_starts_empty(driver):
    assert settled(driver) == ""
    assert driver.find_element(By.ID, "verdict").text == "Nothing drawn yet."
    assert len(driver.find_elements(By.CSS_SELECTOR, "#bars li")) == 10
    assert not driver.find_element(By.ID, "seen").is_displayed()


@pytest.mark.parametrize("digit, points, kind", [("1", ONE, "pen"), ("0", ZERO, "finger")])
def test_a_drawn_digit_is_read(driver, digit, points, kind):
    clear(driver)
    stroke(driver, points, kind)
    assert settled(driver) == digit
    assert state(driver) == ["sure"]
    assert driver.find_element(By.ID, "seen").get_attribute("src").startswith(
        "data:image/png;base64,")


def test_a_seven_is_read_while_it_is_drawn(driver, home):
    """The answer comes while the pen is still down, and is right when it is lifted."""
    clear(driver)
    stroke(driver, SEVEN[:3], "mouse", up=False)          # the top bar, the mouse still held
    settled(driver)
    assert driver.find_element(By.ID, "seen").is_displayed()       # an answer came already
    stroke(driver, SEVEN[2:], "mouse", down=False)        # on down to the foot, then lift
    assert settled(driver) == "7"
    assert state(driver) == ["sure"]
    bars = driver.find_elements(By.CSS_SELECTOR, "#bars li")
    assert "top" in bars[7].get_attribute("class").split()
    track = bars[7].find_element(By.CLASS_NAME, "track").rect["width"]
    assert bars[7].find_element(By.CLASS_NAME, "fill").rect["width"] > 0.9 * track  # ~100%
    assert bars[1].find_element(By.CLASS_NAME, "fill").rect["width"] < 0.1 * track

    shot = driver.get_screenshot_as_png()
    (home / "draw.png").write_bytes(shot)
    if os.environ.get("SCRATCHNET_SCREENSHOT"):          # the README's picture
        atomic_write(os.environ["SCRATCHNET_SCREENSHOT"], lambda f: f.write(shot))
    with Image.open(home / "draw.png") as img:
        assert img.format == "PNG" and img.width >= 600


def test_a_scribble_is_not_sure(driver):
    """Loops over loops (a Lissajous figure): no digit has that many holes."""
    clear(driver)
    loops = [(0.5 + 0.33 * math.sin(3 * t / 20), 0.5 + 0.33 * math.sin(4 * t / 20 + 0.4))
             for t in range(0, 127)]
    stroke(driver, loops, "mouse", step=0.04)
    assert settled(driver) == "?"
    assert state(driver) == ["unsure"]
    assert driver.find_element(By.ID, "verdict").text.startswith("Not sure.")


def test_clear_works_from_the_keyboard(driver):
    clear(driver)
    stroke(driver, ONE, "mouse")
    assert settled(driver) == "1"
    driver.execute_script("document.activeElement.blur()")
    order = []
    for _ in range(10):                                  # Tab through the page, at most 10 stops
        ActionChains(driver).send_keys(Keys.TAB).perform()
        order.append(driver.switch_to.active_element.get_attribute("id"))
        if order[-1] == "clear":
            break
    assert order[-1] == "clear", order
    ActionChains(driver).send_keys(Keys.SPACE).perform()
    assert settled(driver) == ""
    ActionChains(driver).send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.get_attribute("id") == "file"


def test_a_chosen_photo_is_read_and_a_blank_one_is_not_a_digit(driver, tmp_path):
    clear(driver)
    photo = tmp_path / "seven.jpg"
    img = Image.new("RGB", (400, 300), (225, 222, 215))
    ImageDraw.Draw(img).line([(120, 50), (260, 50), (170, 260)], fill=(40, 40, 60), width=16,
                             joint="curve")
    img.save(photo, quality=90)
    driver.find_element(By.ID, "file").send_keys(str(photo))
    assert settled(driver) == "7"

    blank = tmp_path / "blank.png"
    Image.new("L", (300, 200), 255).save(blank)
    driver.find_element(By.ID, "file").send_keys(str(blank))
    assert settled(driver) == "?"
    assert state(driver) == ["error"]
    assert "not look like a digit" in driver.find_element(By.ID, "verdict").text


def test_a_photo_over_the_size_limit_is_refused_with_the_limit_shown(driver, tmp_path):
    clear(driver)
    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(draw.MAX_BODY + 1))
    driver.find_element(By.ID, "file").send_keys(str(big))
    assert settled(driver) == "?"
    assert state(driver) == ["error"]
    assert f"the limit is {draw.MAX_BODY} bytes" in driver.find_element(By.ID, "verdict").text


def test_the_page_fits_a_phone_and_reads_a_finger_there(driver):
    driver.set_window_size(390, 844)
    try:
        clear(driver)
        width = driver.execute_script("return window.innerWidth")
        assert width <= 420
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width
        for name in ("pad", "clear", "digit", "bars"):
            rect = driver.find_element(By.ID, name).rect
            assert rect["x"] >= 0 and rect["x"] + rect["width"] <= width, name
        assert driver.find_element(By.ID, "clear").rect["height"] >= 40   # a finger's size
        stroke(driver, ZERO, "finger")
        assert settled(driver) == "0"
    finally:
        driver.set_window_size(1000, 800)
