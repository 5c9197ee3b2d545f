#!/usr/bin/env python3
"""leakcheck --html in a real browser: the real leakcheck on real case servers writes the pages,
headless Chromium renders them, and what it rendered is checked.

  - global_list/leaky under memcheck, --every 25: verdict LEAK; the curve's points (baseline,
    three rounds, the --every ones) in order of connections, rising; a site row at conn_new
    whose source line is read from cases/global_list/leaky.c; held by all_conns (global);
  - global_list/fixed under memcheck, started through a link whose name holds < > & " ': verdict
    clean, no site rows, the points there, and the name shown as text (escaped), never markup;
  - global_list/leaky natively: verdict LEAK, its site card and holder, no detection limit (the
    allocator measure counts blocks);
  - a server that does not exist: verdict error, a page all the same; --html into a folder that
    does not exist: a one-line error, exit 2, nothing left behind;
  - the demo's index (leakcheck-demo --html) of global_list's pair and mutual_refs/leaky: a
    held-by cell in each engine's columns, each leak's holder named in both; laid out in a
    1280 px window, it is no wider than the window (a Python twin under memcheck takes ~50 s to
    be ready here: left out; its path is cut at 60 characters and its cell wraps).

The DOM is Chromium's (--dump-dom, after layout and any script); the screenshots
(--screenshot, 1200x2000) are kept in BUILD/html-shots/, and the banner's colour is read back
from them: red for a leak, green for clean, so the page's CSS was applied.

usage: python3 tests/scripts/browser.py LEAKCHECK BUILD
Exit status 0 if every check holds, 1 otherwise (each failure printed).
"""
import html.parser
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], []

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def all_text(self):
        return "".join(t if isinstance(t, str) else t.all_text() for t in self.text)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, tag=None, cls=None, **attrs):
        return [n for n in self.walk() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class Tree(html.parser.HTMLParser):
    """The DOM Chromium dumped, as a tree (its serialisation closes every element)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", [], None)

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        self.cur.text.append(n)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def chromium(page, *args):
    profile = tempfile.mkdtemp(prefix="lc-test-%d-chromium-" % os.getpid())
    try:
        return subprocess.run(["chromium", *CHROMIUM_FLAGS, "--user-data-dir=" + profile, *args,
                               "file://" + os.path.abspath(page)],
                              capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def render(page, shot):
    """The rendered DOM as a tree; the screenshot written to shot."""
    out = chromium(page, "--dump-dom")
    check(out.returncode == 0 and "<html" in out.stdout, f"{page}: chromium --dump-dom failed: {out.stderr[-400:]}")
    chromium(page, "--screenshot=" + shot, "--window-size=1200,2000")
    check(os.path.getsize(shot) > 20000 if os.path.exists(shot) else False, f"{shot}: no screenshot")
    return parse(out.stdout)


def parse(text):
    t = Tree()
    t.feed(text)
    return t.root


def png_pixel(path, x, y):
    """(r, g, b) of one pixel of an 8-bit RGB or RGBA PNG: enough of PNG to read a screenshot back."""
    data = open(path, "rb").read()
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, _, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), "not an 8-bit RGB(A) PNG"
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev = zlib.decompress(idat), width * bpp, bytearray(width * bpp)
    for row in range(y + 1):
        f, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
    return tuple(prev[x * bpp:x * bpp + 3])


def leakcheck(lc, page, server, *opts):
    return subprocess.run([lc, "-q", "--html", page, *opts, "--", server], capture_output=True, text=True,
                          timeout=300)


def points(dom, name):
    """The first chart's points, in document order: (kind, connections, value)."""
    chart = dom.find("figure", "chart")
    if not check(chart, f"{name}: no chart"):
        return []
    pts = [(next(c for c in n.classes() if c != "pt"), int(n.attrs["data-connections"]), int(n.attrs["data-value"]))
           for n in chart[0].find("circle", "pt")]
    check(pts == sorted(pts, key=lambda p: p[1]), f"{name}: points not in order of connections")
    return pts


def banner(shot, name, want):
    if not os.path.exists(shot):
        return  # render() said so
    r, g, b = png_pixel(shot, 600, 40)
    red, green = r > 150 and g < 90 and b < 90, g > 110 and r < 70 and b < 110
    check(red if want == "red" else green, f"{name}: the banner in the screenshot is rgb{(r, g, b)}, not {want}")


def leaky_page(lc, build, shots, work):
    page = os.path.join(work, "leaky.html")
    run = leakcheck(lc, page, os.path.join(build, "cases/global_list/leaky"), "--every", "25")
    check(run.returncode == 1, f"leaky: exit {run.returncode}, not 1: {run.stdout}{run.stderr}")
    dom = render(page, os.path.join(shots, "leaky.png"))
    h1 = dom.find("h1", None, id="verdict")
    check(h1 and h1[0].attrs.get("data-verdict") == "leak" and h1[0].all_text().strip() == "LEAK",
          "leaky: the verdict is not LEAK")
    pts = points(dom, "leaky")
    kinds = [k for k, _, _ in pts]
    check(kinds[:1] == ["baseline"] and kinds.count("round") == 3 and kinds.count("every") >= 20,
          f"leaky: points {kinds}: want a baseline, 3 rounds, >= 20 --every points")
    check(len(pts) >= 2 and pts[-1][2] > pts[0][2] * 5, f"leaky: the heap does not climb: {pts[:1]} .. {pts[-1:]}")
    line = dom.find("polyline", "curve")
    check(line and len(line[0].attrs.get("points", "").split()) == len(pts), "leaky: the curve does not join the points")
    sites = dom.find("article", "site")
    check(len(sites) >= 2, f"leaky: {len(sites)} site rows")
    conn = [s for s in sites if s.attrs.get("data-fn") == "conn_new"]
    if check(conn, "leaky: no site row at conn_new"):
        s = conn[0]
        hit = s.find("span", "hit")
        check(hit and "alloc(" in hit[0].all_text(), "leaky: conn_new's source line is not shown")
        cap = s.find("figcaption")
        check(cap and "cases/global_list/leaky.c:" in cap[0].all_text(), "leaky: the source is not cases/global_list/leaky.c")
        check("per connection" in s.all_text(), "leaky: no growth per connection")
        held = s.find("div", "held")
        check(held and held[0].attrs.get("data-root-kind") == "global", "leaky: the holder is not a global")
        root = held[0].find("li", "root") if held else []
        check(root and "all_conns" in root[0].all_text(), "leaky: the holder is not all_conns")
        check(held and len(held[0].find("li", "node")) >= 2, "leaky: held by is not a path")
    banner(os.path.join(shots, "leaky.png"), "leaky", "red")


def clean_page(lc, build, shots, work):
    """The fixed variant through a link named with every character HTML needs escaped."""
    odd = os.path.join(work, "a<b>&\"q'", "fixed")
    os.makedirs(os.path.dirname(odd))
    os.symlink(os.path.join(build, "cases/global_list/fixed"), odd)
    page = os.path.join(work, "clean.html")
    run = leakcheck(lc, page, odd, "--every", "25")
    check(run.returncode == 0, f"clean: exit {run.returncode}, not 0: {run.stdout}{run.stderr}")
    dom = render(page, os.path.join(shots, "clean.png"))
    h1 = dom.find("h1", None, id="verdict")
    check(h1 and h1[0].attrs.get("data-verdict") == "clean", "clean: the verdict is not clean")
    check(not dom.find("article", "site"), "clean: site rows on a clean page")
    check("No allocation site grew" in dom.all_text(), "clean: no word on the sites")
    kinds = [k for k, _, _ in points(dom, "clean")]
    check(kinds.count("round") == 3 and kinds.count("every") >= 20, f"clean: points {kinds}")
    cmd = dom.find("code", "cmd")
    check(cmd and "a<b>&\"q" in cmd[0].all_text(), "clean: the command is not shown as text")
    check(cmd and not cmd[0].children and not dom.find("b"), "clean: the server's name became markup")
    banner(os.path.join(shots, "clean.png"), "clean", "green")


def native_page(lc, build, shots, work):
    page = os.path.join(work, "native.html")
    run = leakcheck(lc, page, os.path.join(build, "cases/global_list/leaky"), "--native")
    check(run.returncode == 1, f"native: exit {run.returncode}, not 1")
    dom = render(page, os.path.join(shots, "native.png"))
    h1 = dom.find("h1", None, id="verdict")
    check(h1 and h1[0].attrs.get("data-verdict") == "leak", "native: the verdict is not LEAK")
    # the allocator preload counts blocks per site, as memcheck does: sites and holders, no
    # detection limit (that is the pages measure's); nothing on the page says otherwise
    sites = dom.find("article", "site")
    check(sites and sites[0].attrs.get("data-fn") == "conn_new", "native: no site card for conn_new")
    check("all_conns" in dom.all_text(), "native: the holder all_conns is not named")
    check("detection limit" not in dom.all_text(), "native: a detection limit under the allocator measure")
    check("no allocation sites" not in dom.all_text(), "native: the page says there are no sites")
    check(len(points(dom, "native")) == 4, "native: want 4 points (baseline, 3 rounds)")


def scroll_width(page, width):
    """The page's laid-out width in a window width px wide (a copy that writes it in its title)."""
    probe = page + ".width.html"
    with open(page) as f, open(probe, "w") as out:
        out.write(f.read() + "<script>document.title='w=' + document.documentElement.scrollWidth</script>")
    dom = parse(chromium(probe, "--dump-dom", "--window-size=%d,800" % width).stdout)
    os.unlink(probe)
    title = dom.find("title")
    text = title[0].all_text() if title else ""
    return int(text[2:]) if text.startswith("w=") else -1


def demo_index(build, shots, work):
    demo = os.path.join(build, "harness", "leakcheck-demo")
    if not check(os.path.exists(demo), f"{demo} is not built (make check builds it)"):
        return
    out = os.path.join(work, "demo")
    run = subprocess.run([demo, "--html", out, os.path.join(build, "cases/global_list/leaky"),
                          os.path.join(build, "cases/global_list/fixed"),
                          os.path.join(build, "cases/mutual_refs/leaky")],
                         capture_output=True, text=True, timeout=600)
    page = os.path.join(out, "index.html")
    if not check(run.returncode == 0 and os.path.exists(page), f"leakcheck-demo: status {run.returncode}: "
                 f"{run.stdout[-600:]}{run.stderr[-400:]}"):
        return
    dom = parse(open(page).read())
    heads = [th.all_text() for th in dom.find("th")]
    check(heads.count("held by") == 2, f"demo index: {heads.count('held by')} 'held by' columns, not one per engine")
    rows = {}
    for tr in dom.find("tr"):
        cells = [td for td in tr.children if td.tag == "td"]
        if len(cells) > 2:
            rows[cells[0].all_text() + "/" + cells[1].all_text()] = [c for c in cells if "holder" in c.classes()]
    held = rows.get("global_list/leaky", [])
    check([c.all_text() for c in held] == ["all_conns", "all_conns"],
          f"demo index: global_list/leaky held by {[c.all_text() for c in held]}, not all_conns in both engines")
    cycle = [c.all_text() for c in rows.get("mutual_refs/leaky", [])]
    check(len(cycle) == 2 and "-" not in cycle, f"demo index: mutual_refs/leaky held by {cycle} in the two engines")
    width = scroll_width(page, 1280)
    check(0 < width <= 1280, f"demo index: {width} px wide in a 1280 px window")
    chromium(page, "--screenshot=" + os.path.join(shots, "demo-index.png"), "--window-size=1280,800")


def error_pages(lc, work):
    page = os.path.join(work, "error.html")
    run = leakcheck(lc, page, os.path.join(work, "no-such-server"))
    check(run.returncode == 2, f"error: exit {run.returncode}, not 2")
    check(os.path.exists(page) and 'data-verdict="error"' in open(page).read(), "error: no page for verdict error")
    bad = os.path.join(work, "no-such-dir", "x.html")
    run = leakcheck(lc, bad, os.path.join(work, "no-such-server"))
    check(run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "--html" in run.stderr,
          f"bad path: want one line naming --html and exit 2, got {run.returncode}: {run.stderr!r}")
    check(not os.path.exists(os.path.dirname(bad)), "bad path: something was left behind")
    left = [f for f in os.listdir(work) if ".html." in f]
    check(not left, f"temp files left: {left}")


def exit_on_signal(sig, frame):
    """SIGTERM or SIGHUP (a runner stopping us): exit through the finally blocks, which remove
    what this run made; a dir a SIGKILL leaves is named lc-test-PID-*, for the next C test
    runner's sweep (tests/support/support.h)."""
    sys.exit(128 + sig)


def main():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, exit_on_signal)
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lc, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("chromium"):
        sys.exit("html.py: no chromium on PATH (ci/install-deps installs it)")
    shots = os.path.join(build, "html-shots")
    os.makedirs(shots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lc-test-%d-html-" % os.getpid())
    try:
        leaky_page(lc, build, shots, work)
        clean_page(lc, build, shots, work)
        native_page(lc, build, shots, work)
        error_pages(lc, work)
        demo_index(build, shots, work)
        for name in ("leaky", "clean", "native"):  # the pages beside their screenshots
            if os.path.exists(os.path.join(work, name + ".html")):
                shutil.copy(os.path.join(work, name + ".html"), shots)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"html: {len(failures)} failure(s); screenshots in {shots}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
