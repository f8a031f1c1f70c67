#!/usr/bin/env python3
"""HTTP checks against a running boxoffice cluster (used by docker-test.sh).

  cluster_check.py setup    URL0,URL1,URL2 STATE      sign up, sell, rush BUYs
  cluster_check.py down     URL_ALIVE STATE NODE      NODE's tickets 503 within 2 s, others fine
  cluster_check.py verify   URL0,URL1,...  STATE      no ticket has two live orders
Standard library only. Talks only to the URLs it is given.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request

ADMIN = {"authorization": "Bearer docker-test-admin-token"}


def call(base, method, path, body=None, cookie=None, headers=None, timeout=10):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if cookie:
        req.add_header("cookie", cookie)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            return res.status, json.loads(raw or b"null"), res.headers.get("set-cookie")
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw or b"null"), None


def session(base, email, signup=False):
    path = "/api/users/signup" if signup else "/api/users/signin"
    status, body, cookie = call(base, "POST", path, {"email": email, "password": "docker test pw"})
    assert status in (200, 201), (status, body)
    return cookie.split(";")[0]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def setup(urls, state_path):
    seller = "seller@docker.test"
    session(urls[0], seller, signup=True)
    tickets = []
    for i in range(9):
        base = urls[i % len(urls)]
        status, t, _ = call(base, "POST", "/api/tickets", {"title": f"Seat {i}", "price": 10},
                            session(base, seller))
        assert status == 201, t
        _, home, _ = call(base, "GET", f"/api/admin/placement?ticketId={t['id']}", headers=ADMIN)
        tickets.append({"id": t["id"], "home": home["node"]})
    buyers = [f"buyer{i}@docker.test" for i in range(6)]
    for i, b in enumerate(buyers):
        session(urls[i % len(urls)], b, signup=True)
    cookies = {(b, u): session(u, b) for b in buyers for u in urls}
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(len(tickets) * len(buyers))

    def buy(t, b, u):
        barrier.wait()
        status, body, _ = call(u, "POST", "/api/orders", {"ticketId": t["id"]}, cookies[(b, u)])
        with lock:
            results.append((t["id"], status, body))

    threads = [threading.Thread(target=buy, args=(t, b, urls[i % len(urls)]))
               for t in tickets for i, b in enumerate(buyers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in tickets:
        wins = [r for r in results if r[0] == t["id"] and r[1] == 201]
        other = [r for r in results if r[0] == t["id"] and r[1] not in (201, 400)]
        if len(wins) != 1 or other:
            fail(f"ticket {t['id']}: {len(wins)} winners, unexpected {other}")
    print(f"contention: {len(tickets)} tickets x {len(buyers)} buyers over {len(urls)} nodes -> one winner each")
    json.dump({"tickets": tickets, "buyers": buyers}, open(state_path, "w"))


def down(url, state_path, node):
    state = json.load(open(state_path))
    cookie = session(url, state["buyers"][0])
    for t in state["tickets"]:
        start = time.time()
        status, body, _ = call(url, "GET", f"/api/tickets/{t['id']}", cookie=cookie)
        took = time.time() - start
        expected = 503 if t["home"] == node else 200
        if status != expected or took >= 2:
            fail(f"ticket on {t['home']} via live node: {status} in {took:.2f}s, want {expected} < 2s: {body}")
    print(f"{node} unreachable: its tickets answer 503 within 2 s, the others 200")


def verify(urls, state_path):
    state = json.load(open(state_path))
    for url in urls:
        live = {}
        for b in state["buyers"]:
            status, orders, _ = call(url, "GET", "/api/orders", cookie=session(url, b))
            if status != 200:
                fail(f"orders list via {url}: {status} {orders}")
            for o in orders:
                if o["status"] in ("created", "complete"):
                    live[o["ticket"]["id"]] = live.get(o["ticket"]["id"], 0) + 1
        worst = max(live.values() or [0])
        if worst > 1:
            fail(f"a ticket has {worst} live orders (via {url})")
    print("invariant: no ticket has two live orders")


def wait_ready(urls, limit=60):
    deadline = time.time() + limit
    for url in urls:
        while True:
            try:
                status, _, _ = call(url, "GET", "/readyz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                fail(f"{url} not ready")
            time.sleep(0.3)


if __name__ == "__main__":
    cmd, urls = sys.argv[1], sys.argv[2].split(",")
    if cmd == "ready":
        wait_ready(urls)
    elif cmd == "setup":
        setup(urls, sys.argv[3])
    elif cmd == "down":
        down(urls[0], sys.argv[3], sys.argv[4])
    elif cmd == "verify":
        verify(urls, sys.argv[3])
    else:
        fail(f"unknown command {cmd}")
