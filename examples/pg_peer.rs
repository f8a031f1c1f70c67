//! The database-lock peer for the load benchmarks: the same signup, tickets
//! and orders routes the load tool uses, backed by PostgreSQL with the
//! usual `BEGIN; SELECT … FOR UPDATE; INSERT order; UPDATE ticket; COMMIT`
//! and `synchronous_commit = on` (so a 2xx is on disk, as with boxoffice).
//!
//!   scripts/pg-peer.sh start          # a throwaway PostgreSQL on loopback
//!   DATABASE_URL=postgres://boxoffice@127.0.0.1:55432/postgres \
//!     cargo run --release --example pg_peer -- 127.0.0.1:3200
//!
//! Sessions are the same HS256 JWTs as boxoffice's, passwords the same
//! argon2id, so only the reservation path differs.

use std::{net::SocketAddr, sync::Arc};

use argon2::{Argon2, PasswordHasher};
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use deadpool_postgres::{Manager, Pool};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
  id uuid PRIMARY KEY, email text UNIQUE NOT NULL, password_hash text NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
  id uuid PRIMARY KEY, title text NOT NULL, price_cents bigint NOT NULL,
  user_id uuid NOT NULL, version bigint NOT NULL DEFAULT 0, order_id uuid);
CREATE TABLE IF NOT EXISTS orders (
  id uuid PRIMARY KEY, user_id uuid NOT NULL, ticket_id uuid NOT NULL REFERENCES tickets(id),
  status text NOT NULL, expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS orders_by_user ON orders(user_id);
";

struct App {
    pool: Pool,
    key: &'static [u8],
}

#[derive(Serialize, Deserialize)]
struct Claims {
    id: Uuid,
    email: String,
    iat: u64,
    exp: u64,
}

type Shared = State<Arc<App>>;

fn fail(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": msg }] }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    fail(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

fn caller(app: &App, headers: &HeaderMap) -> Option<Uuid> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(app.key),
        &Validation::new(Algorithm::HS256),
    )
    .ok()?;
    Some(data.claims.id)
}

async fn signup(State(app): Shared, Json(body): Json<Value>) -> Response {
    let (Some(email), Some(password)) = (body["email"].as_str(), body["password"].as_str()) else {
        return fail(StatusCode::BAD_REQUEST, "email and password required");
    };
    let password = password.to_owned();
    let hash = match tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    {
        Ok(Ok(h)) => h,
        _ => return fail(StatusCode::INTERNAL_SERVER_ERROR, "hashing"),
    };
    let id = Uuid::now_v7();
    let client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    if let Err(e) = client
        .execute(
            "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)",
            &[&id, &email, &hash],
        )
        .await
    {
        return fail(StatusCode::BAD_REQUEST, &format!("Email in use: {e}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        id,
        email: email.to_owned(),
        iat: now,
        exp: now + 900,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(app.key),
    )
    .unwrap_or_default();
    let mut res = (
        StatusCode::CREATED,
        Json(json!({ "id": id, "email": email })),
    )
        .into_response();
    if let Ok(v) = format!("session={token}; Path=/; HttpOnly").parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn create_ticket(
    State(app): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(user) = caller(&app, &headers) else {
        return fail(StatusCode::UNAUTHORIZED, "Not authorized");
    };
    let (Some(title), Some(price)) = (body["title"].as_str(), body["price"].as_f64()) else {
        return fail(StatusCode::BAD_REQUEST, "title and price required");
    };
    let id = Uuid::now_v7();
    let cents = (price * 100.0).round() as i64;
    let client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    match client
        .execute("INSERT INTO tickets (id, title, price_cents, user_id) VALUES ($1, $2, $3, $4)", &[&id, &title, &cents, &user])
        .await
    {
        Ok(_) => (StatusCode::CREATED, Json(json!({ "id": id, "title": title, "price": price, "userId": user, "version": 0, "orderId": null }))).into_response(),
        Err(e) => internal(e),
    }
}

fn ticket_json(row: &tokio_postgres::Row) -> Value {
    json!({
        "id": row.get::<_, Uuid>(0), "title": row.get::<_, String>(1),
        "price": row.get::<_, i64>(2) as f64 / 100.0, "userId": row.get::<_, Uuid>(3),
        "version": row.get::<_, i64>(4), "orderId": row.get::<_, Option<Uuid>>(5),
    })
}

async fn list_tickets(State(app): Shared) -> Response {
    let client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    match client
        .query("SELECT id, title, price_cents, user_id, version, order_id FROM tickets WHERE order_id IS NULL ORDER BY id", &[])
        .await
    {
        Ok(rows) => Json(Value::Array(rows.iter().map(ticket_json).collect())).into_response(),
        Err(e) => internal(e),
    }
}

async fn show_ticket(State(app): Shared, Path(id): Path<Uuid>) -> Response {
    let client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    match client
        .query_opt(
            "SELECT id, title, price_cents, user_id, version, order_id FROM tickets WHERE id = $1",
            &[&id],
        )
        .await
    {
        Ok(Some(row)) => Json(ticket_json(&row)).into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, "Ticket not found"),
        Err(e) => internal(e),
    }
}

/// The reservation, serialized by a row lock.
async fn create_order(State(app): Shared, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let Some(user) = caller(&app, &headers) else {
        return fail(StatusCode::UNAUTHORIZED, "Not authorized");
    };
    let Some(ticket) = body["ticketId"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
    else {
        return fail(StatusCode::BAD_REQUEST, "ticketId must be provided");
    };
    let mut client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(e) => return internal(e),
    };
    let row = match tx
        .query_opt(
            "SELECT order_id FROM tickets WHERE id = $1 FOR UPDATE",
            &[&ticket],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    match row {
        None => return fail(StatusCode::NOT_FOUND, "Ticket not found"),
        Some(r) if r.get::<_, Option<Uuid>>(0).is_some() => {
            return fail(StatusCode::BAD_REQUEST, "Ticket is already reserved")
        }
        Some(_) => {}
    }
    let order = Uuid::now_v7();
    let inserted = tx
        .execute(
            "INSERT INTO orders (id, user_id, ticket_id, status, expires_at) VALUES ($1, $2, $3, 'created', now() + interval '15 minutes')",
            &[&order, &user, &ticket],
        )
        .await;
    let updated = tx
        .execute(
            "UPDATE tickets SET order_id = $1, version = version + 1 WHERE id = $2",
            &[&order, &ticket],
        )
        .await;
    if let Err(e) = inserted.and(updated) {
        return internal(e);
    }
    match tx.commit().await {
        Ok(()) => (StatusCode::CREATED, Json(json!({ "id": order, "userId": user, "status": "created", "ticket": { "id": ticket } }))).into_response(),
        Err(e) => internal(e),
    }
}

async fn list_orders(State(app): Shared, headers: HeaderMap) -> Response {
    let Some(user) = caller(&app, &headers) else {
        return fail(StatusCode::UNAUTHORIZED, "Not authorized");
    };
    let client = match app.pool.get().await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    match client
        .query("SELECT id, status, ticket_id FROM orders WHERE user_id = $1 ORDER BY created_at", &[&user])
        .await
    {
        Ok(rows) => Json(Value::Array(
            rows.iter()
                .map(|r| json!({ "id": r.get::<_, Uuid>(0), "status": r.get::<_, String>(1), "ticket": { "id": r.get::<_, Uuid>(2) } }))
                .collect(),
        ))
        .into_response(),
        Err(e) => internal(e),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3200".into())
        .parse()?;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://boxoffice@127.0.0.1:55432/postgres".into());
    let config: tokio_postgres::Config = url.parse()?;
    let manager = Manager::new(config, tokio_postgres::NoTls);
    let pool = Pool::builder(manager).max_size(64).build()?;
    pool.get().await?.batch_execute(SCHEMA).await?;
    let app = Arc::new(App {
        pool,
        key: b"pg-peer-jwt-key-for-benchmarks-only",
    });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/users/signup", post(signup))
        .route("/api/tickets", get(list_tickets).post(create_ticket))
        .route("/api/tickets/{id}", get(show_ticket))
        .route("/api/orders", get(list_orders).post(create_order))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("pg peer listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
