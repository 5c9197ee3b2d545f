#!/usr/bin/env python3
"""tests/scripts/readmes.py ROOT: the READMEs stay short and say each thing once.

Checks README.md, cases/README.md and every cases/*/README.md under ROOT:
  - no paragraph twice, within one README or across them. A paragraph is a block of lines
    between blank lines, outside fenced code blocks (```), indented code blocks, generated
    transcripts (<!-- transcript: NAME --> ... <!-- /transcript -->) and headings, of more
    than one sentence; whitespace is normalised before comparing;
  - README.md at most 300 lines; each case README (and cases/README.md) at most 300 lines
    outside <details> ... </details> blocks (where the full transcripts are folded).
Prints each failure (file, line, the paragraph's start) and exits 1; 0 when all pass.
"""
import glob
import os
import re
import sys

LIMIT = 300
TRANSCRIPT_OPEN = re.compile(r"^<!-- transcript: \S+ -->\s*$")
TRANSCRIPT_CLOSE = re.compile(r"^<!-- /transcript -->\s*$")
# A sentence ends at . ! or ? (after any closing quote, bracket or markup) and more text follows.
SENTENCE_END = re.compile(r"[.!?][)\"'*_`\]]*\s+\S")


def paragraphs(text):
    """(line number, normalised text) of every paragraph outside code and transcripts."""
    out, block, start = [], [], 0
    fence = transcript = False

    def flush():
        if block and not all(l.startswith(("    ", "\t")) for l in block):  # indented code
            out.append((start, " ".join(" ".join(block).split())))
        block.clear()

    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if transcript:
            transcript = not TRANSCRIPT_CLOSE.match(s)
            continue
        if TRANSCRIPT_OPEN.match(s):
            flush()
            transcript = True
            continue
        if s.startswith("```"):
            flush()
            fence = not fence
            continue
        if fence:
            continue
        if not s or s.startswith("#") or re.match(r"^</?(details|summary)\b", s):
            flush()
            continue
        if not block:
            start = n
        block.append(line)
    flush()
    return [(n, p) for n, p in out if SENTENCE_END.search(p)]


def lines_outside_details(text):
    n, inside = 0, False
    for line in text.splitlines():
        if re.match(r"^\s*<details\b", line):
            inside = True
        if not inside:
            n += 1
        if re.match(r"^\s*</details>", line):
            inside = False
    return n


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[0])
    root = os.path.abspath(sys.argv[1])
    files = [os.path.join(root, "README.md"), os.path.join(root, "cases", "README.md")]
    files += sorted(glob.glob(os.path.join(root, "cases", "*", "README.md")))
    bad = 0
    seen = {}  # normalised paragraph -> (file, line)
    for path in files:
        rel = os.path.relpath(path, root)
        text = open(path, encoding="utf-8").read()
        if rel == "README.md":
            count, what = len(text.splitlines()), "lines"
        else:
            count, what = lines_outside_details(text), "lines outside <details>"
        if count > LIMIT:
            print("FAIL: %s: %d %s, more than %d" % (rel, count, what, LIMIT))
            bad += 1
        for n, p in paragraphs(text):
            if p in seen:
                print("FAIL: %s:%d repeats the paragraph of %s:%d: %s%s"
                      % (rel, n, seen[p][0], seen[p][1], p[:120], "..." if len(p) > 120 else ""))
                bad += 1
            else:
                seen[p] = (rel, n)
    if bad:
        return 1
    print("readmes: %d READMEs, %d paragraphs, none repeated; line counts within %d"
          % (len(files), len(seen), LIMIT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
