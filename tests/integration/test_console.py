"""The web console (issue 16) in a real browser: headless Chromium driven
by Selenium (Debian's chromium and chromium-driver, the selenium bindings
pinned in scripts/deps). A broker with data (a topic, keyed records with
headers and JSON values, a consumer group with committed offsets and lag)
serves the console from its admin listener; the test loads each page,
checks what it shows against the Kafka API, and saves a screenshot of each
page under $BK_TEST_OUT/console (ctest sets it to the build folder's
test-output), else a temporary folder."""
import json
import os
import tempfile
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from harness import Broker, free_port

TOPIC, GROUP = "orders", "billing"
RECORDS = 30


def shots_dir():
    base = os.environ.get("BK_TEST_OUT") or tempfile.gettempdir()
    d = os.path.join(base, "console")
    os.makedirs(d, exist_ok=True)
    return d


def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=opts)


def fill(bootstrap):
    """The topic, its records, and a group that read part of them: returns
    the group's lag as the Kafka API computes it, and a consumer that stays
    a member (closed by the caller)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    from confluent_kafka.admin import NewTopic
    admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(15)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(RECORDS):
        p.produce(TOPIC, key=b"k%02d" % i,
                  value=json.dumps({"n": i, "item": "widget"}).encode(),
                  headers=[("source", b"test")], partition=i % 3)
    assert p.flush(15) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([TOPIC])
    got, deadline = 0, time.monotonic() + 30
    while got < 10 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    c.commit(asynchronous=False)
    for i in range(RECORDS, RECORDS + 15):  # more to read: lag grows
        p.produce(TOPIC, key=b"k%02d" % i, value=b"{}", partition=i % 3)
    assert p.flush(15) == 0
    # Lag as kafka-consumer-groups.sh shows it: the partitions with a
    # committed offset, high watermark minus that offset.
    tps = [TopicPartition(TOPIC, i) for i in range(3)]
    lag = 0
    for tp in c.committed(tps, timeout=10):
        if tp.offset >= 0:
            _, high = c.get_watermark_offsets(tp, timeout=10)
            lag += high - tp.offset
    return lag, c


def wait_text(drv, css, pred, timeout=15):
    """The text of the first element matching css, once pred accepts it."""
    def ok(d):
        els = d.find_elements(By.CSS_SELECTOR, css)
        return els[0].text if els and pred(els[0].text) else False
    return WebDriverWait(drv, timeout, 0.2).until(ok)


def test_console_pages_show_what_the_kafka_api_says():
    port = free_port()
    out = shots_dir()
    with Broker(extra={"admin.listeners": "http://127.0.0.1:%d" % port}) as b:
        lag, consumer = fill(b.bootstrap)
        assert lag >= 5
        meta = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(
            TOPIC, timeout=10)
        nparts = len(meta.topics[TOPIC].partitions)
        base = "http://127.0.0.1:%d" % port
        drv = browser()
        try:
            drv.get(base + "/#/")
            wait_text(drv, "#brokers", lambda t: "active" in t)
            cluster = drv.find_element(By.CSS_SELECTOR, "#cluster").text
            assert meta.cluster_id in cluster
            # Two scrapes make a rate: the charts draw from /metrics.
            wait_text(drv, "#status", lambda t: t.startswith("updated"))
            drv.save_screenshot(os.path.join(out, "overview.png"))

            drv.get(base + "/#/topics")
            row = wait_text(drv, "#topics", lambda t: TOPIC in t)
            line = [ln for ln in row.splitlines() if ln.startswith(TOPIC)][0]
            assert line.split()[1] == str(nparts)
            drv.save_screenshot(os.path.join(out, "topics.png"))

            drv.get(base + "/#/topic/" + TOPIC)
            wait_text(drv, "#partitions", lambda t: len(t.splitlines()) ==
                      nparts + 1)
            summary = drv.find_element(By.CSS_SELECTOR, "#topic-summary").text
            assert summary.splitlines()[-1].split()[4] == str(RECORDS + 15)
            drv.save_screenshot(os.path.join(out, "topic.png"))

            # The record browser: partition 1 in the JSON view.
            Select(drv.find_element(By.ID, "rb-partition")).select_by_value(
                "1")
            Select(drv.find_element(By.ID, "rb-mode")).select_by_value("json")
            drv.find_element(By.ID, "rb-go").click()
            text = wait_text(drv, "#rb-summary", lambda t: "shown" in t)
            assert "high watermark 15, 15 shown" in text
            rows = drv.find_element(By.CSS_SELECTOR, "#rb-table").text
            assert '"item": "widget"' in rows and "k01" in rows
            assert "source:" in rows  # the header, its value not JSON
            drv.save_screenshot(os.path.join(out, "records.png"))

            drv.get(base + "/#/groups")
            wait_text(drv, "#groups", lambda t: GROUP in t)
            drv.get(base + "/#/group/" + GROUP)
            total = wait_text(drv, "#group-summary", lambda t:
                              len(t.splitlines()) == 2)
            assert total.splitlines()[1].split()[-1] == str(lag), (
                total, [ln for ln in urllib.request.urlopen(base + "/metrics")
                        .read().decode().splitlines() if "group" in ln])
            members = drv.find_element(By.CSS_SELECTOR, "#members").text
            assert TOPIC + "-0" in members
            drv.save_screenshot(os.path.join(out, "group.png"))
            assert not drv.find_elements(By.ID, "error")
        finally:
            drv.quit()
            consumer.close()


def test_console_assets_and_bad_paths():
    """Only the compiled-in assets are served: no path reaches the file
    system; the console needs no other host."""
    port = free_port()
    with Broker(extra={"admin.listeners": "http://127.0.0.1:%d" % port}) as b:
        base = "http://127.0.0.1:%d" % port
        page = urllib.request.urlopen(base + "/").read().decode()
        assert "/console/app.js" in page
        js = urllib.request.urlopen(base + "/console/app.js").read().decode()
        for text in (page, js):
            assert "http://" not in text and "https://" not in text
        for path in ("/console/../../etc/passwd", "/console/%2e%2e/x",
                     "/console/app.js.bak", "/console//app.js",
                     "/v1/topics/x/partitions/0/records"):
            try:
                urllib.request.urlopen(base + path)
                raise AssertionError(path + " answered")
            except urllib.error.HTTPError as e:
                assert e.code == 404, (path, e.code)
        for q in ("offset=-1", "offset=x", "limit=0", "limit=501",
                  "offset=1&timestamp=2"):
            try:
                urllib.request.urlopen(
                    base + "/v1/topics/__consumer_offsets/partitions/0/"
                    "records?" + q)
                raise AssertionError(q + " answered")
            except urllib.error.HTTPError as e:
                assert e.code in (400, 404), (q, e.code)
        assert b.alive()
