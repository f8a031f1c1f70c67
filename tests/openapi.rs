//! `GET /api/openapi.json`: an OpenAPI 3.1 document that describes exactly
//! the routes the router has, each with the uniform error body and the
//! security it needs. The routes are read from their one list, the router
//! in `src/http/mod.rs`, and probed on the running binary.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(METHOD, path)` for every route the router registers, read from the
/// `.route("path", get(..).post(..))` calls in `src/http/mod.rs`.
fn router_routes() -> BTreeSet<(String, String)> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs");
    let src = std::fs::read_to_string(file).expect("read src/http/mod.rs");
    // The one merge is the pages' router (src/web/mod.rs, handed in by
    // node.rs): pages, not API routes, so not documented; none of them may
    // be under /api.
    let pages = ".merge(pages)";
    assert_eq!(
        src.matches(pages).count(),
        1,
        "the pages' router, merged once"
    );
    let src = src.replace(pages, "");
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/mod.rs");
    let web = std::fs::read_to_string(web).expect("read src/web/mod.rs");
    for chunk in web.split(".route(\"").skip(1) {
        let (path, _) = chunk.split_once('"').expect("a route's path");
        assert!(!path.starts_with("/api"), "page route {path} is under /api");
    }
    for other in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(
            !src.contains(other),
            "the router uses `{other}`: teach this test to read those routes too"
        );
    }
    let mut routes = BTreeSet::new();
    for chunk in src.split(".route(\"").skip(1) {
        let (path, rest) = chunk.split_once('"').expect("a route's path");
        // The method router is what follows the path, up to the `)` that
        // closes `.route(`; its methods are the calls at the outer level:
        // `get(handler).post(handler)`.
        let mut depth = 0usize;
        let mut name = String::new();
        let mut methods = Vec::new();
        for c in rest.chars() {
            match c {
                '(' => {
                    if depth == 0 {
                        methods.push(std::mem::take(&mut name));
                    }
                    depth += 1;
                }
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                c if depth == 0 && (c.is_alphanumeric() || c == '_') => name.push(c),
                _ if depth == 0 => name.clear(),
                _ => {}
            }
        }
        assert!(!methods.is_empty(), "no methods read for route {path}");
        for m in methods {
            assert!(
                METHODS.contains(&m.as_str()),
                "route {path}: `{m}(..)` is not a method this test knows"
            );
            routes.insert((m.to_uppercase(), path.to_owned()));
        }
    }
    assert!(routes.len() > 10, "too few routes read: {routes:?}");
    routes
}

/// The operations the document describes, by `(METHOD, path)`.
fn documented(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                ops.insert((method.to_uppercase(), path.clone()), op.clone());
            }
        }
    }
    ops
}

/// Every `$ref` in `value` points into the document.
fn check_refs(doc: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref") {
                let r = r.as_str().expect("a $ref is a string");
                let pointer = r.strip_prefix('#').unwrap_or_else(|| {
                    panic!("{at}: $ref {r} is not local");
                });
                assert!(
                    doc.pointer(pointer).is_some(),
                    "{at}: $ref {r} points at nothing"
                );
            }
            for (k, v) in map {
                check_refs(doc, v, &format!("{at}/{k}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_refs(doc, v, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

const ERROR_BODY: &str = "#/components/schemas/ErrorBody";

#[tokio::test]
async fn the_document_describes_every_route_the_router_has() {
    let server = Server::start();

    let res = reqwest::get(format!("{}/api/openapi.json", server.url))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = res.json().await.unwrap();

    // OpenAPI 3.1, about this build.
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    assert_eq!(doc["info"]["title"], "boxoffice");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    check_refs(&doc, &doc, "#");

    // Exactly the router's routes.
    let routes = router_routes();
    let ops = documented(&doc);
    let keys: BTreeSet<_> = ops.keys().cloned().collect();
    assert_eq!(
        keys.difference(&routes).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented, but not routes of the router"
    );
    assert_eq!(
        routes.difference(&keys).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes of the router that the document leaves out"
    );

    // The security schemes: the session cookie, its JWT as a bearer token,
    // and the (different) admin bearer token.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["sessionCookie"]["type"], "apiKey");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "session");
    assert_eq!(schemes["bearerJwt"]["type"], "http");
    assert_eq!(schemes["bearerJwt"]["scheme"], "bearer");
    assert_eq!(schemes["bearerJwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["adminToken"]["type"], "http");
    assert_eq!(schemes["adminToken"]["scheme"], "bearer");

    let mut operation_ids = BTreeSet::new();
    for ((method, path), op) in &ops {
        let at = format!("{method} {path}");
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(operation_ids.insert(id.to_owned()), "{at}: {id} twice");

        // Each `{name}` of the path is a required path parameter.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path.split('{').skip(1).filter_map(|s| s.split_once('}')) {
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == name.0 && p["required"] == true),
                "{at}: path parameter {} undocumented",
                name.0
            );
        }

        // Every error a route documents has the uniform body, and every
        // route has at least one 4xx.
        let responses = op["responses"].as_object().expect("responses");
        let mut client_errors = 0;
        for (status, response) in responses {
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{at} {status}: x-request-id undocumented"
            );
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"], ERROR_BODY,
                    "{at} {status}: not the error body"
                );
                client_errors += usize::from(status.starts_with('4'));
            }
            if status == "503" {
                assert!(
                    response["headers"]["retry-after"].is_object(),
                    "{at}: 503 without Retry-After"
                );
            }
        }
        assert!(client_errors > 0, "{at}: no 4xx documented");

        // Who may call it.
        let security: Vec<Value> = op["security"].as_array().cloned().unwrap_or_default();
        let needs = |scheme: &str| security.iter().any(|s| s.get(scheme).is_some());
        if path.starts_with("/api/admin/") {
            assert_eq!(
                security,
                vec![serde_json::json!({"adminToken": []})],
                "{at}: admin routes take the admin token"
            );
            assert!(responses.contains_key("401") && responses.contains_key("403"));
        } else if responses.contains_key("401") {
            assert!(
                needs("sessionCookie") && needs("bearerJwt"),
                "{at}: signed-in, but no session security"
            );
            assert!(
                !security
                    .iter()
                    .any(|s| s.as_object().is_some_and(|o| o.is_empty())),
                "{at}: answers 401, so a session is not optional"
            );
        }
    }

    // The routes are live: neither the "Route not found" fallback nor 405.
    // Probing an unknown route shows what the fallback looks like.
    let http = reqwest::Client::new();
    let probe = async |method: &str, path: &str| -> (StatusCode, String) {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let res = http
            .request(m, format!("{}{path}", server.url))
            .send()
            .await
            .expect("request");
        let status = res.status();
        // A live stream never ends: its answer is its status.
        if res
            .headers()
            .get("content-type")
            .is_some_and(|t| t == "text/event-stream")
        {
            return (status, String::new());
        }
        (status, res.text().await.expect("body"))
    };
    let message = |body: &str| -> String {
        let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let (status, body) = probe("GET", "/api/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(message(&body), "Route not found");
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in &routes {
        let (status, body) = probe(method, &path.replace("{id}", &id)).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(message(&body), "Route not found", "{method} {path}");
    }
    // And a documented path has no methods beyond the documented ones.
    let paths: BTreeSet<&String> = routes.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let method = method.to_uppercase();
            if routes.contains(&(method.clone(), path.clone())) {
                continue;
            }
            let (status, body) = probe(&method, &path.replace("{id}", &id)).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(message(&body), "Method not allowed");
        }
    }
}
