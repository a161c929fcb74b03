"""An extract worker that dies on the page of article 2, as a worker does when the parser
crashes, and hangs on article 3's (``pipeline.extract.workers.COMMAND`` in a test)."""

import os
import pickle
import sys
import time

from pipeline.extract.article import extract_page

while True:
    try:
        body, content_type, item = pickle.load(sys.stdin.buffer)
    except EOFError:
        break
    if str(item["url"]).endswith("/2"):
        print("Fatal Python error: Segmentation fault", file=sys.stderr, flush=True)
        os._exit(1)
    if str(item["url"]).endswith("/3"):
        time.sleep(60)
    pickle.dump(extract_page(body, content_type, **item), sys.stdout.buffer)
    sys.stdout.buffer.flush()
