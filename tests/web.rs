//! The server-rendered pages over real HTTP, with scripting off: what the
//! HTML holds, the forms' errors in the API's words, the redirects, who
//! may see what, and the CSRF check on every form.

mod common;

use common::{email, Client, Opts, Server};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

/// A browser with scripting off: a cookie jar, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
}

/// A response, read.
struct Page {
    status: StatusCode,
    location: Option<String>,
    content_type: String,
    csp: Option<String>,
    body: String,
}

impl Page {
    /// Asserts a 303 to `to`.
    #[track_caller]
    fn redirects_to(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        assert_eq!(self.location.as_deref(), Some(to));
    }

    /// Asserts an HTML page with `status` that contains `text`.
    #[track_caller]
    fn shows(&self, status: StatusCode, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, "text/html; charset=utf-8");
        assert!(self.body.contains(text), "{text:?} not in:\n{}", self.body);
    }

    /// The value of the first hidden field `name`.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body))
            + marker.len();
        let len = self.body[start..].find('"').expect("a closing quote");
        self.body[start..start + len].to_owned()
    }
}

impl Browser {
    fn new(server: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: server.url.clone(),
        }
    }

    async fn read(res: reqwest::Response) -> Page {
        let header_of = |name: header::HeaderName| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let location = header_of(header::LOCATION);
        let content_type = header_of(header::CONTENT_TYPE).unwrap_or_default();
        let csp = header_of(header::CONTENT_SECURITY_POLICY);
        Page {
            status: res.status(),
            location,
            content_type,
            csp,
            body: res.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let res = self.http.get(format!("{}{path}", self.base)).send().await;
        Self::read(res.expect("GET")).await
    }

    /// POSTs `fields` as a form, as they are (no CSRF token added).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await;
        Self::read(res.expect("POST")).await
    }

    /// Fills in the form that `page` shows: its CSRF token and `fields`.
    async fn submit(&self, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = page.hidden("csrf");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Opens `path` and submits its form to `action` with `fields`.
    async fn fill(&self, path: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(path).await;
        self.submit(&page, action, fields).await
    }

    /// Signs up `email` through the sign-up form.
    async fn sign_up(&self, email: &str) {
        let fields = [("email", email), ("password", "password123")];
        self.fill("/auth/signup", "/auth/signup", &fields)
            .await
            .redirects_to("/");
    }
}

/// A node whose admin is `admin`.
fn with_admin(admin: &str) -> Server {
    Server::with(Opts {
        extra_env: vec![("BOXOFFICE_ADMINS".into(), admin.into())],
        ..Opts::default()
    })
}

#[tokio::test]
async fn the_list_is_rendered_on_the_server_and_forms_refuse_forged_posts() {
    let server = Server::start();
    let seller = server.client();
    seller.sign_up(&email("seller")).await;
    for i in 0..26 {
        seller
            .create_ticket(&format!("Gig number {i}"), json!(10.5))
            .await;
    }
    seller.create_ticket("Opera <b>night</b>", json!(20)).await;
    let anon = Browser::new(&server);

    // The first page: the HTML holds the tickets, their prices in the
    // API's format, a link to each, and a next page.
    let home = anon.get("/").await;
    home.shows(StatusCode::OK, "Gig number 0");
    assert!(home.body.contains("<td class=\"price\">10.50</td>"));
    assert!(home.body.contains("href=\"/tickets/"));
    assert!(home.body.contains("data-ticket-id=\""));
    let csp = home.csp.as_deref().expect("a Content-Security-Policy");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(!home.body.contains("<script>"), "no inline script");
    let start = home.body.find("href=\"/?after=").expect("a next page") + 6;
    let next = &home.body[start..start + home.body[start..].find('"').unwrap()];
    let second = anon.get(&next.replace("&#38;", "&")).await;
    second.shows(StatusCode::OK, "Opera &#60;b&#62;night&#60;/b&#62;");
    assert!(!second.body.contains("Gig number 0<"));

    // Search, escaped.
    let found = anon.get("/?q=oper").await;
    found.shows(StatusCode::OK, "Opera &#60;b&#62;night");
    assert!(!found.body.contains("<b>"), "escaped");
    assert!(!found.body.contains("Gig number"));
    let bad = anon.get("/?after=nonsense").await;
    bad.shows(StatusCode::BAD_REQUEST, "after must be a cursor");

    // Unknown paths: HTML for pages, the JSON error under /api.
    anon.get("/no/such/page")
        .await
        .shows(StatusCode::NOT_FOUND, "There is no page here.");
    let api = anon.get("/api/no-such-route").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&api.body).expect("JSON");
    assert_eq!(body["errors"][0]["message"], "Route not found");
    anon.get(&format!("/tickets/{}", uuid::Uuid::now_v7()))
        .await
        .shows(StatusCode::NOT_FOUND, "Ticket not found");

    Browser::new(&server)
        .get("/tickets/%FF")
        .await
        .shows(StatusCode::NOT_FOUND, "Not found");

    // The stylesheet and the script, from the binary, cached for long
    // (and so never with a cookie).
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
    ] {
        let res = anon.http.get(format!("{}{path}", anon.base)).send().await;
        let res = res.unwrap();
        assert!(res.headers().get(header::SET_COOKIE).is_none(), "{path}");
        let cache = res.headers()[header::CACHE_CONTROL].to_str().unwrap();
        assert!(cache.contains("max-age=31536000"), "{path}: {cache}");
        let res = Browser::read(res).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.content_type.starts_with(kind), "{path}");
        assert!(home.body.contains(&format!("{path}?v=")), "{path} linked");
    }

    // Signed-out visitors are sent to sign in.
    for path in ["/tickets/new", "/orders", "/admin/coupons", "/admin/users"] {
        anon.get(path).await.redirects_to("/auth/signin");
    }

    // A form without its token, or with another's, does nothing.
    let fields = [("email", "x@example.com"), ("password", "password123")];
    anon.post("/auth/signup", &fields)
        .await
        .shows(StatusCode::FORBIDDEN, "This form has expired");
    let mut forged = vec![("csrf", "00".repeat(32))];
    forged.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    anon.post("/auth/signup", &forged)
        .await
        .shows(StatusCode::FORBIDDEN, "This form has expired");
    // A token from another browser is someone else's.
    let other = Browser::new(&server);
    let theirs = other.get("/auth/signup").await;
    anon.get("/auth/signup").await;
    anon.submit(&theirs, "/auth/signup", &fields)
        .await
        .shows(StatusCode::FORBIDDEN, "This form has expired");
}

#[tokio::test]
async fn sign_up_in_and_out_through_the_forms() {
    let server = Server::start();
    let me = Browser::new(&server);
    let address = email("pages");

    let page = me.get("/auth/signup").await;
    page.shows(StatusCode::OK, "name=\"email\"");
    assert!(page.body.contains("name=\"password\""));
    let bad = me
        .submit(
            &page,
            "/auth/signup",
            &[("email", "nope"), ("password", "short")],
        )
        .await;
    bad.shows(StatusCode::BAD_REQUEST, "Email must be valid");
    assert!(bad
        .body
        .contains("Password must be between 8 and 128 characters"));
    assert!(
        bad.body.contains("value=\"nope\""),
        "the email is shown again"
    );

    me.sign_up(&address).await;
    let home = me.get("/").await;
    home.shows(StatusCode::OK, "Sell tickets");
    assert!(home.body.contains("My orders") && home.body.contains("Sign out"));
    assert!(!home.body.contains("/admin/coupons"), "not an admin");

    let again = Browser::new(&server);
    let taken = again
        .fill(
            "/auth/signup",
            "/auth/signup",
            &[("email", &address), ("password", "password123")],
        )
        .await;
    taken.shows(StatusCode::BAD_REQUEST, "Email in use");

    let wrong = again
        .fill(
            "/auth/signin",
            "/auth/signin",
            &[("email", &address), ("password", "wrong-password")],
        )
        .await;
    wrong.shows(StatusCode::BAD_REQUEST, "Invalid credentials");
    let empty = again
        .submit(
            &wrong,
            "/auth/signin",
            &[("email", &address), ("password", "")],
        )
        .await;
    empty.shows(StatusCode::BAD_REQUEST, "You must supply a password");
    again
        .submit(
            &empty,
            "/auth/signin",
            &[("email", &address), ("password", "password123")],
        )
        .await
        .redirects_to("/");
    again
        .get("/orders")
        .await
        .shows(StatusCode::OK, "My orders");

    // Sign out: GET asks, the POST does it.
    let confirm = me.get("/auth/signout").await;
    confirm.shows(StatusCode::OK, "Sign out of this browser?");
    me.submit(&confirm, "/auth/signout", &[])
        .await
        .redirects_to("/");
    me.get("/orders").await.redirects_to("/auth/signin");
    me.get("/").await.shows(StatusCode::OK, "Sign in");
    // The other browser's session goes on.
    again
        .get("/orders")
        .await
        .shows(StatusCode::OK, "My orders");

    // Too many failures: the API's 429 and its words, with Retry-After.
    let guesser = Browser::new(&server);
    let target = email("target");
    let mut page = guesser.get("/auth/signin").await;
    for _ in 0..10 {
        page = guesser
            .submit(
                &page,
                "/auth/signin",
                &[("email", &target), ("password", "guess-guess")],
            )
            .await;
        page.shows(StatusCode::BAD_REQUEST, "Invalid credentials");
    }
    let res = guesser
        .http
        .post(format!("{}/auth/signin", guesser.base))
        .form(&[
            ("csrf", page.hidden("csrf").as_str()),
            ("email", &target),
            ("password", "guess-guess"),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    Browser::read(res)
        .await
        .shows(StatusCode::TOO_MANY_REQUESTS, "Too many failed attempts");
}

/// The order id an order page's address names.
fn order_of(location: &str) -> &str {
    location.strip_prefix("/orders/").expect("an order page")
}

#[tokio::test]
async fn sell_buy_and_pay_through_the_pages() {
    let server = Server::start();
    let seller = Browser::new(&server);
    seller.sign_up(&email("seller")).await;
    let buyer = Browser::new(&server);
    buyer.sign_up(&email("buyer")).await;
    let other = Browser::new(&server);
    other.sign_up(&email("other")).await;

    // Selling: the API's words for bad input, then the ticket's page.
    let form = seller.get("/tickets/new").await;
    form.shows(StatusCode::OK, "name=\"title\"");
    let bad = seller
        .submit(&form, "/tickets/new", &[("title", ""), ("price", "-5")])
        .await;
    bad.shows(StatusCode::BAD_REQUEST, "Title is required");
    assert!(
        bad.body.contains("Price must be greater than 0"),
        "{}",
        bad.body
    );
    let created = seller
        .submit(
            &bad,
            "/tickets/new",
            &[("title", "Jazz Night"), ("price", "25")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let ticket_path = created.location.clone().expect("the ticket's page");
    assert!(ticket_path.starts_with("/tickets/"));

    // The seller may edit it (the API's words when wrong), not buy it.
    let mine = seller.get(&ticket_path).await;
    mine.shows(StatusCode::OK, "Jazz Night");
    assert!(mine.body.contains("id=\"edit-form\""));
    assert!(!mine.body.contains("id=\"purchase-form\""));
    let edit = format!("{ticket_path}/edit");
    seller
        .submit(&mine, &edit, &[("title", "Jazz Night"), ("price", "1.234")])
        .await
        .shows(StatusCode::BAD_REQUEST, "at most 2 decimals");

    // A buyer sees it available with a Purchase form.
    let shown = buyer.get(&ticket_path).await;
    shown.shows(StatusCode::OK, "Available");
    assert!(shown.body.contains("id=\"purchase-form\""));
    assert!(shown
        .body
        .contains("Price: <span id=\"ticket-price\">25.00</span>"));

    // The seller changes the price meanwhile: the buyer is told, nothing held.
    seller
        .submit(&mine, &edit, &[("title", "Jazz Night"), ("price", "30.5")])
        .await
        .redirects_to(&ticket_path);
    let purchase = format!("{ticket_path}/purchase");
    let key = shown.hidden("key");
    let stale = buyer
        .submit(&shown, &purchase, &[("price", "25"), ("key", &key)])
        .await;
    stale.shows(
        StatusCode::CONFLICT,
        "Price changed: the ticket now costs 30.50",
    );

    // Purchase at the price shown now: the order page and its countdown.
    let bought = buyer
        .submit(&stale, &purchase, &[("price", "30.5"), ("key", "buy-1")])
        .await;
    assert_eq!(bought.status, StatusCode::SEE_OTHER, "{}", bought.body);
    let order_path = bought.location.clone().expect("the order's page");
    let order = buyer.get(&order_path).await;
    order.shows(StatusCode::OK, "Time left to pay: ");
    assert!(order.body.contains("id=\"countdown\" data-seconds-left=\""));
    // The same form sent twice is one order.
    let twice = buyer
        .submit(&stale, &purchase, &[("price", "30.5"), ("key", "buy-1")])
        .await;
    twice.redirects_to(&order_path);

    // Held: others are told to come back later; the order is not theirs.
    let held = other.get(&ticket_path).await;
    held.shows(
        StatusCode::OK,
        "This ticket is being checked out by someone else, come back later",
    );
    assert!(held.body.contains("id=\"purchase-form\"") && held.body.contains(" hidden>"));
    buyer.get(&ticket_path).await.shows(
        StatusCode::OK,
        &format!("Held for you: <a href=\"{order_path}\">"),
    );
    other
        .get(&order_path)
        .await
        .shows(StatusCode::NOT_FOUND, "Not found");
    let theirs = other.get("/orders").await;
    let pay = format!("{order_path}/pay");
    other
        .submit(&theirs, &pay, &[("token", "tok_visa")])
        .await
        .shows(StatusCode::NOT_FOUND, "Not found");

    // A declined card: its message on the order page, still payable.
    let declined = buyer
        .submit(&order, &pay, &[("token", "tok_chargeDeclined")])
        .await;
    declined.shows(StatusCode::BAD_REQUEST, "Your card was declined.");
    assert!(declined.body.contains("id=\"pay-form\""));
    let no_card = buyer.submit(&declined, &pay, &[("token", "")]).await;
    no_card.shows(StatusCode::BAD_REQUEST, "token is required");

    // Paid: back to the order, complete; the ticket sold.
    buyer
        .submit(&no_card, &pay, &[("token", "tok_visa")])
        .await
        .redirects_to(&order_path);
    let paid = buyer.get(&order_path).await;
    paid.shows(StatusCode::OK, "this order is complete");
    assert!(!paid.body.contains("id=\"pay-form\""));
    other.get(&ticket_path).await.shows(StatusCode::OK, "Sold");
    let orders = buyer.get("/orders").await;
    orders.shows(StatusCode::OK, "Jazz Night");
    assert!(orders.body.contains(order_of(&order_path)));
    assert!(orders.body.contains("<td class=\"status\">complete</td>"));
}

#[tokio::test]
async fn admins_make_coupons_and_ban_through_the_pages() {
    let admin_email = email("admin");
    let server = with_admin(&admin_email);
    let admin = Browser::new(&server);
    admin.sign_up(&admin_email).await;
    let user_email = email("user");
    let user = Browser::new(&server);
    user.sign_up(&user_email).await;

    // Only admins: others are refused.
    for path in ["/admin/coupons", "/admin/users"] {
        user.get(path)
            .await
            .shows(StatusCode::FORBIDDEN, "Admins only");
    }
    let home = admin.get("/").await;
    assert!(home.body.contains("/admin/coupons") && home.body.contains("/admin/users"));

    // A coupon: the API's fields and words, then in the list.
    let coupons = admin.get("/admin/coupons").await;
    coupons.shows(StatusCode::OK, "New coupon");
    let bad = admin
        .submit(
            &coupons,
            "/admin/coupons",
            &[("code", "FREE"), ("maxRedemptions", "1.5")],
        )
        .await;
    bad.shows(
        StatusCode::BAD_REQUEST,
        "percentOff or amountOff is required",
    );
    assert!(bad
        .body
        .contains("maxRedemptions must be a whole number from 1 to"));
    let forbidden = user
        .fill(
            "/orders",
            "/admin/coupons",
            &[
                ("code", "MINE"),
                ("percentOff", "100"),
                ("maxRedemptions", "1"),
            ],
        )
        .await;
    forbidden.shows(StatusCode::FORBIDDEN, "Admins only");
    admin
        .submit(
            &bad,
            "/admin/coupons",
            &[
                ("code", "free"),
                ("percentOff", "100"),
                ("maxRedemptions", "5"),
            ],
        )
        .await
        .redirects_to("/admin/coupons");
    let listed = admin.get("/admin/coupons").await;
    listed.shows(StatusCode::OK, "data-coupon-code=\"FREE\"");
    assert!(listed.body.contains("100%") && listed.body.contains("0 of 5"));

    // The user pays with it and no card.
    let seller = Client::new(&server.url);
    seller.sign_up(&email("seller")).await;
    let ticket = seller.create_ticket("Ballet", json!(40)).await;
    let ticket_path = format!("/tickets/{}", ticket["id"].as_str().unwrap());
    let shown = user.get(&ticket_path).await;
    let bought = user
        .submit(
            &shown,
            &format!("{ticket_path}/purchase"),
            &[("price", "40")],
        )
        .await;
    let order_path = bought.location.clone().expect("an order");
    let order = user.get(&order_path).await;
    user.submit(
        &order,
        &format!("{order_path}/pay"),
        &[("token", ""), ("coupon", "free")],
    )
    .await
    .redirects_to(&order_path);
    user.get(&order_path)
        .await
        .shows(StatusCode::OK, "this order is complete");

    // Ban: found by email, banned, signed out, and refused at sign-in.
    let users = admin.get("/admin/users?email=nope").await;
    users.shows(StatusCode::BAD_REQUEST, "Email must be valid");
    admin
        .get(&format!("/admin/users?email=x{user_email}"))
        .await
        .shows(StatusCode::NOT_FOUND, "Account not found");
    let found = admin.get(&format!("/admin/users?email={user_email}")).await;
    found.shows(StatusCode::OK, "<td id=\"account-status\">active</td>");
    let start = found.body.find("action=\"/admin/users/").unwrap() + 8;
    let ban = &found.body[start..start + found.body[start..].find('"').unwrap()];
    assert!(ban.ends_with("/ban"), "{ban}");
    let query = format!("/admin/users?email={}", user_email.replace('@', "%40"));
    admin
        .submit(&found, ban, &[("email", &user_email)])
        .await
        .redirects_to(&query);
    let banned = admin.get(&query).await;
    banned.shows(StatusCode::OK, "<td id=\"account-status\">banned</td>");
    user.get("/orders").await.redirects_to("/auth/signin");
    let refused = user
        .fill(
            "/auth/signin",
            "/auth/signin",
            &[("email", &user_email), ("password", "password123")],
        )
        .await;
    refused.shows(StatusCode::FORBIDDEN, "Account suspended");

    // An admin cannot ban themselves; unban lets the user back in.
    let own = admin
        .get(&format!("/admin/users?email={admin_email}"))
        .await;
    let start = own.body.find("action=\"/admin/users/").unwrap() + 8;
    let own_ban = &own.body[start..start + own.body[start..].find('"').unwrap()];
    admin
        .submit(&own, own_ban, &[("email", &admin_email)])
        .await
        .shows(
            StatusCode::BAD_REQUEST,
            "You cannot change your own account",
        );
    let unban = ban.replace("/ban", "/unban");
    admin
        .submit(&banned, &unban, &[("email", &user_email)])
        .await
        .redirects_to(&query);
    user.submit(
        &refused,
        "/auth/signin",
        &[("email", &user_email), ("password", "password123")],
    )
    .await
    .redirects_to("/");
}

#[tokio::test]
async fn pages_refused_by_the_router_get_html_and_the_api_keeps_json() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let html = |res: &reqwest::Response| {
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    };
    let res = http.put(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    assert!(html(&res));
    assert_eq!(
        res.headers()["allow"],
        "GET,HEAD",
        "what the page does take"
    );
    // A form announced over the limit: refused before its body is read.
    let addr = server.url.trim_start_matches("http://").to_owned();
    let head = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(
            b"POST /auth/signin HTTP/1.1\r\nhost: x\r\n\
              content-type: application/x-www-form-urlencoded\r\n\
              content-length: 1000000\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: text/html"),
        "{head}"
    );
    let res = http
        .put(format!("{}/api/tickets", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    assert!(!html(&res));
    assert_eq!(res.headers()["allow"], "GET,HEAD,POST");
}
