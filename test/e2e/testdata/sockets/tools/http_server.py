# python3 -m http.server in a child process, fetched with urllib: the
# file and a 404.
import subprocess, sys, time, urllib.request, socket

# Find a free port, start python3 -m http.server on it, fetch a file.
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "www"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.txt", timeout=5) as r:
                print(r.status, r.read().decode().strip())
            break
        except OSError:
            time.sleep(0.05)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/missing", timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print("error", e.code)
finally:
    srv.terminate()
    srv.wait()
print("done")
