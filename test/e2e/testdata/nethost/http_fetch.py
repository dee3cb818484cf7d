# python3's urllib fetching URL (a server outside the sandbox) and a
# missing page.
import sys
import urllib.error
import urllib.request

base = sys.argv[1]
with urllib.request.urlopen(base + "/index.txt", timeout=20) as r:
    print(r.status, r.read().decode(), end="")
try:
    urllib.request.urlopen(base + "/nope", timeout=20)
except urllib.error.HTTPError as e:
    print("missing:", e.code)
