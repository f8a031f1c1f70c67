//! The marketplace in a real browser: headless Chromium from the machine's
//! packages (`chromium`, `chromium-driver`), driven through its chromedriver
//! with fantoccini, against the real binary. Nothing is downloaded.
//!
//! Without Chromium or chromedriver the test says so loudly and does
//! nothing, unless `BOXOFFICE_REQUIRE_BROWSER` is set (as `.ci/run` does),
//! when it fails instead.
//!
//! Every page it visits is photographed: into `target/tmp/screenshots/`,
//! or into `docs/screenshots/` (the README's pictures) when
//! `UPDATE_SCREENSHOTS` is set.

mod common;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{email, free_port, Opts, Server};
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::json;

/// A program on the PATH, by any of its names.
fn program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver, started on a loopback port; stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl Driver {
    fn start() -> Option<Self> {
        let driver = program(&["chromedriver"]);
        let chromium = program(&["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let why = "Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)";
            if std::env::var_os("BOXOFFICE_REQUIRE_BROWSER").is_some() {
                panic!("BOXOFFICE_REQUIRE_BROWSER is set, but {why}");
            }
            eprintln!(
                "\n{0}\nSKIPPED: the browser tests did not run: {why}\n{0}\n",
                "!".repeat(72)
            );
            return None;
        };
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        Some(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        })
    }

    /// A fresh browser: its own profile, so its own cookies.
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1200,900"],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                // chromedriver may not listen yet.
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session from chromedriver: {e}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser on one node, photographing as it goes.
struct Page<'a> {
    c: Client,
    base: &'a str,
}

impl Page<'_> {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn find(&self, css: &str) -> Element {
        match self
            .c
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.url().await),
        }
    }

    async fn url(&self) -> String {
        self.c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn fill(&self, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            let input = self.find(&format!("input[name={name}]")).await;
            input.clear().await.unwrap();
            input.send_keys(value).await.unwrap();
        }
    }

    /// Clicks `css` and waits for the page it leads to.
    async fn click(&self, css: &str) {
        let before = self.find("body").await;
        self.find(css).await.click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        // The old page's body goes stale once the next page has loaded.
        while before.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "{css} led nowhere");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.find("body").await;
    }

    /// Waits (without reloading) until `check` holds on the page as it is.
    async fn until(&self, what: &str, check: impl AsyncFn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !check(self).await {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn shows_ticket(&self, id: &str) -> bool {
        self.c
            .find_all(Locator::Css(&format!("#tickets tr[data-ticket-id='{id}']")))
            .await
            .is_ok_and(|rows| !rows.is_empty())
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.unwrap();
        let dir = match std::env::var_os("UPDATE_SCREENSHOTS") {
            Some(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
            None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn sign_up(&self, who: &str) {
        self.go("/auth/signup").await;
        self.fill(&[("email", who), ("password", "password123")])
            .await;
        self.click("main form button[type=submit]").await;
        self.find("nav").await;
    }

    /// Sells a ticket; its id.
    async fn sell(&self, title: &str, price: &str) -> String {
        self.go("/tickets/new").await;
        self.fill(&[("title", title), ("price", price)]).await;
        self.click("main form button[type=submit]").await;
        self.find("#ticket")
            .await
            .attr("data-ticket-id")
            .await
            .unwrap()
            .unwrap()
    }

    /// Buys the ticket from its page; lands on the order.
    async fn buy(&self, ticket: &str) {
        self.go(&format!("/tickets/{ticket}")).await;
        self.click("#purchase-form button[type=submit]").await;
        self.find("#order").await;
    }

    async fn order_status(&self) -> String {
        self.find("#order-status")
            .await
            .attr("data-status")
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn sell_watch_buy_and_pay_in_chromium() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let boss = email("browser-admin");
    let server = Server::with(Opts {
        extra_env: vec![("BOXOFFICE_ADMINS".into(), boss.clone())],
        ..Opts::default()
    });
    let seller = Page {
        c: driver.browser().await,
        base: &server.url,
    };
    let buyer = Page {
        c: driver.browser().await,
        base: &server.url,
    };

    // Sign up, as the pages ask; a bad email is refused beside its field.
    seller.go("/auth/signup").await;
    seller
        .fill(&[("email", "not an email"), ("password", "password123")])
        .await;
    seller.click("main form button[type=submit]").await;
    assert_eq!(seller.text("#email-error").await, "Email must be valid");
    seller.shot("signup-error").await;
    seller.sign_up(&email("browser-seller")).await;
    buyer.sign_up(&email("browser-buyer")).await;

    // The buyer watches the list; the seller sells; the row appears live.
    buyer.go("/").await;
    buyer.find("#tickets").await;
    seller.go("/tickets/new").await;
    seller
        .fill(&[("title", "Front row, night one"), ("price", "49.90")])
        .await;
    seller.shot("sell").await;
    seller.click("main form button[type=submit]").await;
    let ticket = seller
        .find("#ticket")
        .await
        .attr("data-ticket-id")
        .await
        .unwrap()
        .unwrap();
    seller.shot("ticket").await;
    buyer
        .until("the new ticket shows up on the buyer's list", async |p| {
            p.shows_ticket(&ticket).await
        })
        .await;
    buyer.shot("list").await;

    // The seller now watches the list; the buyer buys; it leaves the list.
    seller.go("/").await;
    assert!(seller.shows_ticket(&ticket).await);
    buyer
        .click(&format!("#tickets tr[data-ticket-id='{ticket}'] a"))
        .await;
    assert_eq!(buyer.text("#ticket-state").await, "Available");
    buyer.click("#purchase-form button[type=submit]").await;
    let first = buyer.text("#countdown").await;
    assert!(first.starts_with("Time left to pay: "), "{first}");
    buyer
        .until("the countdown counts down", async |p| {
            p.text("#countdown").await != first
        })
        .await;
    buyer.shot("order").await;
    seller
        .until("the held ticket leaves the seller's list", async |p| {
            !p.shows_ticket(&ticket).await
        })
        .await;
    seller.go(&format!("/tickets/{ticket}")).await;
    assert_eq!(
        seller.text("#ticket-state").await,
        "This ticket is being checked out by someone else, come back later"
    );

    // Pay with a test card: complete.
    buyer.fill(&[("token", "tok_visa")]).await;
    buyer.click("#pay-form button[type=submit]").await;
    assert_eq!(buyer.order_status().await, "complete");
    buyer.shot("paid").await;
    buyer.go("/orders").await;
    buyer.find("#orders").await;
    buyer.shot("orders").await;

    // A declined card says so on the order, which stays payable.
    let second = seller.sell("Balcony, night two", "30").await;
    buyer.buy(&second).await;
    buyer.fill(&[("token", "tok_chargeDeclined")]).await;
    buyer.click("#pay-form button[type=submit]").await;
    let page = buyer.find("#order").await.text().await.unwrap();
    assert!(page.contains("Your card was declined."), "{page}");
    assert_eq!(buyer.order_status().await, "created");
    buyer.shot("declined").await;

    // An admin makes a free coupon; the buyer pays with it and no card.
    let admin = Page {
        c: driver.browser().await,
        base: &server.url,
    };
    admin.sign_up(&boss).await;
    admin.go("/admin/coupons").await;
    admin
        .fill(&[
            ("code", "ON-THE-HOUSE"),
            ("percentOff", "100"),
            ("maxRedemptions", "1"),
        ])
        .await;
    admin.click("#coupon-form button[type=submit]").await;
    admin.find("[data-coupon-code='ON-THE-HOUSE']").await;
    admin.shot("coupons").await;
    let third = seller.sell("Standing, night three", "12.50").await;
    buyer.buy(&third).await;
    buyer.fill(&[("coupon", "on-the-house")]).await;
    buyer.click("#pay-form button[type=submit]").await;
    assert_eq!(buyer.order_status().await, "complete");
    buyer.shot("paid-with-coupon").await;

    buyer.go("/").await;
    buyer.shot("home").await;
    for page in [seller, buyer, admin] {
        page.c.close().await.unwrap();
    }

    // On a node whose holds last 10 seconds, the countdown reaches its end
    // and says so, and the pay form goes away.
    let brief = Server::with(Opts {
        order_ttl_secs: 10,
        ..Opts::default()
    });
    let seller = Page {
        c: driver.browser().await,
        base: &brief.url,
    };
    let buyer = Page {
        c: driver.browser().await,
        base: &brief.url,
    };
    seller.sign_up(&email("brief-seller")).await;
    buyer.sign_up(&email("brief-buyer")).await;
    let ticket = seller.sell("Last call", "5").await;
    buyer.buy(&ticket).await;
    buyer
        .until("the countdown reaches the deadline", async |p| {
            p.text("#countdown").await == "Order expired"
        })
        .await;
    let pay = buyer.find("#pay-form").await;
    assert!(
        !pay.is_displayed().await.unwrap(),
        "no paying after the deadline"
    );
    buyer.shot("expired").await;
    for page in [seller, buyer] {
        page.c.close().await.unwrap();
    }
}
